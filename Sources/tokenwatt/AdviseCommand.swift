import ArgumentParser
import Foundation

/// `tokenwatt advise`: the burst advisor's recommendation for each local model, its reasons,
/// and the figures per node behind it.
struct AdviseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advise", abstract: "Keep local, overflow to the cloud, or consolidate: the advice per model.",
        discussion: """
            Without --window the aggregator's latest advice (measured every cost interval over advice.window); with it, measured now.
            marginal: what the next million tokens cost now (the energy they add); average: the ledger's cost per million over the window;
            cloud: the shadow cloud model's price of the same mix; capacity: tokens/s where the queue grew.
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
        let data = try await APIClient.get(APIClient.url(aggregator.baseURL, "/api/v1/advice", query: query), aggregator)
        guard let object = data as? [String: Any], let advice = object["recommendations"] as? [[String: Any]] else { throw ExitCode(1) }
        let currency = object["currency"] as? String ?? ""
        var table = Table(columns: ["model", "action", "node", "tokens/s", "capacity", "headroom", "queue", "watts",
                                    "marginal \(currency)/M", "average \(currency)/M", "cloud \(currency)/M"])
        for recommendation in advice {
            for node in recommendation["nodes"] as? [[String: Any]] ?? [] {
                table.rows.append([
                    recommendation["model"] as? String ?? "?", recommendation["action"] as? String ?? "?", node["node"] as? String ?? "?",
                    Table.number(node["tokens_per_second"], decimals: 1), Table.number(node["capacity_tokens_per_second"], decimals: 1),
                    Table.number(node["headroom_tokens_per_second"], decimals: 1), Table.number(node["queue"], decimals: 1),
                    Table.number(node["watts"], decimals: 0), Table.number(node["marginal_cost_per_million_tokens"], decimals: 4),
                    Table.number(node["average_cost_per_million_tokens"], decimals: 4), Table.number(node["cloud_price_per_million_tokens"], decimals: 4),
                ])
            }
        }
        print(table.render(format, json: Table.json(object)), terminator: "")
        guard format == .table else { return }
        for recommendation in advice {
            let reasons = (recommendation["reasons"] as? [String] ?? []).joined(separator: "; ")
            print("\(recommendation["model"] as? String ?? "?"): \(recommendation["action"] as? String ?? "?") — \(reasons)")
        }
        for node in object["idle_nodes"] as? [[String: Any]] ?? [] {
            print("\(node["node"] as? String ?? "?"): served no model in the window; powering it off saves \(Table.number(node["savings_per_month"])) \(currency) a month")
        }
    }
}
