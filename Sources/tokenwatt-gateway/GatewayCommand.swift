import ArgumentParser
import Foundation
import Logging
import TokenWattConfiguration
import TokenWattCore
import TokenWattGateway
import TokenWattService

/// `tokenwatt-gateway`: the metering gateway in front of local inference servers and cloud APIs.
@main
struct GatewayCommand: AsyncParsableCommand {
    static func main() async { await mainWithUsageStatus() }

    static let configuration = CommandConfiguration(
        commandName: "tokenwatt-gateway",
        abstract: "Meter and cap the LLM requests of callers in front of local inference servers and cloud APIs.",
        discussion: """
            The config file names the callers (their keys and labels) and the routes (a model pattern, an upstream \
            and its key); without callers it takes no request, so --config is required. Requests on a capped route \
            reserve their worst case at the aggregator first; every answer's usage is spooled and pushed to the \
            aggregator with the gateway's own credential (gateways: in the aggregator's config). Several replicas \
            may run behind one address, each with its own credential. It serves OpenAI's and Anthropic's paths, \
            /metrics, /-/healthy and /-/ready on 127.0.0.1:9472 by default. Flags win over the config file.
            Exit status: 0 after a clean shutdown, 1 when running failed, 2 for an invalid command line or config.
            """)

    @Option(name: .long, help: "YAML configuration file (callers and routes).")
    var config: String

    @Option(name: .long, help: "The aggregator's base URL (http://host:9470) or its remote-write URL (default http://127.0.0.1:9470/api/v1/write).")
    var aggregator: String?

    @Option(name: .customLong("token-file"), help: "File holding the gateway's bearer token for the aggregator.")
    var tokenFile: String?

    @Option(name: .long, help: "Address callers connect to, host:port (default 127.0.0.1:9472).")
    var listen: String?

    @Option(name: .long, help: "How often its usage and metrics are collected and pushed, e.g. 10s (default 10s).")
    var interval: String?

    @Option(name: .customLong("log-level"), help: "How much to log.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        LogSetup.bootstrap(identifier: "tokenwatt-gateway", level: logLevel)
        let logger = Logger(label: "tokenwatt-gateway")
        // The config file with the flags applied, its listener checked.
        let configuration = try DaemonExit.configuration("tokenwatt-gateway") {
            var configuration = try GatewayConfiguration.load(file: config)
            try configuration.sender.apply(aggregator: aggregator, tokenFile: tokenFile, interval: interval, invalid: ValidationError.init)
            if let listen {
                guard let address = ListenAddress(parsing: listen) else { throw ValidationError("--listen expects host:port, got \(listen)") }
                configuration.listen = address
            }
            try configuration.checkListener(source: listen == nil ? config : "--listen")
            return configuration
        }
        try await DaemonExit.serve(logger) { try await Gateway(configuration: configuration, logger: logger).run() }
    }
}
