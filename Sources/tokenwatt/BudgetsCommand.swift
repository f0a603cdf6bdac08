import ArgumentParser
import Foundation
import TokenWattAPI

/// `tokenwatt budgets`: each budget's spent, limit, forecast and state.
struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "budgets", abstract: "Spent, limit, forecast and state of each budget.")

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        let budgets = try await APIClient.get("\(aggregator.baseURL)/api/v1/budgets", aggregator, as: [BudgetStatus].self)
        var table = Table(columns: ["budget", "state", "spent", "limit", "used", "forecast", "unit", "period ends", "alerts fired"])
        for budget in budgets {
            let used = budget.usedRatio.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
            table.rows.append([
                budget.name, budget.state, Table.number(budget.spent), Table.number(budget.limit),
                used, Table.number(budget.forecast), budget.unit, budget.periodEnd ?? "-",
                (budget.fired ?? []).joined(separator: " ") + (budget.runaway == true ? " runaway" : ""),
            ])
        }
        print(table.render(format, json: Table.json(encoding: budgets)), terminator: "")
    }
}
