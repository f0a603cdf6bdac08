import Foundation
import TokenWattCore
import TokenWattService

/// Settings of `tokenwatt-agent`, each with the default an operator gets without a config file.
public struct AgentConfiguration: Sendable, Equatable {
    /// Where the agent serves its own `/metrics` and `/-/healthy`.
    public var listen = ListenAddress(host: "127.0.0.1", port: 9471)
    /// The HTTP server's limits, TLS and readers (`web:`).
    public var web = WebConfiguration()
    /// The aggregator, the spool, the interval and the usage labels (`SenderConfiguration`).
    public var sender = SenderConfiguration(spoolDirectory: "./tokenwatt-agent-data")
    /// Where procfs and sysfs are mounted (a container may bind the host's elsewhere).
    public var procfs = "/proc"
    public var sysfs = "/sys"
    /// NVML, found through the loader's search path unless a path is given.
    public var nvmlLibrary = "libnvidia-ml.so.1"
    /// Collectors that run; all of them by default.
    public var collectors: Set<String> = Set(CollectorName.allCases.map(\.rawValue))
    /// The BMC's power reading: the command, how often, and how long it may take.
    public var bmcCommand = ["ipmitool", "dcmi", "power", "reading"]
    public var bmcIntervalMs: Int64 = 30_000
    public var bmcTimeoutMs: Int64 = 10_000
    /// Inference servers read whatever discovery finds.
    public var inferenceServers: [InferenceServer] = []
    /// Probing the usual local ports for inference servers, at start and then this often.
    public var discovery = true
    public var discoveryIntervalMs: Int64 = 300_000
    public var discoveryPorts = AgentConfiguration.defaultDiscoveryPorts
    /// The ports inference servers listen on by default: vLLM, TensorRT-LLM and Dynamo 8000, TGI
    /// 3000, llama.cpp 8080, Triton 8002, LMDeploy 23333, SGLang 30000.
    public static let defaultDiscoveryPorts = [8000, 3000, 8080, 8002, 23333, 30000]
    /// Bearer token required by `POST /v1/usage`; none by default (the listener is on loopback).
    public var usageToken: String?
    /// The node's default attribution of its tokens (`attribution:`), under any server's or model's.
    public var attribution: [String: String] = [:]
    /// `usage.otlp_attributes`: the OTLP attribute keys each usage attribute of OTLP usage is read
    /// from (on the data point, then its resource), in the order tried. An attribute not named
    /// here is read from the OTLP attribute of its own name, `agent` also from `service.name`.
    public var otlpAttributeKeys: [String: [String]] = [:]
    public init() {}

    /// What `tokenwatt check-config` warns about: configured OTLP attribute keys no convention defines.
    public var warnings: [String] {
        otlpAttributeKeys.sorted { $0.key < $1.key }.flatMap { name, keys in
            keys.compactMap { OTLPConventions.warning(forKey: $0).map { "usage.otlp_attributes.\(name): " + $0 } }
        }
    }

    /// Where each usage attribute comes from in an OTLP export: the configured keys, else the defaults.
    public var otlpAttributeSources: [String: [String]] {
        var sources = Dictionary(uniqueKeysWithValues: sender.usageAttributes.map { name in
            (name, name == "agent" ? ["agent", "service.name"] : [name])
        })
        sources.merge(otlpAttributeKeys) { _, configured in configured }
        return sources
    }
}

/// The collectors the agent knows, by the name used in config and in `collector` labels.
public enum CollectorName: String, CaseIterable, Sendable {
    case cpu, memory, nvidia, drm, rapl, hwmon, bmc
}

extension AgentConfiguration: ConfigFileLoadable {
    public static func parse(_ root: ConfigNode, environment: [String: String]) throws(CoreError) -> AgentConfiguration {
        // The gateway ran inside the agent until it became a daemon of its own.
        if root["gateway"].isPresent {
            throw root["gateway"].error("no gateway section: the metering gateway runs as tokenwatt-gateway now; move this section's keys "
                                        + "to the top level of its own config (/etc/tokenwatt/gateway.yml, tokenwatt-gateway --config), with the "
                                        + "aggregator: and usage: keys it needs, and give it a credential under gateways: in the aggregator's config")
        }
        try root.requireMapping(allowing: ["listen", "web", "aggregator", "interval", "collectors", "paths", "nvidia", "bmc", "spool", "inference", "usage", "attribution"])
        var configuration = AgentConfiguration()
        configuration.listen = try root["listen"].listenAddress(default: configuration.listen)
        configuration.web = try WebConfiguration(root["web"], environment: environment)
        // The agent's own keys under usage:, beside the ones it shares with the gateway.
        let allowed: Set<String> = ["token_file", "token_env", "otlp_attributes"]
        try configuration.sender.parse(root, environment: environment, moreUsageKeys: allowed)
        if root["collectors"].isPresent {
            configuration.collectors = []
            for item in try root["collectors"].items() {
                guard let name = try item.string(), CollectorName(rawValue: name) != nil else {
                    throw item.error("one of \(CollectorName.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                configuration.collectors.insert(name)
            }
        }
        let paths = root["paths"]
        try paths.requireMapping(allowing: ["procfs", "sysfs"])
        configuration.procfs = try paths["procfs"].string(default: configuration.procfs)
        configuration.sysfs = try paths["sysfs"].string(default: configuration.sysfs)
        let nvidia = root["nvidia"]
        try nvidia.requireMapping(allowing: ["library"])
        configuration.nvmlLibrary = try nvidia["library"].string(default: configuration.nvmlLibrary)
        let bmc = root["bmc"]
        try bmc.requireMapping(allowing: ["command", "interval", "timeout"])
        if bmc["command"].isPresent {
            configuration.bmcCommand = try bmc["command"].items().map { item throws(CoreError) in
                guard let word = try item.string(), !word.isEmpty else { throw item.error("a word of the command") }
                return word
            }
            guard !configuration.bmcCommand.isEmpty else { throw bmc["command"].error("a command, as a list of words") }
        }
        configuration.bmcIntervalMs = try bmc["interval"].durationMilliseconds(default: configuration.bmcIntervalMs)
        configuration.bmcTimeoutMs = try bmc["timeout"].durationMilliseconds(default: configuration.bmcTimeoutMs)
        // Usage first: its attributes are the labels attribution may set.
        let usage = root["usage"]
        configuration.usageToken = try usage.secret(named: "token", environment: environment)
        if let token = configuration.usageToken, let shared = configuration.web.readers.tokens.first(where: { $0.token == Array(token.utf8) }) {
            throw usage.error("a usage token other than the readers' tokens (reader \(shared.name) has it): a token that reports usage cannot read")
        }
        for (name, keys) in try usage["otlp_attributes"].entries() {
            guard configuration.sender.usageAttributes.contains(name) else {
                throw keys.error("a usage attribute (\(configuration.sender.usageAttributes.joined(separator: ", "))) to read from OTLP attributes, not \(name)")
            }
            let list = try keys.strings()
            guard !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else { throw keys.error("an OTLP attribute key such as service.name, or a list of them") }
            configuration.otlpAttributeKeys[name] = list
        }
        configuration.attribution = try Attribution.labels(root["attribution"], allowed: configuration.sender.usageAttributes)
        try parseInference(root["inference"], into: &configuration)
        return configuration
    }

    private static func parseInference(_ inference: ConfigNode, into configuration: inout AgentConfiguration) throws(CoreError) {
        try inference.requireMapping(allowing: ["servers", "discovery", "discovery_interval", "discovery_ports"])
        for item in try inference["servers"].items() {
            try item.requireMapping(allowing: ["url", "kind", "model", "interval", "role", "attribution", "models"])
            guard let url = try item["url"].string() else { throw item["url"].error("the server's URL, e.g. http://127.0.0.1:8000") }
            var server = InferenceServer(url: url)
            guard server.parts != nil else { throw item["url"].error("an http:// or https:// URL with a host, got \"\(url)\"") }
            let kind = try item["kind"].string(default: "auto")
            if kind != "auto" {
                guard let known = InferenceServerKind(rawValue: kind) else {
                    throw item["kind"].error("auto or one of \(InferenceServerKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                server.kind = known
            }
            server.model = try item["model"].string()
            if let role = try item["role"].string() {
                guard let known = InferenceRole(rawValue: role) else {
                    throw item["role"].error("one of \(InferenceRole.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(role)\"")
                }
                server.role = known
            }
            if item["interval"].isPresent { server.intervalMs = try item["interval"].durationMilliseconds(default: configuration.sender.intervalMs) }
            server.attribution.labels = try Attribution.labels(item["attribution"], allowed: configuration.sender.usageAttributes)
            for rule in try item["models"].items() {
                try rule.requireMapping(allowing: ["match", "attribution"])
                server.attribution.models.append(Attribution.ModelRule(match: try ModelPattern(rule["match"]),
                                                                       labels: try Attribution.labels(rule["attribution"], allowed: configuration.sender.usageAttributes)))
            }
            configuration.inferenceServers.append(server)
        }
        configuration.discovery = try inference["discovery"].bool(default: configuration.discovery)
        configuration.discoveryIntervalMs = try inference["discovery_interval"].durationMilliseconds(default: configuration.discoveryIntervalMs)
        if inference["discovery_ports"].isPresent {
            configuration.discoveryPorts = try inference["discovery_ports"].items().map { item throws(CoreError) in
                let port = try item.int(default: 0)
                guard (1...65535).contains(port) else { throw item.error("a port from 1 to 65535") }
                return port
            }
        }
    }
}

extension AgentConfiguration {
    /// Refuses a listener beyond loopback that takes usage reports without a token (they become
    /// money) or answers reads without a credential, unless reads are opened on purpose
    /// (`WebConfiguration.checkReads`). `source` names where the listener came from.
    public func checkListener(source: String) throws(CoreError) {
        guard listen.isLoopback || usageToken != nil else {
            throw .config(file: source, key: "usage.token_file",
                          expected: "a token for usage reports when listening on \(listen), beyond loopback "
                              + "(set usage.token_file or usage.token_env, or listen on 127.0.0.1)")
        }
        try web.checkReads(listen: listen, source: source)
    }
}
