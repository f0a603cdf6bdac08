import ArgumentParser
import Foundation
import TokenWattService

/// `tokenwatt`: cost reports, budgets and config checks against an aggregator.
@main
struct TokenWattCommand: AsyncParsableCommand {
    static func main() async { await mainWithUsageStatus() }

    static let configuration = CommandConfiguration(
        commandName: "tokenwatt",
        abstract: "Cost reports, budgets and config checks for TokenWatt.",
        discussion: """
            report, budgets, advise and whatif ask the aggregator at --url (or TOKENWATT_URL, default http://127.0.0.1:9470).
            Exit status: 0 on success, 1 when the aggregator cannot be asked, 2 for an invalid command line or config.
            """,
        subcommands: [ReportCommand.self, BudgetsCommand.self, AdviseCommand.self, WhatIfCommand.self, PricesCommand.self, MetricsCommand.self, CheckConfigCommand.self, HashPasswordCommand.self])
}

/// Where the aggregator is (`--url`, else `TOKENWATT_URL`, else the local default), how its
/// certificate is checked, and the reader token it is asked with.
struct AggregatorOptions: ParsableArguments {
    @Option(help: "The aggregator's URL (default: TOKENWATT_URL, else http://127.0.0.1:9470).")
    var url: String?

    @Option(name: .customLong("ca-file"), help: "A CA file the aggregator's certificate must chain to, instead of the system's (default: TOKENWATT_CA_FILE).")
    var caFile: String?

    @Option(name: .customLong("token-file"), help: "A file holding a reader's token, for an aggregator with web.readers (default: TOKENWATT_TOKEN_FILE).")
    var tokenFile: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    var baseURL: String {
        let chosen = url ?? environment["TOKENWATT_URL"] ?? "http://127.0.0.1:9470"
        return chosen.hasSuffix("/") ? String(chosen.dropLast()) : chosen
    }

    var tls: TLSClientConfiguration? {
        (caFile ?? environment["TOKENWATT_CA_FILE"]).map { TLSClientConfiguration(caFile: $0) }
    }

    /// The reader token, read from its file (trailing newline trimmed).
    func token() throws -> String? {
        guard let path = tokenFile ?? environment["TOKENWATT_TOKEN_FILE"] else { return nil }
        guard let data = FileManager.default.contents(atPath: path), case let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
              !token.isEmpty else {
            throw ValidationError("--token-file: cannot read a token from \(path)")
        }
        return token
    }
}

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}
