import ArgumentParser
import Foundation
import Logging
import TokenWattAgent
import TokenWattConfiguration
import TokenWattCore
import TokenWattService

/// `tokenwatt-agent`: samples this node's CPU, memory, GPUs and power and serves them.
@main
struct AgentCommand: AsyncParsableCommand {
    static func main() async { await mainWithUsageStatus() }

    static let configuration = CommandConfiguration(
        commandName: "tokenwatt-agent",
        abstract: "Sample this node's CPU, memory, GPU, power and token figures for TokenWatt.",
        discussion: """
            Without --config it runs with built-in defaults: every collector every 10 s, inference servers \
            found on the usual local ports, /metrics and POST /v1/usage on 127.0.0.1:9471. Flags win over \
            the config file. `--once` collects once, prints the text \
            exposition, and on standard error each collector that is down with its reason and fix, the GPUs, \
            power sources and inference servers found, and what the aggregator answered to an empty push; \
            then it exits: what an operator runs to check a node.
            Exit status: 0 after a clean shutdown, 1 when running failed, 2 for an invalid command line or config.
            """)

    @Option(name: .long, help: "YAML configuration file.")
    var config: String?

    @Option(name: .long, help: "The aggregator's base URL (http://host:9470) or its remote-write URL (default http://127.0.0.1:9470/api/v1/write).")
    var aggregator: String?

    @Option(name: .customLong("token-file"), help: "File holding the bearer token for the aggregator.")
    var tokenFile: String?

    @Option(name: .long, help: "Address for the agent's own /metrics, host:port (default 127.0.0.1:9471).")
    var listen: String?

    @Option(name: .customLong("nvml-library"), help: "NVML library to load (default libnvidia-ml.so.1).")
    var nvmlLibrary: String?

    @Option(name: .customLong("path.procfs"), help: "Where procfs is mounted (default /proc).")
    var procfs: String?

    @Option(name: .customLong("path.sysfs"), help: "Where sysfs is mounted (default /sys).")
    var sysfs: String?

    @Option(name: .long, help: "How often collectors run, e.g. 10s or 1m (default 10s).")
    var interval: String?

    @Option(name: .customLong("inference-server"),
            help: ArgumentHelp("An inference server to read, as its base URL (repeatable); its kind is recognised from its metrics.",
                               valueName: "url"))
    var inferenceServers: [String] = []

    @Flag(name: .customLong("no-discovery"), help: "Do not probe the usual local ports (8000, 3000, 8080, 8002, 23333, 30000) for inference servers.")
    var noDiscovery = false

    @Flag(name: .long, help: "Collect once, print the text exposition (and on stderr what is missing and why) and exit.")
    var once = false

    @Option(name: .customLong("log-level"), help: "How much to log.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LogSetup.bootstrap(identifier: "tokenwatt-agent", level: once ? max(level, .warning) : level)
        let logger = Logger(label: "tokenwatt-agent")
        let configuration = try DaemonExit.configuration("tokenwatt-agent") {
            try applyFlags(to: config.map { try AgentConfiguration.load(file: $0) } ?? AgentConfiguration())
        }

        if once {
            let (samples, report) = await Agent.collectOnce(configuration: configuration, logger: logger)
            FileHandle.standardOutput.write(Data(ExpositionWriter(format: .prometheusText).render(MetricCatalog.families(of: samples))))
            // Beside the exposition, not in it: what is missing and why, what was found.
            FileHandle.standardError.write(Data(report.lines.map { $0 + "\n" }.joined().utf8))
            return
        }
        try await DaemonExit.serve(logger) { try await Agent(configuration: configuration, logger: logger).run() }
    }

    private func applyFlags(to base: AgentConfiguration) throws -> AgentConfiguration {
        var configuration = base
        try configuration.sender.apply(aggregator: aggregator, tokenFile: tokenFile, interval: interval, invalid: ValidationError.init)
        if let listen {
            guard let address = ListenAddress(parsing: listen) else { throw ValidationError("--listen expects host:port, got \(listen)") }
            configuration.listen = address
        }
        if let nvmlLibrary { configuration.nvmlLibrary = nvmlLibrary }
        if let procfs { configuration.procfs = procfs }
        if let sysfs { configuration.sysfs = sysfs }
        for url in inferenceServers {
            let server = InferenceServer(url: url)
            guard server.hasValidURL else { throw ValidationError("--inference-server expects an http:// or https:// URL, got \(url)") }
            configuration.inferenceServers.append(server)
        }
        if noDiscovery { configuration.discovery = false }
        try configuration.checkListener(source: config ?? "--listen")
        return configuration
    }
}
