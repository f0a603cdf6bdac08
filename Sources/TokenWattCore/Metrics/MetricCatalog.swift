/// What TokenWatt knows about metric names: the type and help of its own series, and the type it
/// infers for any other series, since remote write 1.0 carries no metadata.
public enum MetricCatalog {
    /// TokenWatt's own series, as the agent pushes them.
    public static let descriptors: [MetricDescriptor] = [
        MetricDescriptor("tokenwatt_cpu_seconds", .counter, help: "Seconds the node's CPUs spent in each mode."),
        MetricDescriptor("tokenwatt_cpu_utilization_ratio", .gauge, help: "Share of CPU time not idle since the last sample, 0 to 1."),
        MetricDescriptor("tokenwatt_memory_used_bytes", .gauge, help: "Memory in use (total minus available)."),
        MetricDescriptor("tokenwatt_memory_total_bytes", .gauge, help: "Physical memory of the node."),
        MetricDescriptor("tokenwatt_gpu_info", .gauge, help: "Identity of a GPU; always 1."),
        MetricDescriptor("tokenwatt_gpu_up", .gauge, help: "1 when the GPU answered its last query, else 0."),
        MetricDescriptor("tokenwatt_gpu_utilization_ratio", .gauge, help: "Share of time the GPU ran kernels, 0 to 1."),
        MetricDescriptor("tokenwatt_gpu_memory_utilization_ratio", .gauge, help: "Share of time GPU memory was read or written, 0 to 1."),
        MetricDescriptor("tokenwatt_gpu_memory_used_bytes", .gauge, help: "GPU memory in use."),
        MetricDescriptor("tokenwatt_gpu_memory_total_bytes", .gauge, help: "GPU memory installed."),
        MetricDescriptor("tokenwatt_gpu_power_watts", .gauge, help: "GPU power draw."),
        MetricDescriptor("tokenwatt_gpu_power_limit_watts", .gauge, help: "GPU power limit."),
        MetricDescriptor("tokenwatt_gpu_energy_joules", .counter, help: "Energy used by the GPU, from its counter or integrated from power."),
        MetricDescriptor("tokenwatt_gpu_temperature_celsius", .gauge, help: "GPU core temperature."),
        MetricDescriptor("tokenwatt_cpu_energy_joules", .counter, help: "CPU package and DRAM energy from RAPL."),
        MetricDescriptor("tokenwatt_hwmon_power_watts", .gauge, help: "Power of an hwmon sensor other than a GPU's."),
        MetricDescriptor("tokenwatt_hwmon_energy_joules", .counter, help: "Energy of an hwmon sensor other than a GPU's."),
        MetricDescriptor("tokenwatt_node_power_watts", .gauge, help: "Whole-node power draw."),
        MetricDescriptor("tokenwatt_node_energy_joules", .counter, help: "Whole-node energy."),
        .tokens,
        .requests,
        MetricDescriptor("tokenwatt_inference_requests_running", .gauge, help: "Requests an inference server is working on."),
        MetricDescriptor("tokenwatt_inference_requests_waiting", .gauge, help: "Requests waiting in an inference server's queue."),
        MetricDescriptor("tokenwatt_usage_reports", .counter, help: "Requests to the agent's usage endpoint, by outcome."),
        MetricDescriptor("tokenwatt_usage_dropped_attributes", .counter, help: "Attributes of usage reports left out because their name is not allowed."),
        MetricDescriptor("tokenwatt_usage_attribute_overflow", .counter, help: "Usage reports whose attribute value counted as other, past the cap on distinct values; for attribute model, new models and providers past the series cap."),
        MetricDescriptor("tokenwatt_agent_spool_batches", .gauge, help: "Batches in the agent's spool, not yet accepted by the aggregator."),
        MetricDescriptor("tokenwatt_agent_spool_samples", .gauge, help: "Samples in the agent's spool."),
        MetricDescriptor("tokenwatt_agent_spool_bytes", .gauge, help: "Bytes of the batches in the agent's spool."),
        MetricDescriptor("tokenwatt_agent_spool_dropped_samples", .counter, help: "Samples lost before the aggregator took them, by reason: past the spool's size or age bound, refused alone by the aggregator (400, 413), or not written to a full or failing disk."),
        MetricDescriptor("tokenwatt_agent_pushes", .counter, help: "Remote-write requests to the aggregator, by result."),
        MetricDescriptor("tokenwatt_agent_push_errors", .counter, help: "Pushes that failed and were kept for a retry, by reason (network, unauthorized, wrong_url, server_error, ...)."),
        MetricDescriptor("tokenwatt_agent_last_push_success_timestamp_seconds", .gauge, help: "When the aggregator last accepted a push."),
        MetricDescriptor("tokenwatt_agent_up", .gauge, help: "1 while the node's agent pushes on time, 0 once it has missed the configured number of pushes."),
        MetricDescriptor("tokenwatt_agent_last_push_timestamp_seconds", .gauge, help: "When the node's agent last pushed samples that were stored."),
        MetricDescriptor("tokenwatt_collector_up", .gauge, help: "1 when the collector's last run succeeded, else 0."),
        MetricDescriptor("tokenwatt_collector_duration_seconds", .gauge, help: "Duration of the collector's last run."),
        MetricDescriptor("tokenwatt_cost_usd", .counter, help: "Cost of running the node, by component."),
        MetricDescriptor("tokenwatt_cost_per_million_tokens_usd", .gauge, help: "On-prem cost per million tokens over a window."),
        MetricDescriptor("tokenwatt_cloud_equivalent_usd", .counter, help: "What the same tokens would cost on a cloud API."),
        MetricDescriptor("tokenwatt_savings_usd", .counter, help: "Cloud-equivalent cost minus on-prem cost."),
        .budgetSpent,
        .budgetLimit,
        .budgetForecast,
        .budgetUsedRatio,
        MetricDescriptor("tokenwatt_gateway_requests", .counter, help: "Requests to the metering gateway, by route and outcome."),
        MetricDescriptor("tokenwatt_gateway_fallbacks", .counter, help: "Requests over a cap sent to the route's fallback model instead."),
        MetricDescriptor("tokenwatt_gateway_grace_admissions", .counter, help: "Capped requests let through on the gateway's grace quota while the aggregator could not be asked."),
        MetricDescriptor("tokenwatt_gateway_unreachable_admissions", .counter, help: "Capped requests let through past the grace quota by on_unreachable: allow."),
        MetricDescriptor("tokenwatt_gateway_abandoned_streams", .counter, help: "Streams whose client left, read on to the end for their usage."),
        MetricDescriptor("tokenwatt_gateway_estimated_usage", .counter, help: "Answers without reported usage, counted from the request and the text (bytes / 4)."),
        MetricDescriptor("tokenwatt_gateway_unsettled_reservations", .counter, help: "Reservations the aggregator did not settle (left to expire at their worst case)."),
        MetricDescriptor("tokenwatt_gateway_upstream_duration_seconds", .histogram, help: "Seconds from forwarding a request to the end of its upstream answer."),
        MetricDescriptor("tokenwatt_gateway_overhead_duration_seconds", .histogram, help: "Seconds a request spent in the gateway itself (reservation, routing, copying), its upstream time left out."),
    ]

    /// The descriptors by series name (counters with their `_total`).
    public static let known: [String: MetricDescriptor] = Dictionary(uniqueKeysWithValues: descriptors.map { ($0.seriesName, $0) })

    /// The type of a series named `name`: known, part of a known histogram, else `_total`
    /// means counter, else untyped.
    public static func type(ofSeries name: String) -> MetricType {
        // A histogram writes no sample under its own name: a series that has it is not one of its parts.
        if let entry = known[name] { return entry.type == .histogram ? .untyped : entry.type }
        if histogram(ofSeries: name) != nil { return .histogram }
        return name.hasSuffix("_total") ? .counter : .untyped
    }

    /// The known histogram a `_bucket`, `_sum` or `_count` series belongs to.
    private static func histogram(ofSeries name: String) -> String? {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if known[base]?.type == .histogram { return base }
        }
        return nil
    }

    /// Whether a series' value only grows except for resets, so an increase over time means
    /// something: counters and the cumulative parts of histograms and summaries.
    public static func isCumulative(series name: String) -> Bool {
        type(ofSeries: name) == .counter || name.hasSuffix("_bucket") || name.hasSuffix("_count") || name.hasSuffix("_sum")
    }

    /// The family a series belongs to, with its type and help.
    public static func family(ofSeries name: String) -> (name: String, type: MetricType, help: String?) {
        if let base = histogram(ofSeries: name) { return (base, .histogram, known[base]?.help) }
        let type = type(ofSeries: name)
        let familyName = type == .counter && name.hasSuffix("_total") ? String(name.dropLast("_total".count)) : name
        return (familyName, type, known[name]?.help)
    }

    /// Groups samples into families (`FamilyLayout`), sorted by name and labels so that
    /// expositions are stable.
    public static func families(of samples: [ExpositionSample]) -> [MetricFamily] {
        let byName = Dictionary(grouping: samples, by: \.name)
        return FamilyLayout(seriesNames: byName.keys).families.map { family in
            let members = family.seriesNames.flatMap { byName[$0] ?? [] }
            // A histogram's series stay in the order they came (buckets by bound, then sum and count).
            let samples = family.type == .histogram ? samples.filter { family.seriesNames.contains($0.name) }
                : members.sorted { $0.labels.lexicographicallyPrecedes($1.labels) { ($0.name, $0.value) < ($1.name, $1.value) } }
            return MetricFamily(name: family.name, type: family.type, help: family.help, samples: samples)
        }
    }
}

extension MetricDescriptor {
    /// `tokenwatt_tokens_total{model, type, source, ...}`: what every cost per token divides by.
    public static let tokens = MetricDescriptor("tokenwatt_tokens", .counter,
                                                help: "Tokens processed, by model, type and source. input includes cached_input, output includes reasoning.")
    /// `tokenwatt_requests_total{model, source, ...}`.
    public static let requests = MetricDescriptor("tokenwatt_requests", .counter, help: "Inference requests completed, by model and source.")
    /// A budget's figures for its current period, in its unit (`{budget, unit}`).
    public static let budgetSpent = MetricDescriptor("tokenwatt_budget_spent", .gauge, help: "Spent so far in the budget's current period.")
    public static let budgetLimit = MetricDescriptor("tokenwatt_budget_limit", .gauge, help: "The budget's limit for its period.")
    public static let budgetForecast = MetricDescriptor("tokenwatt_budget_forecast", .gauge, help: "Projected spend at the end of the period.")
    public static let budgetUsedRatio = MetricDescriptor("tokenwatt_budget_used_ratio", .gauge, help: "Spent divided by limit.")
}
