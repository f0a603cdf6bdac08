import Foundation
import TokenWattCore
import TokenWattService

extension AggregatorConfiguration: ConfigFileLoadable {
    /// The configuration without a file: defaults, and local pushes accepted without a token
    /// (as this machine's node) when the listener is on loopback.
    public static func builtIn(hostname: String = ProcessInfo.processInfo.hostName) -> AggregatorConfiguration {
        var configuration = AggregatorConfiguration()
        configuration.anonymousNode = hostname
        return configuration
    }

    /// Names, tokens and common names taken so far: each names one sender, node or gateway.
    private struct SeenCredentials {
        var names = Set<String>(), tokens = Set<String>(), commonNames = Set<String>()
    }

    /// `nodes:` or `gateways:`: each entry a name and a token, a client certificate's common
    /// name, or both, none of them another sender's.
    private static func credentials(_ list: ConfigNode, role: SenderRole, seen: inout SeenCredentials, web: WebConfiguration,
                                    environment: [String: String]) throws(CoreError) -> [SenderCredential] {
        var credentials: [SenderCredential] = []
        for item in try list.items() {
            try item.requireMapping(allowing: ["name", "token_file", "token_env", "client_cert_cn"])
            guard let name = try item["name"].string(), !name.isEmpty else { throw item["name"].error("the \(role.rawValue)'s name") }
            guard seen.names.insert(name).inserted else { throw item["name"].error("a name no other node or gateway has") }
            let token = try item.secret(named: "token", environment: environment)
            let commonName = try item["client_cert_cn"].string()
            guard token != nil || commonName != nil else {
                throw item.error("token_file or token_env (or client_cert_cn, with web.tls_server_config checking client certificates) for \(role.rawValue) \(name)")
            }
            if let token { guard seen.tokens.insert(token).inserted else { throw item.error("a token no other node or gateway uses") } }
            if let commonName {
                guard seen.commonNames.insert(commonName).inserted else { throw item["client_cert_cn"].error("a common name no other node or gateway uses") }
                guard let tls = web.tls, tls.clientAuth != .none else {
                    throw item["client_cert_cn"].error("web.tls_server_config with client_ca_file and client_auth_type "
                                                       + "RequireAndVerifyClientCert or VerifyClientCertIfGiven, which check client certificates")
                }
            }
            credentials.append(SenderCredential(name: name, role: role, token: token, clientCertCommonName: commonName))
        }
        return credentials
    }

    public static func parse(_ root: ConfigNode, environment: [String: String]) throws(CoreError) -> AggregatorConfiguration {
        try root.requireMapping(allowing: ["listen", "web", "data_dir", "nodes", "gateways", "static_labels", "ingest", "storage", "exposition", "agents",
                                          "currency", "electricity", "carbon", "node_classes", "cloud_prices", "shadow_prices", "costs", "advice",
                                          "budgets", "receivers", "alerting", "remote_write"])
        var configuration = AggregatorConfiguration()

        configuration.listen = try root["listen"].listenAddress(default: configuration.listen)
        configuration.web = try WebConfiguration(root["web"], environment: environment)
        configuration.storage.directory = try root["data_dir"].string(default: configuration.storage.directory)

        var seen = SeenCredentials()
        configuration.nodes = try credentials(root["nodes"], role: .node, seen: &seen, web: configuration.web, environment: environment)
        configuration.gateways = try credentials(root["gateways"], role: .gateway, seen: &seen, web: configuration.web, environment: environment)
        if configuration.nodes.isEmpty, configuration.gateways.isEmpty { configuration.anonymousNode = ProcessInfo.processInfo.hostName }
        // One credential, one right: a token that pushes or reserves cannot read, nor a reader's push.
        if let shared = configuration.web.readers.tokens.first(where: { seen.tokens.contains(String(decoding: $0.token, as: UTF8.self)) }) {
            throw root["web"]["readers"].error("reader tokens other than the nodes' and gateways' tokens (reader \(shared.name) has one of theirs)")
        }

        for (name, value) in try root["static_labels"].entries() {
            guard MetricName.isValidLabelName(name), !name.hasPrefix("__"), name != "node" else {
                throw value.error("a label name other than node, matching [a-zA-Z_][a-zA-Z0-9_]*")
            }
            configuration.staticLabels[name] = try value.string(default: "")
        }

        let ingest = root["ingest"]
        try ingest.requireMapping(allowing: ["max_body_bytes", "max_decoded_bytes", "max_future_skew",
                                             "max_pending_samples", "max_samples_per_commit", "max_series_per_request",
                                             "max_samples_per_request", "max_labels_per_request", "max_labels_per_series",
                                             "max_label_name_bytes", "max_label_value_bytes", "max_series_per_node"])
        configuration.ingest.maxBodyBytes = try ingest["max_body_bytes"].byteSize(default: configuration.ingest.maxBodyBytes)
        configuration.ingest.maxDecodedBytes = try ingest["max_decoded_bytes"].byteSize(default: configuration.ingest.maxDecodedBytes)
        configuration.ingest.maxFutureSkewMs = try ingest["max_future_skew"].durationMilliseconds(default: configuration.ingest.maxFutureSkewMs)
        configuration.storage.maxPendingSamples = try positive(ingest["max_pending_samples"], default: configuration.storage.maxPendingSamples)
        configuration.storage.maxSamplesPerCommit = try positive(ingest["max_samples_per_commit"], default: configuration.storage.maxSamplesPerCommit)
        var limits = configuration.ingest.limits
        limits.maxSeries = try positive(ingest["max_series_per_request"], default: limits.maxSeries)
        limits.maxSamples = try positive(ingest["max_samples_per_request"], default: limits.maxSamples)
        limits.maxLabels = try positive(ingest["max_labels_per_request"], default: limits.maxLabels)
        limits.maxLabelsPerSeries = try positive(ingest["max_labels_per_series"], default: limits.maxLabelsPerSeries)
        limits.maxLabelNameBytes = try ingest["max_label_name_bytes"].byteSize(default: limits.maxLabelNameBytes)
        limits.maxLabelValueBytes = try ingest["max_label_value_bytes"].byteSize(default: limits.maxLabelValueBytes)
        configuration.ingest.limits = limits
        configuration.ingest.maxSeriesPerNode = try positive(ingest["max_series_per_node"], default: configuration.ingest.maxSeriesPerNode)

        let storage = root["storage"]
        try storage.requireMapping(allowing: ["raw_retention", "rollup_1m_retention", "rollup_1h_retention", "maintenance_interval", "rollup_delay",
                                              "max_series", "max_head_bytes"])
        configuration.storage.rawRetentionMs = try storage["raw_retention"].durationMilliseconds(default: configuration.storage.rawRetentionMs)
        configuration.storage.minuteRollupRetentionMs = try storage["rollup_1m_retention"].durationMilliseconds(default: configuration.storage.minuteRollupRetentionMs)
        configuration.storage.hourRollupRetentionMs = try storage["rollup_1h_retention"].durationMilliseconds(default: configuration.storage.hourRollupRetentionMs)
        configuration.storage.maintenanceIntervalMs = try storage["maintenance_interval"].durationMilliseconds(default: configuration.storage.maintenanceIntervalMs)
        configuration.storage.rollupDelayMs = try storage["rollup_delay"].durationMilliseconds(default: configuration.storage.rollupDelayMs)
        configuration.storage.maxSeries = try positive(storage["max_series"], default: configuration.storage.maxSeries)
        configuration.storage.maxHeadBytes = try storage["max_head_bytes"].byteSize(default: configuration.storage.maxHeadBytes)

        let exposition = root["exposition"]
        try exposition.requireMapping(allowing: ["staleness"])
        configuration.stalenessMs = try exposition["staleness"].durationMilliseconds(default: configuration.stalenessMs)

        let agents = root["agents"]
        try agents.requireMapping(allowing: ["push_interval", "missed_pushes"])
        configuration.agentPushIntervalMs = try agents["push_interval"].durationMilliseconds(default: configuration.agentPushIntervalMs)
        configuration.agentMissedPushes = try positive(agents["missed_pushes"], default: configuration.agentMissedPushes)

        configuration.pricing = try Pricing.parse(root)
        let costs = root["costs"]
        try costs.requireMapping(allowing: ["interval"])
        configuration.costIntervalMs = try costs["interval"].durationMilliseconds(default: configuration.costIntervalMs)

        let advice = root["advice"]
        try advice.requireMapping(allowing: ["window", "step", "idle_below_tokens_per_second"])
        configuration.advice.windowMs = try advice["window"].durationMilliseconds(default: configuration.advice.windowMs)
        configuration.advice.stepMs = try advice["step"].durationMilliseconds(default: configuration.advice.stepMs)
        guard configuration.advice.stepMs >= 1_000, configuration.advice.windowMs >= 3 * configuration.advice.stepMs,
              configuration.advice.windowMs <= Milliseconds.week else {
            throw advice["window"].error("a window of at least three steps (of at least 1s) and at most 7d")
        }
        if let text = try advice["idle_below_tokens_per_second"].string() {
            guard let rate = Double(text), rate.isFinite, rate >= 0 else { throw advice["idle_below_tokens_per_second"].error("a number of at least 0, got \"\(text)\"") }
            configuration.advice.idleBelowTokensPerSecond = rate
        }
        (configuration.budgets, configuration.receivers) = try Budget.parse(root, environment: environment, countsCarbon: configuration.pricing.carbon != nil)
        let alerting = root["alerting"]
        try alerting.requireMapping(allowing: ["evaluation_interval", "external_url", "delivery"])
        configuration.budgetIntervalMs = try alerting["evaluation_interval"].durationMilliseconds(default: configuration.budgetIntervalMs)
        configuration.externalURL = try alerting["external_url"].string()
        let delivery = alerting["delivery"]
        try delivery.requireMapping(allowing: ["min_backoff", "max_backoff", "give_up_after", "timeout"])
        configuration.delivery.minBackoffMs = try delivery["min_backoff"].durationMilliseconds(default: configuration.delivery.minBackoffMs)
        configuration.delivery.maxBackoffMs = try delivery["max_backoff"].durationMilliseconds(default: configuration.delivery.maxBackoffMs)
        configuration.delivery.giveUpAfterMs = try delivery["give_up_after"].durationMilliseconds(default: configuration.delivery.giveUpAfterMs)
        configuration.delivery.timeoutMs = try delivery["timeout"].durationMilliseconds(default: configuration.delivery.timeoutMs)

        for item in try root["remote_write"].items() {
            try item.requireMapping(allowing: ["name", "url", "token_file", "token_env", "headers", "max_age", "tls_config", "protobuf_message"])
            guard let url = try item["url"].string(), url.hasPrefix("http://") || url.hasPrefix("https://"),
                  let host = URLComponents(string: url)?.host else { throw item["url"].error("the receiver's remote-write URL") }
            var target = ForwardTarget(name: try item["name"].string(default: host), url: url)
            guard !configuration.forwardTargets.contains(where: { $0.name == target.name }) else { throw item["name"].error("a name no other target has") }
            target.token = try item.secret(named: "token", environment: environment)
            for (name, value) in try item["headers"].entries() { target.headers[name] = try value.string(default: "") }
            target.maxAgeMs = try item["max_age"].durationMilliseconds(default: target.maxAgeMs)
            target.tls = try TLSClientConfiguration(item["tls_config"])
            switch try item["protobuf_message"].string(default: "prometheus.WriteRequest") {
            case "prometheus.WriteRequest": target.sendsV2 = false
            case RemoteWriteCodec.protoV2: target.sendsV2 = true
            default: throw item["protobuf_message"].error("prometheus.WriteRequest (remote write 1.0) or \(RemoteWriteCodec.protoV2) (2.0)")
            }
            configuration.forwardTargets.append(target)
        }
        configuration.storage.forwardLog = !configuration.forwardTargets.isEmpty
        return configuration
    }

    private static func positive(_ node: ConfigNode, default value: Int) throws(CoreError) -> Int {
        let number = try node.int(default: value)
        guard number > 0 else { throw node.error("a positive integer, got \(number)") }
        return number
    }
}
