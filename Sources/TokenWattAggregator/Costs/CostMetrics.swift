import TokenWattCore
import TokenWattStore

/// The cost families of `/metrics`, from the ledger. Money is in the configured currency,
/// whose code is in the names (`MetricDescriptor.cost(currency:)`).
extension CostEngine: MetricsSource {
    /// Windows of `tokenwatt_cost_per_million_tokens_*`: the ledger hours that start in them.
    static let windows: [(label: String, ms: Int64)] = [("1h", Milliseconds.hour), ("24h", Milliseconds.day), ("7d", Milliseconds.week)]
    /// The window over which break-even rates are figured.
    static let breakEvenWindowMs: Int64 = Milliseconds.day

    /// The ledger's counters, by name: what was spent, the cloud-equivalent of local tokens,
    /// and the cost of idle hours, per node (and model).
    func counterSamples(_ totals: LedgerTotals) -> [ExpositionSample] {
        let currency = pricing.currency.lowercased()
        let nodes = totals.nodes.keys.sorted()
        let cost = MetricDescriptor.cost(currency: currency)
        let spent = nodes.flatMap { node -> [ExpositionSample] in
            let spent = totals.nodes[node]!
            // Energy money says how it was known: measured, or estimated from CPU utilisation.
            let energy = [("measured", spent.energy), ("estimated", spent.estimatedEnergy)].map {
                cost.sample([Label("component", "energy"), Label("method", $0.0), Label("node", node)], $0.1)
            }
            return energy + [("capex", spent.capex), ("overhead", spent.overhead), ("cloud_api", spent.cloudSpend)].map {
                cost.sample([Label("component", $0.0), Label("node", node)], $0.1)
            }
        }
        let equivalent = totals.cloudEquivalent.sorted { ($0.key.node, $0.key.model) < ($1.key.node, $1.key.model) }.map {
            MetricDescriptor.cloudEquivalent(currency: currency).sample([Label("model", $0.key.model), Label("node", $0.key.node)], $0.value)
        }
        let idle = nodes.map { MetricDescriptor.idleCost(currency: currency).sample([Label("node", $0)], totals.nodes[$0]!.idle) }
        let unpriced = totals.unpriced.sorted { $0.key < $1.key }.map {
            MetricDescriptor.unpricedTokens.sample([Label("model", $0.key)], $0.value)
        }
        return spent + equivalent + idle + unpriced
    }

    func families() async throws -> [MetricFamily] {
        guard let (totals, published) = currentState else { return [] }
        let currency = pricing.currency.lowercased()
        let counters = Dictionary(grouping: published.published(counterSamples(totals))) { $0.name }
        let savings = MetricDescriptor.savings(currency: currency)
        var families = [MetricDescriptor.cost(currency: currency), .cloudEquivalent(currency: currency), .idleCost(currency: currency), .unpricedTokens].map {
            $0.family(counters[$0.seriesName] ?? [])
        }
        families.append(savings.family(totals.nodes.keys.sorted().map {
            savings.sample([Label("node", $0)], totals.nodes[$0]!.cloudEquivalent - totals.nodes[$0]!.cost)
        }))
        // Each window holds the ledger hours that start in [now - window, now) (TimeBucket).
        let now = now()
        let week = try await ledger.hours(from: now - CostEngine.windows.last!.ms, to: now)
        let costPerMillion = MetricDescriptor.costPerMillionTokens(currency: currency)
        var perMillion: [ExpositionSample] = []
        for window in CostEngine.windows {
            let first = now - window.ms
            var cost: [LedgerTotals.NodeModel: Double] = [:]
            var tokens: [LedgerTotals.NodeModel: Double] = [:]
            for row in week.usage where row.hour >= first && !StreamKind.isCloudSpend(row.source) {
                let key = LedgerTotals.NodeModel(node: row.node, model: row.model)
                cost[key, default: 0] += row.cost
                tokens[key, default: 0] += row.tokens
            }
            for (key, count) in tokens.sorted(by: { ($0.key.node, $0.key.model) < ($1.key.node, $1.key.model) }) where count > 0 {
                perMillion.append(costPerMillion.sample([Label("model", key.model), Label("node", key.node), Label("window", window.label)],
                                                        cost[key, default: 0] / count * 1e6))
            }
        }
        families.append(costPerMillion.family(perMillion))
        families.append(MetricDescriptor.breakEvenTokensPerSecond.family(CostEngine.breakEven(week, from: now - CostEngine.breakEvenWindowMs)))
        return families
    }

    /// Per node: average cost per hour ÷ (cloud-equivalent per local token × 3600), over the
    /// ledger hours that start from `from` on; nodes without priced local tokens have none.
    static func breakEven(_ ledger: (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]), from: Int64) -> [ExpositionSample] {
        var cost: [String: Double] = [:], hours: [String: Set<Int64>] = [:], equivalent: [String: Double] = [:], tokens: [String: Double] = [:]
        for row in ledger.nodes where row.hour >= from {
            cost[row.node, default: 0] += row.cost
            hours[row.node, default: []].insert(row.hour)
        }
        for row in ledger.usage where row.hour >= from && !StreamKind.isCloudSpend(row.source) {
            equivalent[row.node, default: 0] += row.cloudEquivalent
            tokens[row.node, default: 0] += row.tokens
        }
        return cost.keys.sorted().compactMap { node in
            guard let count = tokens[node], count > 0, let value = equivalent[node], value > 0, let span = hours[node]?.count, span > 0 else { return nil }
            let pricePerToken = value / count
            return MetricDescriptor.breakEvenTokensPerSecond.sample([Label("node", node)], cost[node]! / Double(span) / (pricePerToken * 3600))
        }
    }
}
