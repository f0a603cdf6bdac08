import Foundation
import TokenWattAPI
import TokenWattCore

extension WebOverview {
    /// The ledger over the last `days` UTC days, today's so far included (default 7, at most
    /// 92), read from its day summary: totals, cost per million tokens local against
    /// cloud-equivalent by model, by team and by node with idle burn, and per day; the groups of
    /// `/api/v1/costs` over the same `from` and `to` (on `main` as `data-from`, `data-to`).
    func costsPage(days: Int) async throws -> String {
        let to = now()
        let from = TimeBucket.current(at: to, width: Milliseconds.day) - Int64(days - 1) * Milliseconds.day
        let ledger = try await self.ledger.days(from: from, to: to)
        let carbon = pricing.carbon != nil
        let money = HTML.Format.money(currency), amount = HTML.Format.number(decimals: 2)
        func report(_ by: [String], step: CostReport.Step? = nil) -> [CostGroup] {
            CostReport(by: by, step: step, carbon: carbon).rows(ledger)
        }
        let total = report([]).first?.figures ?? CostFigures()
        var body = "<p>" + [1, 7, 30, 90].map { "<a href=\"/costs?days=\($0)\">\($0 == 1 ? "1 day" : "\($0) days")</a>" }.joined(separator: " · ") + "</p>"
        body += "<div class=\"cards\">"
        body += HTML.card("Total cost", HTML.figure("total.cost", total.cost, money), note: "on-prem and cloud")
        body += HTML.card("On-prem", HTML.figure("total.on_prem_cost", total.onPremCost, money))
        body += HTML.card("Cloud spend", HTML.figure("total.cloud_spend", total.cloudSpend, money))
        body += HTML.card("Cloud-equivalent", HTML.figure("total.cloud_equivalent", total.cloudEquivalent, money), note: "of the local tokens")
        body += HTML.card("Savings", HTML.figure("total.savings", total.savings, money))
        body += HTML.card("Idle burn", HTML.figure("total.idle_cost", total.idleCost ?? 0, money), note: "hours without tokens")
        body += HTML.card("Local cost per M tokens", HTML.figure("total.cost_per_million_tokens", total.costPerMillionTokens, money))
        if carbon { body += HTML.card("Emissions", HTML.figure("total.gco2e", total.gco2e, .grams), note: "CO2e") }
        body += "</div>"

        // Every day of the window, or every hour of a one-day window, so the time axis runs through it.
        let hourly = days == 1
        let width = hourly ? Milliseconds.hour : Milliseconds.day
        let steps = report([], step: hourly ? .hour : .calendar(CalendarPeriod(.day, timezone: TimeText.utc.zone)))
        let figures = Dictionary(steps.map { (Int64((($0.start ?? 0) * 1000).rounded()), $0.figures) }, uniquingKeysWith: { first, _ in first })
        let starts = (0..<(hourly ? 24 : days)).map { from + Int64($0) * width }
        func values(_ figure: (CostFigures) -> Double) -> [Double] { starts.map { figures[$0].map(figure) ?? 0 } }
        body += hourly ? "<h2>Per hour (UTC)</h2>" : "<h2>Per day (UTC)</h2>"
        body += Chart.bars("On-prem cost and cloud-equivalent per \(hourly ? "hour" : "day")",
                           categories: starts.map { hourly ? TimeText.utc.clock($0) : TimeText.utc.date($0) },
                           series: [.init(name: "on-prem cost", color: "#2f7d5b", values: values(\.onPremCost)),
                                    .init(name: "cloud-equivalent of local tokens", color: "#3d6fb6", values: values(\.cloudEquivalent)),
                                    .init(name: "cloud spend", color: "#c77d12", values: values(\.cloudSpend))],
                           unit: currency, time: true)

        body += "<h2>By model: local against the cloud</h2>"
        var columns = ["model", "tokens", "cached input"] + ["on-prem cost", "per M local", "cloud-equivalent per M", "savings", "cloud spend"].map { "\($0) (\(currency))" }
            + ["unpriced tokens"]
        if carbon { columns.append("gCO2e per M") }
        body += HTML.table(columns, report(["model"]).map { row in
            let model = row.labels["model"]
            let key = "model.\(model ?? "")"
            var cells = [
                HTML.escape(model ?? "(idle hours)"), HTML.figure("\(key).tokens", row.figures.tokens.all, .number(decimals: 0)),
                HTML.figure("\(key).cached_input", row.figures.tokens.cachedInput, .number(decimals: 0)),
                HTML.figure("\(key).on_prem_cost", row.figures.onPremCost, amount),
                HTML.figure("\(key).cost_per_million_tokens", row.figures.costPerMillionTokens, amount),
                HTML.figure("\(key).cloud_equivalent_per_million_tokens", row.figures.cloudEquivalentPerMillionTokens, amount),
                HTML.figure("\(key).savings", row.figures.savings, amount), HTML.figure("\(key).cloud_spend", row.figures.cloudSpend, amount),
                HTML.figure("\(key).unpriced_tokens", row.figures.unpricedTokens, .number(decimals: 0)),
            ]
            if carbon { cells.append(HTML.figure("\(key).gco2e_per_million_tokens", row.figures.gco2ePerMillionTokens, .grams)) }
            return cells
        }, numeric: Set(1..<columns.count), id: "by-model", empty: "No ledger hours in this window yet.")

        // Models served by prefill and decode pools: each phase's tokens and the cost of its nodes.
        let phases = report(["model", "role"]).filter { $0.labels["role"] != nil }
        if !phases.isEmpty {
            body += "<h2>By phase: prefill and decode pools</h2>"
            body += HTML.table(["model", "phase", "input", "cached input", "output", "on-prem cost (\(currency))", "cloud-equivalent (\(currency))"], phases.map { row in
                let key = "phase.\(row.labels["model"] ?? "").\(row.labels["role"] ?? "")"
                return [HTML.escape(row.labels["model"] ?? ""), HTML.escape(row.labels["role"] ?? ""),
                        HTML.figure("\(key).input", row.figures.tokens.input, .number(decimals: 0)),
                        HTML.figure("\(key).cached_input", row.figures.tokens.cachedInput, .number(decimals: 0)),
                        HTML.figure("\(key).output", row.figures.tokens.output, .number(decimals: 0)),
                        HTML.figure("\(key).on_prem_cost", row.figures.onPremCost, amount),
                        HTML.figure("\(key).cloud_equivalent", row.figures.cloudEquivalent, amount)]
            }, numeric: [2, 3, 4, 5, 6], id: "by-phase")
        }

        body += "<h2>By team</h2>"
        body += HTML.table(["team", "tokens"] + ["cost", "on-prem", "cloud spend"].map { "\($0) (\(currency))" }, report(["team"]).map { row in
            let team = row.labels["team"]
            let key = "team.\(team ?? "")"
            return [HTML.escape(team ?? "(no team)"), HTML.figure("\(key).tokens", row.figures.tokens.all, .number(decimals: 0)),
                    HTML.figure("\(key).cost", row.figures.cost, amount), HTML.figure("\(key).on_prem_cost", row.figures.onPremCost, amount),
                    HTML.figure("\(key).cloud_spend", row.figures.cloudSpend, amount)]
        }, numeric: [1, 2, 3, 4], id: "by-team")

        body += "<h2>By node: energy and idle burn</h2>"
        body += HTML.table(["node", "kWh", "energy sources"] + ["on-prem cost", "idle cost", "savings"].map { "\($0) (\(currency))" }, report(["node"]).map { row in
            let node = row.labels["node"] ?? ""
            let key = "node.\(node)"
            return [HTML.escape(node), HTML.figure("\(key).kwh", (row.figures.kwh ?? 0) + (row.figures.kwhEstimated ?? 0), .number(decimals: 2)),
                    HTML.escape((row.figures.energySources ?? []).joined(separator: ", ")),
                    HTML.figure("\(key).on_prem_cost", row.figures.onPremCost, amount), HTML.figure("\(key).idle_cost", row.figures.idleCost, amount),
                    HTML.figure("\(key).savings", row.figures.savings, amount)]
        }, numeric: [1, 3, 4, 5], id: "by-node")
        return HTML.page(.costs, subtitle: days == 1 ? "Today (UTC) so far, in \(currency)" : "The last \(days) days (UTC), today's so far included, in \(currency)", body: body,
                         attributes: ["from": "\(Double(from) / 1000)", "to": "\(Double(to) / 1000)"])
    }
}
