import Foundation
import TokenWattAPI
import TokenWattCore

/// The groups of `/api/v1/costs` as `tokenwatt report` prints them: an aligned table, or CSV
/// with stable column names.
struct CostRows {
    let window: (from: Int64, to: Int64)
    let labels: [String]
    let report: CostsResponse

    private var currency: String { report.currency }
    private var rows: [CostGroup] { report.groups }

    /// The CSV columns, in order: the bucket, the grouping labels, then the figures.
    static let figureColumns = [
        "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "tokens", "requests", "unpriced_tokens",
        "kwh", "kwh_estimated", "energy_sources", "on_prem_cost", "cloud_spend", "cost", "cloud_equivalent", "savings", "idle_cost",
        "cost_per_million_tokens", "currency", "gco2e", "gco2e_per_million_tokens",
    ]

    func csv() -> String {
        var table = Table(columns: ["period_start", "period_end"] + labels + CostRows.figureColumns)
        for row in rows {
            let figures = row.figures, plain = FOCUSExport.plain
            let cells: [String] = [
                plain(figures.tokens.input), plain(figures.tokens.cachedInput), plain(figures.tokens.output),
                plain(figures.tokens.reasoning), plain(figures.tokens.all), plain(figures.requests), plain(figures.unpricedTokens),
                plain(figures.kwh), plain(figures.kwhEstimated), (figures.energySources ?? []).joined(separator: " "), plain(figures.onPremCost),
                plain(figures.cloudSpend), plain(figures.cost), plain(figures.cloudEquivalent), plain(figures.savings), plain(figures.idleCost),
                plain(figures.costPerMillionTokens), currency, plain(figures.gco2e), plain(figures.gco2ePerMillionTokens),
            ]
            let bucket = row.bucket(within: window)
            table.rows.append([time(bucket.start), time(bucket.end)] + labels.map { row.labels[$0] ?? "" } + cells)
        }
        return table.csv
    }

    func table() -> String {
        let bucketed = rows.contains { row in
            let bucket = row.bucket(within: window)
            return bucket.start != window.from || bucket.end != window.to
        }
        let carbon = rows.contains { $0.figures.gco2e != nil }
        var table = Table(columns: (bucketed ? ["from"] : []) + [labels.joined(separator: "/"), "tokens", "cached input", "kWh", "kWh estimated", "energy",
                                                                "cost \(currency)", "per M tokens", "cloud-equivalent", "savings", "unpriced tokens"]
                              + (carbon ? ["gCO2e", "gCO2e per M"] : []))
        for row in rows {
            let name = row.labels.isEmpty ? "(idle, unattributed)" : labels.map { row.labels[$0] ?? "-" }.joined(separator: "/")
            let figures = row.figures, sources = figures.energySources ?? []
            table.rows.append((bucketed ? [time(row.bucket(within: window).start)] : []) + [
                name, String(format: "%.0f", figures.tokens.all), String(format: "%.0f", figures.tokens.cachedInput), Table.number(figures.kwh, decimals: 3), Table.number(figures.kwhEstimated, decimals: 3),
                sources.isEmpty ? "-" : sources.joined(separator: " "), Table.number(figures.cost),
                Table.number(figures.costPerMillionTokens, decimals: 4), Table.number(figures.cloudEquivalent), Table.number(figures.savings),
                figures.unpricedTokens > 0 ? String(format: "%.0f", figures.unpricedTokens) : "-",
            ] + (carbon ? [Table.number(figures.gco2e, decimals: 0), Table.number(figures.gco2ePerMillionTokens, decimals: 1)] : []))
        }
        return table.text
    }

    /// FOCUS 1.x rows of the same report, with `tags` as their tags.
    func focus(tags: [String]) -> String {
        var table = Table(columns: FOCUSExport.columns)
        table.rows = FOCUSExport(report: report, window: window, tags: tags).rows()
        return table.csv
    }

    /// RFC 3339 in UTC.
    private func time(_ milliseconds: Int64) -> String {
        TimeBounds.rfc3339(milliseconds)
    }
}
