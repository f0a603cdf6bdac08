import Foundation
import TokenWattCore

/// The groups of `/api/v1/costs` as `tokenwatt report` prints them: an aligned table, or CSV
/// with stable column names.
struct CostRows {
    struct Row {
        var start: Int64, end: Int64
        var labels: [String: String]
        var tokens: [String: Double]
        var requests, unpricedTokens, onPremCost, cloudSpend, cost, cloudEquivalent, savings: Double
        var kwh, kwhEstimated, idleCost, costPerMillion: Double?
        /// Grams of CO2e, where the aggregator counts them (`carbon:`).
        var gco2e, gco2ePerMillion: Double?
        var energySources: [String]

        var allTokens: Double { (tokens["input"] ?? 0) + (tokens["output"] ?? 0) }
    }

    let window: (from: Int64, to: Int64)
    let labels: [String]
    let currency: String
    let rows: [Row]

    init(window: (from: Int64, to: Int64), labels: [String], currency: String, groups: [[String: Any]]) {
        self.window = window
        self.labels = labels
        self.currency = currency
        rows = groups.map { group in
            func number(_ key: String) -> Double? { (group[key] as? Double) ?? (group[key] as? Int).map(Double.init) }
            return Row(start: number("start").map { Int64(($0 * 1000).rounded()) } ?? window.from,
                       end: number("end").map { Int64(($0 * 1000).rounded()) } ?? window.to,
                       labels: group["labels"] as? [String: String] ?? [:],
                       tokens: (group["tokens"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? Double) ?? ($0 as? Int).map(Double.init) },
                       requests: number("requests") ?? 0, unpricedTokens: number("unpriced_tokens") ?? 0,
                       onPremCost: number("on_prem_cost") ?? 0, cloudSpend: number("cloud_spend") ?? 0, cost: number("cost") ?? 0,
                       cloudEquivalent: number("cloud_equivalent") ?? 0, savings: number("savings") ?? 0,
                       kwh: number("kwh"), kwhEstimated: number("kwh_estimated"), idleCost: number("idle_cost"), costPerMillion: number("cost_per_million_tokens"),
                       gco2e: number("gco2e"), gco2ePerMillion: number("gco2e_per_million_tokens"), energySources: group["energy_sources"] as? [String] ?? [])
        }
    }

    /// The CSV columns, in order: the bucket, the grouping labels, then the figures.
    static let figureColumns = [
        "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "tokens", "requests", "unpriced_tokens",
        "kwh", "kwh_estimated", "energy_sources", "on_prem_cost", "cloud_spend", "cost", "cloud_equivalent", "savings", "idle_cost",
        "cost_per_million_tokens", "currency", "gco2e", "gco2e_per_million_tokens",
    ]

    func csv() -> String {
        var table = Table(columns: ["period_start", "period_end"] + labels + CostRows.figureColumns)
        for row in rows {
            let figures: [String] = [
                CostRows.plain(row.tokens["input"]), CostRows.plain(row.tokens["cached_input"]), CostRows.plain(row.tokens["output"]),
                CostRows.plain(row.tokens["reasoning"]), CostRows.plain(row.allTokens), CostRows.plain(row.requests), CostRows.plain(row.unpricedTokens),
                CostRows.plain(row.kwh), CostRows.plain(row.kwhEstimated), row.energySources.joined(separator: " "), CostRows.plain(row.onPremCost), CostRows.plain(row.cloudSpend),
                CostRows.plain(row.cost), CostRows.plain(row.cloudEquivalent), CostRows.plain(row.savings), CostRows.plain(row.idleCost),
                CostRows.plain(row.costPerMillion), currency, CostRows.plain(row.gco2e), CostRows.plain(row.gco2ePerMillion),
            ]
            table.rows.append([CostRows.time(row.start), CostRows.time(row.end)] + labels.map { row.labels[$0] ?? "" } + figures)
        }
        return table.render(.csv, json: [:])
    }

    func table() -> String {
        let bucketed = rows.contains { $0.start != window.from || $0.end != window.to }
        let carbon = rows.contains { $0.gco2e != nil }
        var table = Table(columns: (bucketed ? ["from"] : []) + [labels.joined(separator: "/"), "tokens", "kWh", "kWh estimated", "energy",
                                                                "cost \(currency)", "per M tokens", "cloud-equivalent", "savings", "unpriced tokens"]
                              + (carbon ? ["gCO2e", "gCO2e per M"] : []))
        for row in rows {
            let name = row.labels.isEmpty ? "(idle, unattributed)" : labels.map { row.labels[$0] ?? "-" }.joined(separator: "/")
            table.rows.append((bucketed ? [CostRows.time(row.start)] : []) + [
                name, String(format: "%.0f", row.allTokens), Table.number(row.kwh, decimals: 3), Table.number(row.kwhEstimated, decimals: 3),
                row.energySources.isEmpty ? "-" : row.energySources.joined(separator: " "), Table.number(row.cost),
                Table.number(row.costPerMillion, decimals: 4), Table.number(row.cloudEquivalent), Table.number(row.savings),
                row.unpricedTokens > 0 ? String(format: "%.0f", row.unpricedTokens) : "-",
            ] + (carbon ? [Table.number(row.gco2e, decimals: 0), Table.number(row.gco2ePerMillion, decimals: 1)] : []))
        }
        return table.render(.table, json: [:])
    }

    /// A number as CSV carries it: whole numbers without a fraction, others with their digits; empty when unknown.
    static func plain(_ value: Double?) -> String {
        guard let value else { return "" }
        return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// RFC 3339 in UTC.
    static func time(_ milliseconds: Int64) -> String {
        TimeBounds.rfc3339(milliseconds)
    }
}
