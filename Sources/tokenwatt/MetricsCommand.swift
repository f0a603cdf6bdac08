import ArgumentParser
import TokenWattCore

/// `tokenwatt metrics`: every metric the agent, the gateway and the aggregator emit, from their descriptors,
/// as the Markdown tables of docs/metrics.md (a test holds the page to it).
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics",
                                                    abstract: "Every metric the agent, the gateway and the aggregator emit: name, type, labels and help, as Markdown.")

    @Option(help: "The currency code that money metrics carry in their names.")
    var currency = "USD"

    func run() {
        print(MetricsCommand.reference(currency: currency.lowercased()), terminator: "")
    }

    static func reference(currency: String) -> String {
        """
        The agent's families, on its `/metrics` and pushed (the aggregator adds `node`; token and
        request counts carry the configured attribution labels too):

        \(table(MetricDescriptor.agentFamilies))
        The gateway's, on its `/metrics` and pushed: the token, request, usage, spool, push and
        collector families above (its tokens with `source` `gateway` or `gateway_local`, by caller),
        and its own. A gateway's credential pushes these only:

        \(table(MetricDescriptor.gatewayOwnFamilies))
        The aggregator's own families, after the pushed series on its `/metrics`:

        \(table(MetricDescriptor.aggregatorFamilies(currency: currency)))
        A node may not push them: remote write refuses series that start with \(list(reserved.prefixes.map { $0 + "*" })), and \(list(reserved.names.sorted())).

        """
    }

    private static let reserved = MetricDescriptor.reservedForTheAggregator

    private static func list(_ names: [String]) -> String {
        names.map { "`\($0)`" }.joined(separator: ", ")
    }

    private static func table(_ descriptors: [MetricDescriptor]) -> String {
        let rows = descriptors.map { metric in
            let labels = metric.labels.isEmpty ? "" : "`" + metric.labels.joined(separator: "`, `") + "`"
            return "| `\(metric.seriesName)` | \(metric.type.rawValue) | \(labels) | \(metric.help.replacingOccurrences(of: "|", with: "\\|")) |"
        }
        return (["| metric | type | labels | help |", "|---|---|---|---|"] + rows).joined(separator: "\n") + "\n"
    }
}
