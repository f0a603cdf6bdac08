import Hummingbird
import TokenWattCore
import TokenWattStore

/// `GET /api/v1/costs?from=&to=&by=node|model|team|provider|...`: the ledger hours that
/// start in `[from, to)` (default: the last 24 hours), grouped by the labels in `by` (default
/// `node`). Each group: tokens by type, requests, on-prem cost (its share of node costs),
/// cloud spend (usage-API tokens at their prices), cloud-equivalent of its local tokens,
/// savings, cost per million tokens; grouped by node alone also kWh, the cost components
/// and idle cost. Grouped by anything else, the cost of idle hours is the group with no labels.
struct CostsHandler: Sendable {
    let engine: CostEngine
    let now: @Sendable () -> Int64

    private struct Group {
        var labels: [String: String]
        var tokens: [String: Double] = [:]
        var localTokens = 0.0, cloudTokens = 0.0, requests = 0.0
        var localCost = 0.0, cloudSpend = 0.0, cloudEquivalent = 0.0
        var joules = 0.0, energy = 0.0, capex = 0.0, overhead = 0.0, idle = 0.0
        var energySources: Set<String> = []
    }

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let to = try QueryParameters.time(parameters["to"], name: "to", default: now())
            let from = try QueryParameters.time(parameters["from"], name: "from", default: to - 24 * CostEngine.hourMs)
            guard from < to else { throw QueryError("from must be before to") }
            let by = try QueryParameters.labelNames(parameters["by"], fallback: ["node"])
            let ledger = try await engine.store.ledger(from: from, to: to)
            let byNode = by.allSatisfy { $0 == "node" }
            var groups: [[String]: Group] = [:]
            var localTokens: [String: Double] = [:]
            for row in ledger.usage {
                let values = by.map { CostsHandler.value(of: $0, in: row) }
                var group = groups[values] ?? Group(labels: CostsHandler.labels(by, values))
                group.tokens["input", default: 0] += row.input
                group.tokens["cached_input", default: 0] += row.cachedInput
                group.tokens["output", default: 0] += row.output
                group.tokens["reasoning", default: 0] += row.reasoning
                group.requests += row.requests
                if row.source == HourCosts.cloudSource {
                    group.cloudSpend += row.cost
                    group.cloudTokens += row.tokens
                } else {
                    group.localCost += row.cost
                    group.localTokens += row.tokens
                    group.cloudEquivalent += row.cloudEquivalent
                    localTokens["\(row.node) \(row.hour)", default: 0] += row.tokens
                }
                groups[values] = group
            }
            for row in ledger.nodes {
                let idle = (localTokens["\(row.node) \(row.hour)"] ?? 0) == 0
                let values = byNode ? by.map { _ in row.node } : by.map { _ in "" }
                guard byNode || idle else { continue }
                var group = groups[values] ?? Group(labels: CostsHandler.labels(by, values))
                if byNode {
                    group.energySources.insert(row.energySource)
                    group.joules += row.joules
                    group.energy += row.energyCost
                    group.capex += row.capexCost
                    group.overhead += row.overheadCost
                }
                if idle {
                    group.idle += row.cost
                    if !byNode { group.localCost += row.cost }
                }
                groups[values] = group
            }
            let rows = groups.values.map { group -> (cost: Double, row: [String: Any]) in
                // By node, the on-prem cost is the node's whole cost, idle hours included.
                let onPrem = byNode ? group.energy + group.capex + group.overhead : group.localCost
                var row: [String: Any] = [
                    "labels": group.labels, "tokens": group.tokens, "requests": group.requests,
                    "cost": onPrem + group.cloudSpend, "on_prem_cost": onPrem, "cloud_spend": group.cloudSpend,
                    "cloud_equivalent": group.cloudEquivalent, "savings": group.cloudEquivalent - onPrem,
                ]
                if group.localTokens > 0 { row["cost_per_million_tokens"] = onPrem / group.localTokens * 1e6 }
                if group.cloudTokens > 0 { row["cloud_cost_per_million_tokens"] = group.cloudSpend / group.cloudTokens * 1e6 }
                if byNode {
                    row["kwh"] = group.joules / 3.6e6
                    row["energy_sources"] = group.energySources.sorted()
                    row["components"] = ["energy": group.energy, "capex": group.capex, "overhead": group.overhead]
                    row["idle_cost"] = group.idle
                } else if group.labels.isEmpty && group.idle > 0 {
                    row["idle_cost"] = group.idle
                }
                return (onPrem + group.cloudSpend, row)
            }.sorted { $0.cost > $1.cost }
            return APIResponse.success([
                "from": Double(from) / 1000, "to": Double(to) / 1000, "by": by, "currency": engine.pricing.currency,
                "groups": rows.map(\.row), "total": rows.map(\.cost).reduce(0, +),
            ])
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }

    static func value(of label: String, in row: LedgerUsageHour) -> String {
        switch label {
        case "node": row.node
        case "source": row.source
        case "provider": row.provider
        case "model": row.model
        default: row.labels[label] ?? ""
        }
    }

    static func labels(_ names: [String], _ values: [String]) -> [String: String] {
        Dictionary(zip(names, values).filter { !$0.1.isEmpty }, uniquingKeysWith: { first, _ in first })
    }
}
