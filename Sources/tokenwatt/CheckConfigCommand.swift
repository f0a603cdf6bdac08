import ArgumentParser
import Foundation
import TokenWattConfiguration
import TokenWattCore

/// `tokenwatt check-config FILE`: validates an agent, gateway or aggregator config as the
/// daemon would load it; errors name the file, the key and what was expected.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate an agent, gateway or aggregator config file.")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case auto, agent, gateway, aggregator
    }

    @Argument(help: "The YAML file.")
    var file: String

    @Option(help: "agent, gateway, aggregator, or auto (told apart by their top-level keys).")
    var kind: Kind = .auto

    /// Top-level keys only a gateway's config has.
    static let gatewayKeys: Set<String> = ["callers", "routes"]
    /// Top-level keys an agent's config has and an aggregator's not (`gateway` was the agent's
    /// until the gateway became a daemon of its own: the agent's parser says where it went).
    static let agentKeys: Set<String> = ["aggregator", "interval", "collectors", "paths", "nvidia", "bmc", "spool", "inference", "usage", "attribution", "gateway"]

    func run() async throws {
        var chosen = kind
        if chosen == .auto {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let keys = text.split(separator: "\n").compactMap { line -> String? in
                guard let first = line.first, first.isLetter else { return nil }
                return line.split(separator: ":").first.map(String.init)
            }
            chosen = keys.contains(where: CheckConfigCommand.gatewayKeys.contains) ? .gateway
                : keys.contains(where: CheckConfigCommand.agentKeys.contains) ? .agent : .aggregator
        }
        var warnings: [String] = []
        do {
            // As the daemon would start: its listener's credentials checked too.
            switch chosen {
            case .agent:
                let configuration = try AgentConfiguration.load(file: file)
                try configuration.checkListener(source: file)
                warnings = configuration.warnings
            case .gateway: try GatewayConfiguration.load(file: file).checkListener(source: file)
            case .aggregator, .auto: try AggregatorConfiguration.load(file: file).checkListener(source: file)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        for warning in warnings { FileHandle.standardError.write(Data("\(file): warning: \(warning)\n".utf8)) }
        print("\(file): valid \(chosen.rawValue) configuration" + (warnings.isEmpty ? "" : " (\(warnings.count) warnings)"))
    }
}
