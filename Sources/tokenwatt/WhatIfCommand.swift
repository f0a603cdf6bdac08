import ArgumentParser
import Foundation
import TokenWattAPI
import TokenWattCore

/// `tokenwatt whatif`: a past period's ledger re-run with changed prices or shifted tokens,
/// beside today's.
struct WhatIfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whatif", abstract: "Re-run a past period's ledger with changed assumptions, beside today's.",
        discussion: """
            --set changes any pricing key of the aggregator's config for the run (a YAML value): electricity.price_per_kwh=0.22,
            electricity.pue=1.3, electricity.tariffs=[] (tariffs win over price_per_kwh in their hours), carbon.intensity_g_per_kwh=250,
            node_classes[0].life_years=5, cloud_prices[0].output=8.
            --shift MODEL=30% moves that share of a local model's tokens (MODEL a regular expression) to the cloud model that shadows it,
            with their energy above the node's idle power (its lowest hourly mean in the period); capex and overhead stay.
            MODEL=-30% brings that share of a cloud model's tokens back to the local model it shadows.
            """)

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "Start (RFC 3339 or Unix seconds; default 24 hours before --to).")
    var from: String?

    @Option(help: "End (RFC 3339 or Unix seconds; default now).")
    var to: String?

    @Option(help: "KEY=VALUE: a pricing key and its value for the run (repeatable).")
    var set: [String] = []

    @Option(help: "MODEL=PERCENT%: a share of a model's tokens to the cloud, or back when negative (repeatable).")
    var shift: [String] = []

    @Option(help: "Group by these labels, comma-separated.")
    var by = "model"

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        guard !set.isEmpty || !shift.isEmpty else { throw ValidationError("nothing to change: give --set KEY=VALUE or --shift MODEL=PERCENT%") }
        var query = [("by", by)] + set.map { ("set", $0) } + shift.map { ("shift", $0) }
        for (name, value) in [("from", from), ("to", to)] {
            guard let value else { continue }
            guard let milliseconds = TimeBounds.milliseconds(parsing: value) else { throw ValidationError("--\(name) expects RFC 3339 or Unix seconds, got \(value)") }
            query.append((name, String(Double(milliseconds) / 1000)))
        }
        let response = try await APIClient.get(APIClient.url(aggregator.baseURL, "/api/v1/whatif", query: query), aggregator, as: WhatIfResponse.self)
        let labels = by.split(separator: ",").map(String.init)
        var table = Table(columns: labels + ["figure", "today", "what-if", "difference"])
        func add(_ names: [String], _ before: CostFigures?, _ after: CostFigures?) {
            for figure in WhatIfCommand.figures {
                let (old, new) = (before.flatMap { figure.value($0) }, after.flatMap { figure.value($0) })
                guard old != nil || new != nil else { continue }
                let difference = new.map { $0 - (old ?? 0) }
                table.rows.append(names + [figure.name, Table.number(old), Table.number(new), Table.number(difference)])
            }
        }
        add(labels.map { _ in "(all)" }, response.today.totals, response.whatif.totals)
        func key(_ group: CostGroup) -> [String] { labels.map { group.labels[$0] ?? "" } }
        let beforeGroups = Dictionary(response.today.groups.map { (key($0), $0.figures) }, uniquingKeysWith: { first, _ in first })
        let afterGroups = Dictionary(response.whatif.groups.map { (key($0), $0.figures) }, uniquingKeysWith: { first, _ in first })
        for names in Set(beforeGroups.keys).union(afterGroups.keys).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            add(names, beforeGroups[names], afterGroups[names])
        }
        print(table.render(format, json: Table.json(encoding: response)), terminator: "")
        if format == .table, response.stayedOnCloudTokens > 0 {
            print("\(Int(response.stayedOnCloudTokens)) tokens stayed on the cloud: no local model they are the shadow of served in their hours")
        }
    }

    /// The figures compared, by the names the API gives them.
    private static let figures: [(name: String, value: @Sendable (CostFigures) -> Double?)] = [
        ("cost", \.cost), ("on_prem_cost", \.onPremCost), ("cloud_spend", \.cloudSpend), ("cloud_equivalent", \.cloudEquivalent),
        ("savings", \.savings), ("kwh", \.kwh), ("gco2e", \.gco2e),
    ]
}
