import ArgumentParser
import Foundation

/// `tokenwatt budgets`: each budget's spent, limit, forecast and state.
struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "budgets", abstract: "Spent, limit, forecast and state of each budget.")

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        let data = try await APIClient.get("\(aggregator.baseURL)/api/v1/budgets", aggregator)
        guard let budgets = data as? [[String: Any]] else { throw ExitCode(1) }
        var table = Table(columns: ["budget", "state", "spent", "limit", "used", "forecast", "unit", "period ends", "alerts fired"])
        for budget in budgets {
            let used = (budget["used_ratio"] as? Double).map { String(format: "%.1f%%", $0 * 100) } ?? "-"
            table.rows.append([
                budget["name"] as? String ?? "?", budget["state"] as? String ?? "?", Table.number(budget["spent"]), Table.number(budget["limit"]),
                used, Table.number(budget["forecast"]), budget["unit"] as? String ?? "", budget["period_end"] as? String ?? "-",
                ((budget["fired"] as? [String]) ?? []).joined(separator: " ") + ((budget["runaway"] as? Bool) == true ? " runaway" : ""),
            ])
        }
        print(table.render(format, json: Table.json(budgets)), terminator: "")
    }
}
