import Foundation
import TokenWattCore

extension WebOverview {
    /// Nodes and GPUs now (`/api/v1/fleet`), and the fleet's energy by hour over the last day.
    func fleetPage() async throws -> String {
        let now = now()
        let status = try await fleet.status()
        let nodes = status.nodes
        let up = nodes.filter(\.up).count
        let watts = nodes.compactMap(\.watts)
        let utilisation = nodes.compactMap(\.gpuUtilisation)
        var body = "<div class=\"cards\">"
        body += HTML.card("Nodes up", HTML.figure("fleet.nodes_up", Double(up), .number(decimals: 0)), note: "of \(nodes.count) known")
        body += HTML.card("GPUs", HTML.figure("fleet.gpus", Double(nodes.reduce(0) { $0 + $1.gpus }), .number(decimals: 0)))
        let estimated = nodes.filter { $0.powerSource == HourCosts.estimatedSource }.count
        body += HTML.card("Power now", HTML.figure("fleet.power_watts", watts.isEmpty ? nil : watts.reduce(0, +), .watts),
                          note: estimated == 0 ? "" : "\(estimated) node\(estimated == 1 ? "" : "s") estimated: no power sensor")
        body += HTML.card("Mean GPU utilisation", HTML.figure("fleet.gpu_utilization", utilisation.isEmpty ? nil : utilisation.reduce(0, +) / Double(utilisation.count), .percent))
        body += HTML.card("Tokens per second", HTML.figure("fleet.tokens_per_second", nodes.reduce(0) { $0 + $1.tokensPerSecond }, .number(decimals: 1)))
        body += "</div>"

        let firstHour = TimeBucket.current(at: now, width: Milliseconds.hour) - 23 * Milliseconds.hour
        body += "<h2>Energy by hour, last 24 hours (UTC)</h2>"
        body += try await fromLedger("fleet energy \(firstHour)") {
            var kWh = Array(repeating: 0.0, count: 24)
            for row in try await ledger.nodeHours(from: firstHour, to: now) { kWh[Int((row.hour - firstHour) / Milliseconds.hour)] += row.joules / 3.6e6 }
            return Chart.bars("Fleet energy by hour", categories: (0..<24).map { TimeText.utc.clock(firstHour + Int64($0) * Milliseconds.hour) },
                              series: [.init(name: "measured and estimated", color: "#2f7d5b", values: kWh)], unit: "kWh", time: true)
        }

        body += "<h2>Nodes</h2>"
        body += HTML.table(["node", "agent", "GPUs", "power", "GPU utilisation", "hottest GPU", "CPU utilisation", "tokens/s", "models", "last push"],
                           nodes.map { node in
                               let key = "node.\(node.node)"
                               return [
                                   HTML.escape(node.node), HTML.badge(node.up ? "up" : "down", node.up ? "up" : "down"),
                                   HTML.figure("\(key).gpus", Double(node.gpus), .number(decimals: 0)),
                                   HTML.figure("\(key).power_watts", node.watts, .watts)
                                       + (node.powerSource == HourCosts.estimatedSource
                                           ? " <abbr class=\"estimated\" title=\"estimated from CPU utilisation: no power sensor\">est.</abbr>" : ""),
                                   HTML.figure("\(key).gpu_utilization", node.gpuUtilisation, .percent),
                                   HTML.figure("\(key).gpu_temperature_max_celsius", node.hottestGPU, .number(decimals: 0)) + (node.hottestGPU == nil ? "" : " °C"),
                                   HTML.figure("\(key).cpu_utilization", node.cpuUtilisation, .percent),
                                   HTML.figure("\(key).tokens_per_second", node.tokensPerSecond, .number(decimals: 1)),
                                   HTML.escape(node.models.sorted().joined(separator: ", ")),
                                   node.lastPushMs.map { HTML.time($0) } ?? "never",
                               ]
                           }, numeric: [2, 3, 4, 5, 6, 7], id: "nodes", empty: "No node has pushed yet: start an agent (tokenwatt-agent --aggregator ...).")
        return HTML.page(.fleet, subtitle: "\(up) of \(nodes.count) nodes up", at: now, body: body)
    }
}
