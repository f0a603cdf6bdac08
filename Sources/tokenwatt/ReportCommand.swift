import ArgumentParser
import Foundation

/// `tokenwatt report`: tokens, kWh, cost, cost per million tokens, cloud-equivalent and savings
/// over a period, grouped by node, model, team, provider or any label.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Costs and tokens over a period, grouped.")

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "The period: the last day, week or month, or a duration such as 6h or 30d.")
    var period = "day"

    @Option(help: "Start (RFC 3339 or Unix seconds); overrides --period.")
    var from: String?

    @Option(help: "End (RFC 3339 or Unix seconds; default now).")
    var to: String?

    @Option(help: "Group by these labels, comma-separated: node, model, team, provider, ...")
    var by = "node"

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        let durations = ["day": "86400", "week": "604800", "month": "2592000"]
        var query = "by=\(by)"
        if let to { query += "&to=\(to)" }
        if let from {
            query += "&from=\(from)"
        } else {
            let seconds: Double
            if let fixed = durations[period].flatMap(Double.init) {
                seconds = fixed
            } else if let parsed = Self.seconds(period) {
                seconds = parsed
            } else {
                throw ValidationError("--period expects day, week, month or a duration such as 6h, got \(period)")
            }
            let end = to.flatMap(Double.init) ?? Date().timeIntervalSince1970
            query += "&from=\(end - seconds)"
        }
        let data = try await APIClient.get("\(aggregator.baseURL)/api/v1/costs?\(query.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? query)")
        guard let object = data as? [String: Any], let groups = object["groups"] as? [[String: Any]] else { throw ExitCode(1) }
        let currency = object["currency"] as? String ?? "USD"
        var table = Table(columns: [by, "tokens", "kWh", "cost \(currency)", "per M tokens", "cloud-equivalent", "savings"])
        for group in groups {
            let labels = group["labels"] as? [String: String] ?? [:]
            let name = labels.isEmpty ? "(idle, unattributed)" : by.split(separator: ",").map { labels[String($0)] ?? "-" }.joined(separator: "/")
            let tokens = group["tokens"] as? [String: Double] ?? [:]
            table.rows.append([
                name, String(format: "%.0f", (tokens["input"] ?? 0) + (tokens["output"] ?? 0)), Table.number(group["kwh"], decimals: 3),
                Table.number(group["cost"]), Table.number(group["cost_per_million_tokens"], decimals: 4),
                Table.number(group["cloud_equivalent"]), Table.number(group["savings"]),
            ])
        }
        print(table.render(format, json: object), terminator: "")
    }

    /// `6h`, `30d`, `90m` in seconds.
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Double(text.dropLast()), count > 0 else { return nil }
        return count * unit
    }
}
