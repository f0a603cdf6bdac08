import ArgumentParser
import Foundation
import TokenWattAPI

/// `tokenwatt advise`: the burst advisor's recommendation for each local model, its reasons,
/// and the figures per node behind it.
struct AdviseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advise", abstract: "Keep local, overflow to the cloud, or consolidate: the advice per model.",
        discussion: """
            Without --window the aggregator's latest advice (measured every cost interval over advice.window); with it, measured now.
            marginal: what the next million tokens cost now (the energy they add); average: the ledger's cost per million over the window;
            cloud: the shadow cloud model's price of the same mix; capacity: tokens/s where the queue grew.
            J/input, J/output: the node's joules per prompt token computed and per output token, fitted from its power (empty where input and output moved together).
            """)

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "The window to measure, such as 1h or 6h (default: the aggregator's advice.window).")
    var window: String?

    @Option(help: "The step of the window's buckets, such as 1m.")
    var step: String?

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        var query: [(String, String)] = []
        if let window { query.append(("window", window)) }
        if let step { query.append(("step", step)) }
        let advice = try await APIClient.get(APIClient.url(aggregator.baseURL, "/api/v1/advice", query: query), aggregator, as: AdviceResponse.self)
        let currency = advice.currency
        var table = Table(columns: ["model", "action", "node", "tokens/s", "capacity", "headroom", "queue", "watts",
                                    "J/input", "J/output", "marginal \(currency)/M", "average \(currency)/M", "cloud \(currency)/M"])
        for recommendation in advice.recommendations {
            for node in recommendation.nodes {
                table.rows.append([
                    recommendation.model, recommendation.action, node.node,
                    Table.number(node.tokensPerSecond, decimals: 1), Table.number(node.capacityTokensPerSecond, decimals: 1),
                    Table.number(node.headroomTokensPerSecond, decimals: 1), Table.number(node.queue, decimals: 1),
                    Table.number(node.watts, decimals: 0), Table.number(node.joulesPerInputToken, decimals: 4),
                    Table.number(node.joulesPerOutputToken, decimals: 4), Table.number(node.marginalCostPerMillionTokens, decimals: 4),
                    Table.number(node.averageCostPerMillionTokens, decimals: 4), Table.number(node.cloudPricePerMillionTokens, decimals: 4),
                ])
            }
        }
        print(table.render(format, json: Table.json(encoding: advice)), terminator: "")
        guard format == .table else { return }
        for recommendation in advice.recommendations {
            print("\(recommendation.model): \(recommendation.action) — \(recommendation.reasons.joined(separator: "; "))")
        }
        for node in advice.idleNodes {
            print("\(node.node): served no model in the window; powering it off saves \(Table.number(node.savingsPerMonth)) \(currency) a month")
        }
    }
}
