import Foundation
import TokenWattCore

extension WebOverview {
    /// Each budget (`/api/v1/budgets`) with its burn-down against the limit, thresholds and
    /// forecast, and the newest alerts with their deliveries (`/api/v1/alerts`).
    func budgetsPage() async throws -> String {
        let now = now()
        let rows = try await alerts.budgetRows()
        let states = alerts.budgets.currentStates
        let zones = Dictionary(alerts.budgets.budgets.map { ($0.name, TimeText(zone: $0.period.timezone)) }, uniquingKeysWith: { first, _ in first })
        var body = HTML.table(["budget", "state", "spent", "limit", "used", "forecast", "unit", "period ends", "alerts fired"], rows.map { row in
            let key = "budget.\(row.name)"
            return [
                HTML.escape(row.name), HTML.badge(row.state, row.state), HTML.figure("\(key).spent", row.spent, .number(decimals: 2)),
                HTML.figure("\(key).limit", row.limit, .number(decimals: 2)), HTML.figure("\(key).used_ratio", row.usedRatio, .percent),
                HTML.figure("\(key).forecast", row.forecast, .number(decimals: 2)), HTML.escape(row.unit),
                states[row.name].map { HTML.time($0.periodEnd, zones[row.name] ?? .utc) } ?? "—",
                HTML.escape((row.fired ?? []).joined(separator: ", ") + (row.runaway == true ? " runaway" : "")),
            ]
        }, numeric: [2, 3, 4, 5], id: "budgets", empty: "No budgets: add budgets: to the aggregator's config.")
        let caps = rows.compactMap { row in row.cap.map { (row, $0) } }
        if !caps.isEmpty {
            // Hard caps as the gateways hold them: what their slices and pending requests hold is leased, not spent yet.
            body += "<h2>Hard caps</h2>"
            body += HTML.table(["budget", "spent", "leased", "free", "limit", "unit", "slices"], caps.map { row, cap in
                let key = "cap.\(row.name)"
                return [HTML.escape(row.name), HTML.figure("\(key).spent", cap.spent, .number(decimals: 2)), HTML.figure("\(key).leased", cap.leased, .number(decimals: 2)),
                        HTML.figure("\(key).free", cap.free, .number(decimals: 2)), HTML.figure("\(key).limit", row.limit, .number(decimals: 2)),
                        HTML.escape(row.unit), HTML.figure("\(key).slices", Double(cap.slices), .number(decimals: 0))]
            }, numeric: [1, 2, 3, 4, 6], id: "caps", empty: "")
        }
        for chart in alerts.burnDowns(now: now) {
            body += "<h2>\(HTML.escape(chart.budget.name))</h2>"
            body += Chart.burnDown("Burn-down of \(chart.budget.name)", start: chart.periodStart, end: chart.periodEnd, now: now, cumulative: chart.cumulative,
                                   limit: chart.budget.limit, thresholds: chart.budget.thresholds, forecast: chart.forecast, unit: chart.unit,
                                   time: TimeText(zone: chart.budget.period.timezone))
        }
        body += "<h2>Alerts and deliveries</h2>"
        body += HTML.table(["created", "budget", "type", "receiver", "status", "attempts", "summary", "last error"], try await alerts.alertRows(limit: 50).map { row, createdMs in
            [HTML.time(createdMs), HTML.escape(row.budget ?? ""), HTML.escape(row.type ?? ""),
             HTML.escape(row.receiver), HTML.badge(row.status, row.status),
             HTML.figure("alert.\(row.eventID).\(row.receiver).attempts", Double(row.attempts), .number(decimals: 0)),
             HTML.escape(row.summary ?? ""), HTML.escape(row.lastError ?? "")]
        }, numeric: [5], id: "alerts", empty: "No alert has fired.")
        return HTML.page(.budgets, subtitle: "\(rows.count) budget\(rows.count == 1 ? "" : "s")", at: now, body: body)
    }
}
