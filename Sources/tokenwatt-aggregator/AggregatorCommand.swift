import ArgumentParser
import Foundation
import Logging
import TokenWattAggregator
import TokenWattConfiguration
import TokenWattCore
import TokenWattService

/// `tokenwatt-aggregator`: receives remote write from agents, stores it in SQLite and serves
/// Prometheus metrics and a query API.
@main
struct AggregatorCommand: AsyncParsableCommand {
    static func main() async { await mainWithUsageStatus() }

    static let configuration = CommandConfiguration(
        commandName: "tokenwatt-aggregator",
        abstract: "Store what TokenWatt agents push (remote write 1.0) in SQLite and serve it to Prometheus.",
        discussion: """
            Without --config it runs with built-in defaults: listens on 127.0.0.1:9470, keeps data in \
            ./tokenwatt-data and accepts pushes from this machine without a token.
            Exit status: 0 after a clean shutdown, 1 when serving failed, 2 for an invalid command line or config.
            """)

    @Option(name: .long, help: "YAML configuration file.")
    var config: String?

    @Option(name: .long, help: "Address to listen on, host:port (default 127.0.0.1:9470).")
    var listen: String?

    @Option(name: .customLong("data-dir"), help: "Folder for the SQLite database (default ./tokenwatt-data).")
    var dataDirectory: String?

    @Option(name: .customLong("log-level"), help: "How much to log.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LogSetup.bootstrap(identifier: "tokenwatt-aggregator", level: level)
        let logger = Logger(label: "tokenwatt-aggregator")

        let configuration = try DaemonExit.configuration("tokenwatt-aggregator") {
            var configuration = try config.map { try AggregatorConfiguration.load(file: $0) } ?? .builtIn()
            if let listen {
                guard let address = ListenAddress(parsing: listen) else { throw ValidationError("--listen expects host:port, got \(listen)") }
                configuration.listen = address
            }
            if let dataDirectory { configuration.storage.directory = dataDirectory }
            try configuration.checkListener(source: config ?? "--listen")
            return configuration
        }
        try await DaemonExit.serve(logger) { try await Aggregator(configuration: configuration, logger: logger).run() }
    }
}
