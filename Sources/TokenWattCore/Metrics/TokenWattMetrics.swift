/// Every metric the agent and the aggregator emit, in one place. The agent's families are pushed
/// and typed by `MetricCatalog`; the aggregator's are its own, refused when a node pushes them.
/// Money is in the configured currency, whose lower-case code is part of the name and the unit:
/// those descriptors are functions of it.
extension MetricDescriptor {
    // MARK: The node: CPU, memory, GPUs, power sensors

    public static let cpuSeconds = MetricDescriptor("tokenwatt_cpu_seconds", .counter, unit: "seconds", labels: ["mode"],
                                                    help: "Seconds the node's CPUs spent in each mode.")
    public static let cpuUtilizationRatio = MetricDescriptor("tokenwatt_cpu_utilization_ratio", .gauge, unit: "ratio",
                                                             help: "Share of CPU time not idle since the last sample, 0 to 1.")
    public static let memoryUsedBytes = MetricDescriptor("tokenwatt_memory_used_bytes", .gauge, unit: "bytes", help: "Memory in use (total minus available).")
    public static let memoryTotalBytes = MetricDescriptor("tokenwatt_memory_total_bytes", .gauge, unit: "bytes", help: "Physical memory of the node.")
    public static let gpuInfo = MetricDescriptor("tokenwatt_gpu_info", .gauge, labels: ["gpu", "uuid", "name", "vendor", "driver_version"],
                                                 help: "Identity of a GPU; always 1.")
    public static let gpuUp = MetricDescriptor("tokenwatt_gpu_up", .gauge, labels: ["gpu", "uuid"], help: "1 when the GPU answered its last query, else 0.")
    public static let gpuUtilizationRatio = MetricDescriptor("tokenwatt_gpu_utilization_ratio", .gauge, unit: "ratio", labels: ["gpu", "uuid"],
                                                             help: "Share of time the GPU ran kernels, 0 to 1.")
    public static let gpuMemoryUtilizationRatio = MetricDescriptor("tokenwatt_gpu_memory_utilization_ratio", .gauge, unit: "ratio", labels: ["gpu", "uuid"],
                                                                   help: "Share of time GPU memory was read or written, 0 to 1.")
    public static let gpuMemoryUsedBytes = MetricDescriptor("tokenwatt_gpu_memory_used_bytes", .gauge, unit: "bytes", labels: ["gpu", "uuid"], help: "GPU memory in use.")
    public static let gpuMemoryTotalBytes = MetricDescriptor("tokenwatt_gpu_memory_total_bytes", .gauge, unit: "bytes", labels: ["gpu", "uuid"], help: "GPU memory installed.")
    public static let gpuPowerWatts = MetricDescriptor("tokenwatt_gpu_power_watts", .gauge, unit: "watts", labels: ["gpu", "uuid"], help: "GPU power draw.")
    public static let gpuPowerLimitWatts = MetricDescriptor("tokenwatt_gpu_power_limit_watts", .gauge, unit: "watts", labels: ["gpu", "uuid"], help: "GPU power limit.")
    public static let gpuEnergyJoules = MetricDescriptor("tokenwatt_gpu_energy_joules", .counter, unit: "joules", labels: ["gpu", "uuid", "method"],
                                                         help: "Energy used by the GPU, from its counter or integrated from power.")
    public static let gpuConsumerEnergyJoules = MetricDescriptor(
        "tokenwatt_gpu_consumer_energy_joules", .counter, unit: "joules", labels: ["gpu", "uuid", "consumer"],
        help: "A GPU's energy split among what ran on it: an inference server, a pod, a container or a systemd unit; idle for the power it draws doing nothing, unattributed for activity no process explains. A GPU's consumers add up to its energy since the split began.")
    public static let gpuConsumerInfo = MetricDescriptor(
        "tokenwatt_gpu_consumer_info", .gauge, labels: ["gpu", "uuid", "consumer", "basis", "server", "unit", "container", "pod_uid", "mig_uuid"],
        help: "What a GPU consumer is, and how the GPU's active energy was shared (sm, memory or mig); always 1.")
    public static let gpuConsumerMemoryUsedBytes = MetricDescriptor("tokenwatt_gpu_consumer_memory_used_bytes", .gauge, unit: "bytes",
                                                                    labels: ["gpu", "uuid", "consumer"], help: "GPU memory a consumer's processes hold.")
    public static let gpuConsumerSMUtilizationRatio = MetricDescriptor(
        "tokenwatt_gpu_consumer_sm_utilization_ratio", .gauge, unit: "ratio", labels: ["gpu", "uuid", "consumer"],
        help: "The share (0-1) of the GPU's SMs a consumer's processes kept busy, from NVML's per-process samples (not under MIG).")
    public static let gpuMIGInstanceInfo = MetricDescriptor("tokenwatt_gpu_mig_instance_info", .gauge, labels: ["gpu", "uuid", "mig_uuid", "gpu_instance"],
                                                            help: "A MIG instance of a GPU; always 1. Its power and energy stay on the parent GPU.")
    public static let gpuMIGMemoryUsedBytes = MetricDescriptor("tokenwatt_gpu_mig_memory_used_bytes", .gauge, unit: "bytes",
                                                               labels: ["gpu", "uuid", "mig_uuid"], help: "Memory in use in a MIG instance.")
    public static let gpuMIGMemoryTotalBytes = MetricDescriptor("tokenwatt_gpu_mig_memory_total_bytes", .gauge, unit: "bytes",
                                                                labels: ["gpu", "uuid", "mig_uuid"], help: "A MIG instance's memory.")
    public static let gpuErrors = MetricDescriptor("tokenwatt_gpu_errors", .counter, labels: ["gpu", "call", "error"],
                                                   help: "NVML calls that answered an error (not NOT_SUPPORTED) since the agent started, by GPU, call and error.")
    public static let gpuTemperatureCelsius = MetricDescriptor("tokenwatt_gpu_temperature_celsius", .gauge, unit: "celsius", labels: ["gpu", "uuid"],
                                                               help: "GPU core temperature.")
    public static let cpuEnergyJoules = MetricDescriptor("tokenwatt_cpu_energy_joules", .counter, unit: "joules", labels: ["zone"],
                                                         help: "CPU package and DRAM energy from RAPL.")
    public static let hwmonPowerWatts = MetricDescriptor("tokenwatt_hwmon_power_watts", .gauge, unit: "watts", labels: ["chip", "sensor"],
                                                         help: "Power of an hwmon sensor other than a GPU's.")
    public static let hwmonEnergyJoules = MetricDescriptor("tokenwatt_hwmon_energy_joules", .counter, unit: "joules", labels: ["chip", "sensor"],
                                                           help: "Energy of an hwmon sensor other than a GPU's.")
    public static let nodePowerWatts = MetricDescriptor("tokenwatt_node_power_watts", .gauge, unit: "watts", labels: ["source"], help: "Whole-node power draw.")
    public static let nodeEnergyJoules = MetricDescriptor("tokenwatt_node_energy_joules", .counter, unit: "joules", labels: ["source"], help: "Whole-node energy.")

    // MARK: Tokens: inference servers, usage reports, the gateway

    /// `tokenwatt_tokens_total`: what every cost per token divides by.
    public static let tokens = MetricDescriptor("tokenwatt_tokens", .counter, labels: ["model", "type", "source", "server", "provider", "role"],
                                                help: "Tokens processed, by model, type and source. input includes cached_input, output includes reasoning.")
    public static let requests = MetricDescriptor("tokenwatt_requests", .counter, labels: ["model", "source", "server", "provider", "role"],
                                                  help: "Inference requests completed, by model and source.")
    public static let inferenceRequestsRunning = MetricDescriptor("tokenwatt_inference_requests_running", .gauge, labels: ["model", "server", "source", "role"],
                                                                  help: "Requests an inference server is working on.")
    public static let inferenceRequestsWaiting = MetricDescriptor("tokenwatt_inference_requests_waiting", .gauge, labels: ["model", "server", "source", "role"],
                                                                  help: "Requests waiting in an inference server's queue.")
    public static let inferenceKVCacheUsageRatio = MetricDescriptor("tokenwatt_inference_kv_cache_usage_ratio", .gauge, unit: "ratio", labels: ["model", "server", "source", "role"],
                                                                    help: "Share of an inference server's KV cache in use, 0 to 1 (the fullest engine's).")
    public static let usageReports = MetricDescriptor("tokenwatt_usage_reports", .counter, labels: ["outcome"],
                                                      help: "Reports taken by the usage endpoints (a JSON report, or one model and attribution of an OTLP export), and requests refused, by outcome.")
    public static let usageOTLPRejectedPoints = MetricDescriptor("tokenwatt_usage_otlp_rejected_points", .counter,
                                                                 help: "Data points of OTLP exports rejected one by one (the answer's partial success names why); the rest of each export was taken.")
    public static let usageDroppedAttributes = MetricDescriptor("tokenwatt_usage_dropped_attributes", .counter,
                                                                help: "Attributes of usage reports left out because their name is not allowed.")
    public static let usageAttributeOverflow = MetricDescriptor("tokenwatt_usage_attribute_overflow", .counter, labels: ["attribute"],
                                                                help: "Usage reports whose attribute value counted as other, past the cap on distinct values; for attribute model, new models and providers past the series cap.")

    // MARK: The agent itself

    public static let agentSpoolBatches = MetricDescriptor("tokenwatt_agent_spool_batches", .gauge, help: "Batches in the agent's spool, not yet accepted by the aggregator.")
    public static let agentSpoolSamples = MetricDescriptor("tokenwatt_agent_spool_samples", .gauge, help: "Samples in the agent's spool.")
    public static let agentSpoolBytes = MetricDescriptor("tokenwatt_agent_spool_bytes", .gauge, unit: "bytes", help: "Bytes of the batches in the agent's spool.")
    public static let agentSpoolDroppedSamples = MetricDescriptor("tokenwatt_agent_spool_dropped_samples", .counter, labels: ["reason"],
                                                                  help: "Samples lost before the aggregator took them, by reason: past the spool's size or age bound, refused alone by the aggregator (400, 413), or not written to a full or failing disk.")
    public static let agentPushes = MetricDescriptor("tokenwatt_agent_pushes", .counter, labels: ["result"], help: "Remote-write requests to the aggregator, by result.")
    public static let agentPushErrors = MetricDescriptor("tokenwatt_agent_push_errors", .counter, labels: ["reason"],
                                                         help: "Pushes that failed and were kept for a retry, by reason (network, unauthorized, wrong_url, server_error, ...).")
    public static let agentLastPushSuccessTimestampSeconds = MetricDescriptor("tokenwatt_agent_last_push_success_timestamp_seconds", .gauge, unit: "seconds",
                                                                              help: "When the aggregator last accepted a push.")
    public static let collectorUp = MetricDescriptor("tokenwatt_collector_up", .gauge, labels: ["collector"], help: "1 when the collector's last run succeeded, else 0.")
    public static let collectorDurationSeconds = MetricDescriptor("tokenwatt_collector_duration_seconds", .gauge, unit: "seconds", labels: ["collector"],
                                                                  help: "Duration of the collector's last run.")

    // MARK: The metering gateway

    public static let gatewayRequests = MetricDescriptor("tokenwatt_gateway_requests", .counter, labels: ["route", "outcome"],
                                                         help: "Requests to the metering gateway, by route and outcome.")
    public static let gatewayFallbacks = MetricDescriptor("tokenwatt_gateway_fallbacks", .counter, labels: ["route"],
                                                          help: "Requests over a cap sent to the route's fallback model instead.")
    public static let gatewayOfflineAdmissions = MetricDescriptor("tokenwatt_gateway_offline_admissions", .counter, labels: ["route"],
                                                                  help: "Capped requests admitted from the gateway's slices while the aggregator was down.")
    public static let gatewayLeaseWaits = MetricDescriptor("tokenwatt_gateway_lease_waits", .counter, labels: ["route"],
                                                           help: "Capped requests that waited for room in the gateway's slices.")
    public static let gatewayUnreachableAdmissions = MetricDescriptor("tokenwatt_gateway_unreachable_admissions", .counter, labels: ["route"],
                                                                      help: "Capped requests let through unmetered by on_unreachable: allow, the aggregator away and the slices spent.")
    public static let gatewayAbandonedStreams = MetricDescriptor("tokenwatt_gateway_abandoned_streams", .counter, labels: ["route"],
                                                                 help: "Streams whose client left, read on to the end for their usage.")
    public static let gatewayCutStreams = MetricDescriptor("tokenwatt_gateway_cut_streams", .counter, labels: ["route"],
                                                           help: "Streams ended early the way the API ends one at its output limit: the gateway's slices of the caps had no room for more.")
    public static let gatewaySessionOverflows = MetricDescriptor("tokenwatt_gateway_session_overflows", .counter, labels: ["route"],
                                                                 help: "Requests whose session was held as the one overflow session: more sessions than sessions.max_active at once.")
    public static let gatewayEstimatedUsage = MetricDescriptor("tokenwatt_gateway_estimated_usage", .counter, labels: ["route"],
                                                               help: "Answers without reported usage, counted from the request and the text (bytes / 4).")
    public static let gatewayLeaseReports = MetricDescriptor("tokenwatt_gateway_lease_reports", .counter, labels: ["outcome"],
                                                             help: "Reports of the gateway's slices to the aggregator, answered (ok) or not (failed).")
    public static let gatewayLeaseSlices = MetricDescriptor("tokenwatt_gateway_lease_slices", .gauge,
                                                            help: "Slices of hard caps the gateway holds.")
    public static let gatewayAggregatorDown = MetricDescriptor("tokenwatt_gateway_aggregator_down", .gauge,
                                                               help: "1 while the aggregator refuses connections (the gateway admits from its whole slices), else 0.")
    public static let gatewayUpstreamDurationSeconds = MetricDescriptor("tokenwatt_gateway_upstream_duration_seconds", .histogram, unit: "seconds", labels: ["route"],
                                                                        help: "Seconds from forwarding a request to the end of its upstream answer.")
    public static let gatewayOverheadDurationSeconds = MetricDescriptor("tokenwatt_gateway_overhead_duration_seconds", .histogram, unit: "seconds", labels: ["route"],
                                                                        help: "Seconds a request spent in the gateway itself (reservation, routing, copying), its upstream time left out.")

    /// What both senders (the agent, the gateway) count and push: tokens and requests by model
    /// and attribution, their usage intake's, and their own collectors', spool's and pushes'.
    public static let senderFamilies: [MetricDescriptor] = [
        .tokens, .requests, .usageReports, .usageOTLPRejectedPoints, .usageDroppedAttributes, .usageAttributeOverflow,
        .agentSpoolBatches, .agentSpoolSamples, .agentSpoolBytes, .agentSpoolDroppedSamples,
        .agentPushes, .agentPushErrors, .agentLastPushSuccessTimestampSeconds, .collectorUp, .collectorDurationSeconds,
    ]

    /// What agents push: everything on the agent's `/metrics`.
    public static let agentFamilies: [MetricDescriptor] = [
        .cpuSeconds, .cpuUtilizationRatio, .memoryUsedBytes, .memoryTotalBytes,
        .gpuInfo, .gpuUp, .gpuUtilizationRatio, .gpuMemoryUtilizationRatio, .gpuMemoryUsedBytes, .gpuMemoryTotalBytes,
        .gpuPowerWatts, .gpuPowerLimitWatts, .gpuEnergyJoules, .gpuTemperatureCelsius,
        .gpuErrors, .gpuConsumerEnergyJoules, .gpuConsumerInfo, .gpuConsumerMemoryUsedBytes, .gpuConsumerSMUtilizationRatio,
        .gpuMIGInstanceInfo, .gpuMIGMemoryUsedBytes, .gpuMIGMemoryTotalBytes,
        .cpuEnergyJoules, .hwmonPowerWatts, .hwmonEnergyJoules, .nodePowerWatts, .nodeEnergyJoules,
        .inferenceRequestsRunning, .inferenceRequestsWaiting, .inferenceKVCacheUsageRatio,
    ] + senderFamilies

    /// The gateway's own families, beside `senderFamilies`.
    public static let gatewayOwnFamilies: [MetricDescriptor] = [
        .gatewayRequests, .gatewayFallbacks, .gatewayOfflineAdmissions, .gatewayLeaseWaits, .gatewayUnreachableAdmissions,
        .gatewayAbandonedStreams, .gatewayCutStreams, .gatewayEstimatedUsage, .gatewaySessionOverflows, .gatewayLeaseReports, .gatewayLeaseSlices, .gatewayAggregatorDown,
        .gatewayUpstreamDurationSeconds, .gatewayOverheadDurationSeconds,
    ]

    /// What a gateway pushes: everything on its `/metrics`.
    public static let gatewayFamilies: [MetricDescriptor] = senderFamilies + gatewayOwnFamilies

    /// The series names a gateway's credential may push (a histogram's parts included); the
    /// aggregator refuses any other from it.
    public static let gatewaySeries: Set<String> = Set(gatewayFamilies.flatMap(\.seriesNames))

    /// Every family the senders push.
    public static let pushedFamilies: [MetricDescriptor] = agentFamilies + gatewayOwnFamilies

    // MARK: The aggregator: ingest and its agents

    public static let aggregatorRequests = MetricDescriptor("tokenwatt_aggregator_requests", .counter, help: "Pushes stored (remote write and OTLP).")
    public static let aggregatorSamples = MetricDescriptor("tokenwatt_aggregator_samples", .counter, help: "Samples stored from pushes (remote write and OTLP).")
    public static let aggregatorDuplicateSamples = MetricDescriptor("tokenwatt_aggregator_duplicate_samples", .counter,
                                                                    help: "Samples received again (same series and timestamp) and kept once.")
    public static let aggregatorRejectedRequests = MetricDescriptor("tokenwatt_aggregator_rejected_requests", .counter, labels: ["reason"],
                                                                    help: "Pushes (remote write and OTLP) refused whole, by reason.")
    public static let aggregatorRejectedOTLPPoints = MetricDescriptor("tokenwatt_aggregator_otlp_rejected_points", .counter,
                                                                      help: "Data points of OTLP exports rejected one by one (the answer's partial success names why); the rest of each export was stored.")
    public static let aggregatorEvictedConnections = MetricDescriptor(
        "tokenwatt_aggregator_evicted_connections", .counter,
        help: "Connections without a credential closed because a newer one came from their address past web.max_unauthenticated_connections_per_client.")
    public static let aggregatorConnections = MetricDescriptor("tokenwatt_aggregator_connections", .gauge, labels: ["credential"],
                                                               help: "Open connections: with a valid credential seen (yes) and without (no).")
    public static let aggregatorCommitDurationSeconds = MetricDescriptor("tokenwatt_aggregator_commit_duration_seconds", .histogram, unit: "seconds",
                                                                         help: "Duration of each group commit to SQLite.")
    public static let aggregatorCompactedSamples = MetricDescriptor("tokenwatt_aggregator_compacted_samples", .counter,
                                                                    help: "Raw samples flushed from the in-memory head into compressed chunks.")
    public static let aggregatorSeries = MetricDescriptor("tokenwatt_aggregator_series", .gauge, help: "Distinct series stored.")
    public static let aggregatorHeadSeries = MetricDescriptor("tokenwatt_aggregator_head_series", .gauge, help: "Series with samples in the in-memory head.")
    public static let aggregatorHeadSamples = MetricDescriptor("tokenwatt_aggregator_head_samples", .gauge, help: "Samples in the in-memory head (and its write-ahead log).")
    public static let aggregatorHeadBytes = MetricDescriptor("tokenwatt_aggregator_head_bytes", .gauge, unit: "bytes",
                                                             help: "Memory the head's samples take (storage.max_head_bytes bounds it).")
    public static let aggregatorQueuedSamples = MetricDescriptor("tokenwatt_aggregator_queued_samples", .gauge, help: "Samples waiting for the writer.")
    public static let aggregatorDatabaseSizeBytes = MetricDescriptor("tokenwatt_aggregator_database_size_bytes", .gauge, unit: "bytes",
                                                                     help: "Size of the SQLite database, WAL included.")
    public static let agentLastPushTimestampSeconds = MetricDescriptor("tokenwatt_agent_last_push_timestamp_seconds", .gauge, unit: "seconds", labels: ["node"],
                                                                       help: "When the node's agent last pushed samples that were stored.")
    public static let agentUp = MetricDescriptor("tokenwatt_agent_up", .gauge, labels: ["node"],
                                                 help: "1 while the node's agent pushes on time, 0 once it has missed the configured number of pushes.")

    // MARK: The aggregator: costs (from the ledger)

    public static func cost(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_cost_\(currency)", .counter, unit: currency, labels: ["node", "component", "method"],
                         help: "Money spent, by node and component: measured energy with PUE, amortised hardware, fixed overhead, and cloud APIs at their prices.")
    }
    public static func cloudEquivalent(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_cloud_equivalent_\(currency)", .counter, unit: currency, labels: ["node", "model"],
                         help: "What the local tokens would have cost on the cloud API their model is shadowed by.")
    }
    public static func idleCost(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_idle_cost_\(currency)", .counter, unit: currency, labels: ["node"],
                         help: "On-prem cost of hours in which the node served no tokens.")
    }
    public static let unpricedTokens = MetricDescriptor("tokenwatt_unpriced_tokens", .counter, labels: ["model"],
                                                        help: "Tokens no price applied to (a cloud model without cloud_prices entry, a local model without shadow price): their money is unknown, not zero.")
    public static func savings(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_savings_\(currency)", .gauge, unit: currency, labels: ["node"],
                         help: "Cloud-equivalent of the local tokens minus the on-prem cost (energy, capex, overhead) over the whole ledger; falls in hours that cost more than the cloud.")
    }
    public static func costPerMillionTokens(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_cost_per_million_tokens_\(currency)", .gauge, unit: currency, labels: ["node", "model", "window"],
                         help: "On-prem cost per million tokens over a window: the node's cost shared by token share.")
    }
    public static let breakEvenTokensPerSecond = MetricDescriptor("tokenwatt_break_even_tokens_per_second", .gauge, labels: ["node"],
                                                                  help: "Tokens per second a node must serve for its cost to equal the cloud price of the same tokens, over the last 24 h.")

    // MARK: The aggregator: budgets, caps, alerts, forwarding

    /// A budget's figures for its current period, in its unit: the currency code, tokens or kWh.
    public static let budgetSpent = MetricDescriptor("tokenwatt_budget_spent", .gauge, labels: ["budget", "unit"], help: "Spent so far in the budget's current period.")
    public static let budgetLimit = MetricDescriptor("tokenwatt_budget_limit", .gauge, labels: ["budget", "unit"], help: "The budget's limit for its period.")
    public static let budgetForecast = MetricDescriptor("tokenwatt_budget_forecast", .gauge, labels: ["budget", "unit"], help: "Projected spend at the end of the period.")
    public static let budgetUsedRatio = MetricDescriptor("tokenwatt_budget_used_ratio", .gauge, unit: "ratio", labels: ["budget", "unit"], help: "Spent divided by limit.")
    public static let budgetStateErrors = MetricDescriptor("tokenwatt_budget_state_errors", .counter,
                                                           help: "Saved budget states that could not be read; the budget started its period afresh.")
    /// A hard cap's current period as the gateways' leases see it: spent, held in leases and
    /// pending reservations (not spent yet), and free; and its open slices.
    public static let capSpent = MetricDescriptor("tokenwatt_budget_cap_spent", .gauge, labels: ["budget", "unit"],
                                                  help: "A hard cap's period: spent, the gateways' settled requests included.")
    public static let capLeased = MetricDescriptor("tokenwatt_budget_cap_leased", .gauge, labels: ["budget", "unit"],
                                                   help: "A hard cap's period: held by gateways' slices and pending reservations, not spent yet.")
    public static let capFree = MetricDescriptor("tokenwatt_budget_cap_free", .gauge, labels: ["budget", "unit"],
                                                 help: "A hard cap's period: room neither spent nor leased.")
    public static let capSlices = MetricDescriptor("tokenwatt_budget_cap_slices", .gauge, labels: ["budget"],
                                                   help: "Slices of a hard cap open at gateways.")
    public static let capSweepErrors = MetricDescriptor("tokenwatt_budget_cap_sweep_errors", .counter,
                                                        help: "Sweeps of the hard caps' slices and sessions (expiry, retention) the database failed; the next second's tries again.")
    public static let gatewayReservations = MetricDescriptor("tokenwatt_gateway_reservations", .gauge, labels: ["state"],
                                                             help: "Reservations of the gateway's requests against hard caps, by state.")
    public static let gatewayDeniedRequests = MetricDescriptor("tokenwatt_gateway_denied_requests", .counter, labels: ["budget"],
                                                               help: "Gateway requests a hard cap refused, by budget.")
    public static let alertDeliveries = MetricDescriptor("tokenwatt_alert_deliveries", .counter, labels: ["receiver", "outcome"],
                                                         help: "Alert delivery attempts, by receiver and outcome.")
    public static let forwardSamples = MetricDescriptor("tokenwatt_forward_samples", .counter, labels: ["target", "result"],
                                                        help: "Samples forwarded with remote write, by target and result.")
    public static let forwardErrors = MetricDescriptor("tokenwatt_forward_errors", .counter, labels: ["target", "reason"],
                                                       help: "Forwarding requests that failed and were kept for a retry, by target and reason.")
    public static let forwardCursorErrors = MetricDescriptor("tokenwatt_forward_cursor_errors", .counter, labels: ["target"],
                                                             help: "Reads of a target's forwarding cursor that failed and were tried again.")
    public static let forwardBacklogSamples = MetricDescriptor("tokenwatt_forward_backlog_samples", .gauge, labels: ["target"],
                                                               help: "Samples logged and not yet accepted by the target.")
    public static let forwardBacklogAgeSeconds = MetricDescriptor("tokenwatt_forward_backlog_age_seconds", .gauge, unit: "seconds", labels: ["target"],
                                                                  help: "Age of the oldest sample the target has not accepted.")

    // MARK: The aggregator: advice (the last round)

    public static let adviceTokensPerSecond = MetricDescriptor("tokenwatt_advice_tokens_per_second", .gauge, labels: ["node", "model"],
                                                               help: "Tokens per second a model serves on a node now (the last five steps of the advice window).")
    public static let adviceCapacityTokensPerSecond = MetricDescriptor("tokenwatt_advice_capacity_tokens_per_second", .gauge, labels: ["node", "model"],
                                                                       help: "Tokens per second at which the model's queue grew on the node in the advice window.")
    public static let adviceHeadroomTokensPerSecond = MetricDescriptor("tokenwatt_advice_headroom_tokens_per_second", .gauge, labels: ["node", "model"],
                                                                       help: "Tokens per second left before the model's queue grows on the node.")
    public static func adviceMarginalCostPerMillionTokens(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_advice_marginal_cost_\(currency)_per_million_tokens", .gauge, labels: ["node", "model"],
                         help: "What the next million tokens cost on the node now: the energy they add at this hour's price and PUE.")
    }
    public static func adviceAverageCostPerMillionTokens(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_advice_average_cost_\(currency)_per_million_tokens", .gauge, labels: ["node", "model"],
                         help: "The ledger's cost per million tokens over the advice window.")
    }
    public static func adviceCloudPricePerMillionTokens(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_advice_cloud_price_\(currency)_per_million_tokens", .gauge, labels: ["node", "model"],
                         help: "The cloud price of a million of the model's tokens in its own mix, at its shadow price.")
    }
    public static let adviceJoulesPerToken = MetricDescriptor("tokenwatt_advice_joules_per_token", .gauge, labels: ["node", "model"],
                                                              help: "Joules the next token adds on the node: the slope of its power against its token rate over the advice window.")
    public static let adviceJoulesPerInputToken = MetricDescriptor("tokenwatt_advice_joules_per_input_token", .gauge, labels: ["node", "model"],
                                                                   help: "Joules per prompt token computed (cache hits left out) on the node, all its models together, from power against its input and output rates.")
    public static let adviceJoulesPerOutputToken = MetricDescriptor("tokenwatt_advice_joules_per_output_token", .gauge, labels: ["node", "model"],
                                                                    help: "Joules per output token on the node, all its models together, from power against its input and output rates.")
    public static let advicePowerFitRSquared = MetricDescriptor("tokenwatt_advice_power_fit_r_squared", .gauge, labels: ["node", "model"],
                                                                help: "The share (0-1) of the node's power changes that its input and output rates explain in the phase fit.")
    public static let adviceMarginalGCO2ePerMillionTokens = MetricDescriptor("tokenwatt_advice_marginal_gco2e_per_million_tokens", .gauge, labels: ["node", "model"],
                                                                             help: "Grams of CO2e the next million tokens add on the node now.")
    public static let adviceRecommendation = MetricDescriptor("tokenwatt_advice_recommendation", .gauge, labels: ["model", "action"],
                                                              help: "1 for the action the advisor recommends for a model, 0 for the others.")
    public static let adviceOverflowAboveTokensPerSecond = MetricDescriptor("tokenwatt_advice_overflow_above_tokens_per_second", .gauge, labels: ["model"],
                                                                            help: "Tokens per second of a model to serve locally before sending the rest to the cloud.")
    public static func advicePowerOffSavingsPerMonth(currency: String) -> MetricDescriptor {
        MetricDescriptor("tokenwatt_advice_power_off_savings_\(currency)_per_month", .gauge, labels: ["node"],
                         help: "Money a month powering off an idle node saves (energy and overhead, less the cloud price of what it served).")
    }

    /// The aggregator's own families, after the pushed series on its `/metrics`.
    public static func aggregatorFamilies(currency: String) -> [MetricDescriptor] {
        [
            .aggregatorRequests, .aggregatorSamples, .aggregatorDuplicateSamples, .aggregatorRejectedRequests, .aggregatorRejectedOTLPPoints,
            .aggregatorEvictedConnections, .aggregatorConnections, .aggregatorCommitDurationSeconds, .aggregatorCompactedSamples,
            .aggregatorSeries, .aggregatorHeadSeries, .aggregatorHeadSamples, .aggregatorHeadBytes,
            .aggregatorQueuedSamples, .aggregatorDatabaseSizeBytes, .agentLastPushTimestampSeconds, .agentUp,
            .cost(currency: currency), .cloudEquivalent(currency: currency), .idleCost(currency: currency), .unpricedTokens,
            .savings(currency: currency), .costPerMillionTokens(currency: currency), .breakEvenTokensPerSecond,
            .budgetSpent, .budgetLimit, .budgetForecast, .budgetUsedRatio, .budgetStateErrors,
            .capSpent, .capLeased, .capFree, .capSlices, .capSweepErrors, .gatewayReservations, .gatewayDeniedRequests, .alertDeliveries,
            .forwardSamples, .forwardErrors, .forwardCursorErrors, .forwardBacklogSamples, .forwardBacklogAgeSeconds,
            .adviceTokensPerSecond, .adviceCapacityTokensPerSecond, .adviceHeadroomTokensPerSecond,
            .adviceMarginalCostPerMillionTokens(currency: currency), .adviceAverageCostPerMillionTokens(currency: currency),
            .adviceCloudPricePerMillionTokens(currency: currency), .adviceJoulesPerToken, .adviceJoulesPerInputToken,
            .adviceJoulesPerOutputToken, .advicePowerFitRSquared, .adviceMarginalGCO2ePerMillionTokens,
            .adviceRecommendation, .adviceOverflowAboveTokensPerSecond, .advicePowerOffSavingsPerMonth(currency: currency),
        ]
    }
}

extension MetricDescriptor {
    /// What every name of TokenWatt's starts with.
    public static let namespace = "tokenwatt_"

    /// The word after the namespace (`cost` of `tokenwatt_cost_usd`), which groups families as
    /// Prometheus's subsystems do.
    public var subsystem: Substring {
        name.dropFirst(MetricDescriptor.namespace.count).prefix { $0 != "_" }
    }

    /// The names a node may not push, derived from the two daemons' families: whatever the
    /// aggregator writes itself would otherwise be forged on its `/metrics` (costs, budgets)
    /// and give its family a second `# TYPE` line. Subsystems only the aggregator has are
    /// reserved whole, any currency and any name to come; in the subsystems both share
    /// (`agent`, `gateway`) only the aggregator's own families, by family and series name.
    public struct ReservedNames: Sendable {
        public let prefixes: [String]
        public let names: Set<String>

        init(aggregator: [MetricDescriptor], agent: [MetricDescriptor]) {
            let shared = Set(agent.map(\.subsystem))
            prefixes = Set(aggregator.map(\.subsystem)).subtracting(shared).sorted().map { MetricDescriptor.namespace + $0 + "_" }
            names = Set(aggregator.filter { shared.contains($0.subsystem) }.flatMap { [$0.name, $0.seriesName] })
        }

        /// Asked for every pushed series: most names fail the first, cheap test.
        public func contains(_ name: String) -> Bool {
            name.hasPrefix(MetricDescriptor.namespace) && (names.contains(name) || prefixes.contains { name.hasPrefix($0) })
        }
    }

    public static let reservedForTheAggregator = ReservedNames(aggregator: aggregatorFamilies(currency: "usd"), agent: pushedFamilies)
}
