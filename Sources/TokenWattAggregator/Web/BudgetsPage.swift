import Foundation
import TokenWattCore

extension WebOverview {
    /// Each budget (`/api/v1/budgets`) with its burn-down against the limit, thresholds and
    /// forecast, and the newest alerts with their deliveries (`/api/v1/alerts`).
    func budgetsPage() async throws -> String {
        let now = now()
        let engine = alerts.budgets
        let rows = alerts.budgetRows()
        let spendByBucket = engine.currentSpendByBucket
        var body = HTML.table(["budget", "state", "spent", "limit", "used", "forecast", "unit", "period ends", "alerts fired"], rows.map { row in
            let key = "budget.\(row.name)"
            return [
                HTML.escape(row.name), HTML.badge(row.state, row.state), HTML.figure("\(key).spent", row.spent, .number(decimals: 2)),
                HTML.figure("\(key).limit", row.limit, .number(decimals: 2)), HTML.figure("\(key).used_ratio", row.usedRatio, .percent),
                HTML.figure("\(key).forecast", row.forecast, .number(decimals: 2)), HTML.escape(row.unit),
                HTML.escape(row.periodEnd ?? "—"),
                HTML.escape((row.fired ?? []).joined(separator: ", ") + (row.runaway == true ? " runaway" : "")),
            ]
        }, numeric: [2, 3, 4, 5], id: "budgets", empty: "No budgets: add budgets: to the aggregator's config.")
        let states = engine.currentStates
        for budget in engine.budgets {
            guard let state = states[budget.name] else { continue }
            // Spent by the end of each bucket: where the next begins (a day's, or an hour's), now for the last.
            let buckets = (spendByBucket[budget.name] ?? [:]).sorted { $0.key < $1.key }
            var spent = 0.0
            let cumulative = buckets.indices.map { index -> (time: Int64, spent: Double) in
                spent += buckets[index].value
                return (index + 1 < buckets.count ? buckets[index + 1].key : now, spent)
            }
            body += "<h2>\(HTML.escape(budget.name))</h2>"
            body += Chart.burnDown("Burn-down of \(budget.name)", start: state.periodStart, end: state.periodEnd, now: now, cumulative: cumulative,
                                   limit: budget.limit, thresholds: budget.thresholds, forecast: state.forecast,
                                   unit: BudgetEvaluator.unit(of: budget, currency: currency))
        }
        body += "<h2>Alerts and deliveries</h2>"
        body += HTML.table(["created", "budget", "type", "receiver", "status", "attempts", "summary", "last error"], try await alerts.alertRows(limit: 50).map { row in
            [HTML.escape(row.created), HTML.escape(row.budget ?? ""), HTML.escape(row.type ?? ""),
             HTML.escape(row.receiver), HTML.badge(row.status, row.status),
             HTML.figure("alert.\(row.eventID).\(row.receiver).attempts", Double(row.attempts), .number(decimals: 0)),
             HTML.escape(row.summary ?? ""), HTML.escape(row.lastError ?? "")]
        }, numeric: [5], id: "alerts", empty: "No alert has fired.")
        return HTML.page(.budgets, subtitle: "\(rows.count) budget\(rows.count == 1 ? "" : "s") · \(WebOverview.time(now))", body: body)
    }
}
