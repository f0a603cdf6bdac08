import Foundation
import TokenWattCore
import TokenWattStore

extension WebOverview {
    /// The metering gateways: requests by node, route and outcome (their pushed
    /// `tokenwatt_gateway_requests_total`), denials apart, and the tokens and cost by caller of
    /// the last 7 UTC days (the ledger's gateway streams by their callers' labels, from its days).
    func gatewayPage() async throws -> String {
        let now = now()
        let requests = try fleet.latest(.gatewayRequests)
        var byRoute: [[String]: [String: Double]] = [:]
        for (labels, sample) in requests where sample.value.isFinite {
            byRoute[[labels["node"] ?? "", labels["route"] ?? ""], default: [:]][labels["outcome"] ?? "", default: 0] += sample.value
        }
        let refusals = WebOverview.denials
        var body = "<div class=\"cards\">"
        body += HTML.card("Requests", HTML.figure("gateway.requests", byRoute.values.flatMap(\.values).reduce(0, +), .number(decimals: 0)))
        body += HTML.card("Denied", HTML.figure("gateway.denied", byRoute.values.reduce(0) { sum, outcomes in
            sum + outcomes.filter { refusals.contains($0.key) }.values.reduce(0, +)
        }, .number(decimals: 0)), note: refusals.sorted().joined(separator: ", "))
        body += "</div><h2>Requests by route</h2>"
        let outcomes = Set(byRoute.values.flatMap(\.keys)).sorted()
        body += HTML.table(["node", "route"] + outcomes, byRoute.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { key in
            [HTML.escape(key[0]), HTML.escape(key[1])] + outcomes.map { outcome in
                HTML.figure("gateway.\(key[0]).\(key[1]).\(outcome)", byRoute[key]?[outcome] ?? 0, .number(decimals: 0))
            }
        }, numeric: Set(2..<(2 + outcomes.count)), id: "routes", empty: "No gateway has reported: enable gateway: in an agent's config.")

        body += "<h2>Callers, last 7 days (UTC)</h2>"
        body += try await fromLedger("gateway callers") {
            let ledger = try await self.ledger.days(from: TimeBucket.current(at: now, width: Milliseconds.day) - 6 * Milliseconds.day, to: now)
            var callers: [String: (tokens: Double, cost: Double)] = [:]
            for row in ledger.usage where StreamKind(source: row.source).isThroughGateway {
                let caller = WebOverview.labelText(row.labels)
                let sum = callers[caller] ?? (0, 0)
                callers[caller] = (sum.tokens + row.tokens, sum.cost + row.cost)
            }
            return HTML.table(["caller", "tokens", "cost (\(currency))"], callers.sorted { $0.value.cost > $1.value.cost }.map { caller, sum in
                [HTML.escape(caller), HTML.figure("caller.\(caller).tokens", sum.tokens, .number(decimals: 0)), HTML.figure("caller.\(caller).cost", sum.cost, .number(decimals: 2))]
            }, numeric: [1, 2], id: "callers", empty: "No tokens through a gateway in the last 7 days.")
        }
        return HTML.page(.gateway, subtitle: "Requests since each gateway started, callers over the last 7 days", body: body)
    }

    /// Outcomes that refused a caller (the gateway's `outcome` label).
    static let denials: Set<String> = ["budget_exceeded", "runaway", "rate_limited", "unpriced", "aggregator_unreachable", "unauthorized"]
}
