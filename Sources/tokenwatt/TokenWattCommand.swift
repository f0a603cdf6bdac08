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
            report and budgets ask the aggregator at --url (or TOKENWATT_URL, default http://127.0.0.1:9470).
            Exit status: 0 on success, 1 when the aggregator cannot be asked, 2 for an invalid command line or config.
            """,
        subcommands: [ReportCommand.self, BudgetsCommand.self, PricesCommand.self, CheckConfigCommand.self])
}

/// Where the aggregator is: `--url`, else `TOKENWATT_URL`, else the local default.
struct AggregatorOptions: ParsableArguments {
    @Option(help: "The aggregator's URL (default: TOKENWATT_URL, else http://127.0.0.1:9470).")
    var url: String?

    var baseURL: String {
        let chosen = url ?? ProcessInfo.processInfo.environment["TOKENWATT_URL"] ?? "http://127.0.0.1:9470"
        return chosen.hasSuffix("/") ? String(chosen.dropLast()) : chosen
    }
}

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}
