import Foundation
import TokenWattCore

extension WebOverview {
    /// The advisor's last round (`/api/v1/advice`): per model its action, reasons and prices,
    /// per node its load, capacity and costs; nodes that served nothing.
    func advicePage() async throws -> String {
        let advice = try await advisor.current()
        let money = HTML.Format.money(currency)
        let carbon = pricing.carbon != nil
        var body = ""
        if !advice.recommendations.isEmpty {
            body += "<h2>Cost of the next million tokens</h2>"
            body += Chart.horizontalBars("Marginal and average cost against the cloud price, per model", rows: advice.recommendations.map { recommendation in
                let placements = recommendation.placements
                return (recommendation.model, [placements.compactMap(\.marginalCost).min(), placements.compactMap(\.averageCost).min(),
                                               placements.compactMap(\.cloudPrice).first])
            }, series: [("marginal (local, now)", "#2f7d5b"), ("average (local, ledger)", "#8fb9a4"), ("cloud price", "#3d6fb6")], unit: "\(currency) per M tokens")
        }
        if !advice.recommendations.isEmpty {
            body += "<p class=\"note\">Marginal: what the next million tokens add, the energy they draw at the electricity price (joules per "
                + "token from each node's power against its token rate). Average: the ledger's cost per million over the window, with the "
                + "hardware's capex and overhead, which are paid whether or not the tokens run here. The marginal cost decides where the "
                + "next tokens go. Capacity: the token rate at which the node's queue began to grow in the window; headroom: capacity "
                + "less the rate now.</p>"
        }
        for recommendation in advice.recommendations {
            let key = "advice.\(recommendation.model)"
            body += "<section class=\"recommendation\" data-model=\"\(HTML.escape(recommendation.model))\" data-action=\"\(recommendation.action.rawValue)\">"
            body += "<h3>\(HTML.escape(recommendation.model)) \(HTML.badge(recommendation.action.rawValue.replacingOccurrences(of: "_", with: " "), recommendation.action.rawValue))</h3>"
            body += "<ul>" + recommendation.reasons.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>"
            if let limit = recommendation.overflowAbove {
                body += "<p>Serve up to \(HTML.figure("\(key).overflow_above_tokens_per_second", limit, .number(decimals: 0))) tokens/s locally; send the rest to \(HTML.escape(recommendation.cloudModel ?? "the cloud")).</p>"
            }
            for candidate in recommendation.powerOff {
                body += "<p>Power off \(HTML.escape(candidate.node)): saves \(HTML.figure("\(key).power_off.\(candidate.node)", candidate.savingsPerMonth, money)) a month.</p>"
            }
            var columns = ["node", "tokens/s", "capacity (tokens/s)", "headroom (tokens/s)", "queue", "KV cache", "utilisation", "power", "J/token"]
                + ["marginal per M", "average per M", "cloud per M"].map { "\($0) (\(currency))" }
            if carbon { columns.append("gCO2e per M (marginal)") }
            body += HTML.table(columns, recommendation.placements.map { placement in
                let node = "\(key).\(placement.node)"
                var cells = [
                    HTML.escape(placement.node), HTML.figure("\(node).tokens_per_second", placement.tokensPerSecond, .number(decimals: 1)),
                    HTML.figure("\(node).capacity_tokens_per_second", placement.capacity, .number(decimals: 0)),
                    HTML.figure("\(node).headroom_tokens_per_second", placement.headroom, .number(decimals: 0)),
                    HTML.figure("\(node).queue", placement.queue, .number(decimals: 1)), HTML.figure("\(node).kv_cache_usage", placement.kvCacheUsage, .percent),
                    HTML.figure("\(node).utilization", placement.utilisation, .percent), HTML.figure("\(node).watts", placement.watts, .watts),
                    HTML.figure("\(node).joules_per_token", placement.joulesPerToken, .number(decimals: 3)) + (placement.fitted ? "" : " (average)"),
                    HTML.figure("\(node).marginal_cost_per_million_tokens", placement.marginalCost, .number(decimals: 3)),
                    HTML.figure("\(node).average_cost_per_million_tokens", placement.averageCost, .number(decimals: 3)),
                    HTML.figure("\(node).cloud_price_per_million_tokens", placement.cloudPrice, .number(decimals: 3)),
                ]
                if carbon { cells.append(HTML.figure("\(node).marginal_gco2e_per_million_tokens", placement.marginalGCO2e, .grams)) }
                return cells
            }, numeric: Set(1..<columns.count))
            body += "</section>"
        }
        // One row per node: the fit is the node's, whatever models share it.
        let nodes = Dictionary(advice.recommendations.flatMap(\.placements).map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        if !nodes.isEmpty {
            body += "<h2>Energy per phase</h2>"
            body += "<p>Joules per prompt token computed (cache hits left out) and per output token, from each node's power against its two rates; "
                + "all its energy per output token beside them, as published benchmarks count it.</p>"
            body += HTML.table(["node", "J/token (marginal)", "J/input token", "J/output token", "all J per output token", "fit", "R²"],
                               nodes.keys.sorted().map { node in
                let placement = nodes[node]!, key = "phase.\(node)"
                return [HTML.escape(node), HTML.figure("\(key).joules_per_token", placement.fitted ? placement.joulesPerToken : nil, .number(decimals: 3)),
                        HTML.figure("\(key).joules_per_input_token", placement.phaseEnergy?.joulesPerInputToken, .number(decimals: 4)),
                        HTML.figure("\(key).joules_per_output_token", placement.phaseEnergy?.joulesPerOutputToken, .number(decimals: 4)),
                        HTML.figure("\(key).average_joules_per_output_token", placement.averageJoulesPerOutputToken, .number(decimals: 3)),
                        HTML.escape((placement.phaseEnergy?.basis.rawValue ?? "no fit").replacingOccurrences(of: "_", with: " ")),
                        HTML.figure("\(key).power_fit_r_squared", placement.phaseEnergy?.rSquared, .number(decimals: 3))]
            }, numeric: [1, 2, 3, 4, 6], id: "energy-per-phase")
        }
        if advice.recommendations.isEmpty {
            body += "<p class=\"empty\">No local model served tokens in the window: the advisor needs an inference server's token counters.</p>"
        }
        if !advice.idleNodes.isEmpty {
            body += "<h2>Nodes that served no model</h2>"
            body += HTML.table(["node", "power-off saves a month"], advice.idleNodes.map {
                [HTML.escape($0.node), HTML.figure("idle.\($0.node).savings_per_month", $0.savingsPerMonth, money)]
            }, numeric: [1], id: "idle-nodes")
        }
        let window = NumberText.grouped(Double(advice.windowMs) / 60_000, decimals: 0)
        return HTML.page(.advice, subtitle: "Over the last \(window) minutes", at: advice.computedAtMs, body: body,
                         attributes: ["computed-at": "\(Double(advice.computedAtMs) / 1000)"])
    }
}
