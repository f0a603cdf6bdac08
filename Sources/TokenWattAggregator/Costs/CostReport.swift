import Foundation
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// Ledger hours grouped by labels, and by bucket of time when asked (`step`): the figures of
/// `/api/v1/costs`, `tokenwatt report` and its CSV and FOCUS exports. Each group: tokens by
/// type, requests, on-prem cost (its share of node costs), cloud spend (usage-API tokens at
/// their prices), cloud-equivalent of its local tokens, savings, cost per million tokens, and
/// the tokens no price applies to; grouped by node alone also kWh, the energy sources, the
/// cost components and idle cost. Grouped by anything else, the cost of idle hours is the
/// group with no labels but the node's, where `node` is one of them. Energy estimated from CPU
/// utilisation (nodes without sensors) is kept apart from measured energy: `kwh_estimated` and
/// the `energy_estimated` component. With `carbon`, also grams of CO2e (`gco2e`, operational and
/// embodied by node) and grams per million local tokens, shared out as money is. With
/// `pricing`, the cost and cloud-equivalent of the tokens by how they are priced (uncached
/// input, cached input, output), for FOCUS's SKUs. Where GPUs were shared, the part of the
/// on-prem cost that is the GPU energy its servers drew (`gpu_share_cost`).
struct CostReport {
    /// Buckets of time, each holding the ledger hours that start in it (`TimeBucket`).
    enum Step: Sendable {
        case hour
        case calendar(CalendarPeriod)

        func bounds(ofHour hour: Int64) -> (start: Int64, end: Int64) {
            switch self {
            case .hour: (hour, hour + Milliseconds.hour)
            case .calendar(let period): period.bounds(at: hour)
            }
        }
    }

    private struct Group {
        var labels: [String: String]
        var bucket: (start: Int64, end: Int64)?
        var input = 0.0, cachedInput = 0.0, output = 0.0, reasoning = 0.0
        var localTokens = 0.0, cloudTokens = 0.0, requests = 0.0, unpricedTokens = 0.0
        var localCost = 0.0, cloudSpend = 0.0, cloudEquivalent = 0.0, gpuShareCost = 0.0
        /// Measured and estimated energy apart, in joules and money.
        var joules = 0.0, estimatedJoules = 0.0, energy = 0.0, estimatedEnergy = 0.0, capex = 0.0, overhead = 0.0, idle = 0.0
        /// Grams of CO2e of its local tokens (idle hours included where they are its own); by node, apart.
        var gco2e = 0.0, operationalGCO2e = 0.0, embodiedGCO2e = 0.0
        var energySources: Set<String> = []
        var costParts = TokenParts(), cloudEquivalentParts = TokenParts()
    }

    private struct GroupKey: Hashable {
        var bucket: Int64
        var values: [String]
    }

    let by: [String]
    let step: Step?
    /// Whether emissions are counted (`carbon:` in the config).
    var carbon = false
    /// The prices that split a group's money by token type; nil: not split.
    var pricing: Pricing?

    /// The groups of the ledger's rows, oldest bucket first, then by cost, largest first.
    func rows(_ ledger: (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])) -> [CostGroup] {
        let byNode = by.allSatisfy { $0 == "node" }
        var groups: [GroupKey: Group] = [:]
        var buckets: [Int64: (start: Int64, end: Int64)] = [:]  // a calendar's bounds, once per hour
        func update(hour: Int64, values: [String], _ change: (inout Group) -> Void) {
            var bucket: (start: Int64, end: Int64)?
            if let step {
                bucket = buckets[hour] ?? step.bounds(ofHour: hour)
                buckets[hour] = bucket
            }
            let key = GroupKey(bucket: bucket?.start ?? 0, values: values)
            // In place: a group copied out and back per row cost more than the sums.
            if let index = groups.index(forKey: key) {
                change(&groups.values[index])
            } else {
                var group = Group(labels: CostReport.labels(by, values), bucket: bucket)
                change(&group)
                groups[key] = group
            }
        }
        var idleHours = IdleHours()
        for row in ledger.usage {
            idleHours.count(row)
            update(hour: row.hour, values: by.map { CostReport.value(of: $0, in: row) }) { group in
                group.input += row.input
                group.cachedInput += row.cachedInput
                group.output += row.output
                group.reasoning += row.reasoning
                group.requests += row.requests
                if !row.priced { group.unpricedTokens += row.tokens }
                if let pricing { CostReport.splitByTokenType(row, pricing: pricing, into: &group) }
                if StreamKind.isCloudSpend(row.source) {
                    group.cloudSpend += row.cost
                    // Per million: of the tokens a price applied to.
                    if row.priced { group.cloudTokens += row.tokens }
                } else {
                    group.localCost += row.cost
                    group.gpuShareCost += row.gpuShareCost
                    group.localTokens += row.tokens
                    group.cloudEquivalent += row.cloudEquivalent
                    group.gco2e += row.gco2e
                }
            }
        }
        for row in ledger.nodes {
            // A day-summary row carries its idle part; an hour's row is idle without local tokens.
            let idleCost = row.idleCost ?? idleHours.idlePart(of: row.cost, node: row.node, hour: row.hour)
            let idleGCO2e = row.idleGCO2e ?? idleHours.idlePart(of: row.gco2e, node: row.node, hour: row.hour)
            guard byNode || idleCost != 0 || idleGCO2e != 0 else { continue }
            update(hour: row.hour, values: by.map { $0 == "node" ? row.node : "" }) { group in
                if byNode {
                    group.energySources.insert(row.energySource)
                    if row.energyIsEstimated {
                        group.estimatedJoules += row.joules
                        group.estimatedEnergy += row.energyCost
                    } else {
                        group.joules += row.joules
                        group.energy += row.energyCost
                    }
                    group.capex += row.capexCost
                    group.overhead += row.overheadCost
                    group.operationalGCO2e += row.operationalGCO2e
                    group.embodiedGCO2e += row.embodiedGCO2e
                }
                group.idle += idleCost
                if !byNode {
                    group.localCost += idleCost
                    group.gco2e += idleGCO2e
                }
            }
        }
        return groups.values.map { group -> (start: Int64, cost: Double, row: CostGroup) in
            // By node, the on-prem cost is the node's whole cost, idle hours included.
            let onPrem = byNode ? group.energy + group.estimatedEnergy + group.capex + group.overhead : group.localCost
            var figures = CostFigures(requests: group.requests,
                                      tokens: TokenCounts(input: group.input, cachedInput: group.cachedInput, output: group.output, reasoning: group.reasoning),
                                      cost: onPrem + group.cloudSpend, onPremCost: onPrem, cloudSpend: group.cloudSpend,
                                      cloudEquivalent: group.cloudEquivalent, savings: group.cloudEquivalent - onPrem, unpricedTokens: group.unpricedTokens)
            if group.localTokens > 0 {
                figures.costPerMillionTokens = onPrem / group.localTokens * 1e6
                figures.cloudEquivalentPerMillionTokens = group.cloudEquivalent / group.localTokens * 1e6
            }
            if group.cloudTokens > 0 { figures.cloudCostPerMillionTokens = group.cloudSpend / group.cloudTokens * 1e6 }
            if carbon {
                // By node, its whole emissions, idle hours included (as its cost).
                let grams = byNode ? group.operationalGCO2e + group.embodiedGCO2e : group.gco2e
                figures.gco2e = grams
                if group.localTokens > 0 { figures.gco2ePerMillionTokens = grams / group.localTokens * 1e6 }
                if byNode { figures.gco2eComponents = EmissionComponents(operational: group.operationalGCO2e, embodied: group.embodiedGCO2e) }
            }
            if group.gpuShareCost != 0 { figures.gpuShareCost = group.gpuShareCost }
            if pricing != nil, group.input + group.output > 0 {
                figures.costByTokenType = group.costParts
                figures.cloudEquivalentByTokenType = group.cloudEquivalentParts
            }
            if byNode {
                figures.kwh = group.joules / 3.6e6
                figures.kwhEstimated = group.estimatedJoules / 3.6e6
                figures.energySources = group.energySources.sorted()
                figures.components = CostComponents(energy: group.energy, energyEstimated: group.estimatedEnergy, capex: group.capex, overhead: group.overhead)
                figures.idleCost = group.idle
            } else if group.idle > 0 {
                figures.idleCost = group.idle
            }
            let row = CostGroup(labels: group.labels, start: group.bucket.map { Double($0.start) / 1000 }, end: group.bucket.map { Double($0.end) / 1000 },
                                figures: figures)
            return (group.bucket?.start ?? 0, onPrem + group.cloudSpend, row)
        }
        .sorted { ($0.start, -$0.cost) < ($1.start, -$1.cost) }
        .map(\.row)
    }

    /// A row's money by token type: cloud spend by its price's parts, local cost by token count
    /// (every token of a node shares its cost alike, `HourCosts`), cloud-equivalent by the
    /// shadow price's parts.
    private static func splitByTokenType(_ row: LedgerUsageHour, pricing: Pricing, into group: inout Group) {
        let tokens = TokenParts(input: max(0, row.input - row.cachedInput), cachedInput: row.cachedInput, output: row.output)
        func weights(_ price: Pricing.CloudPrice?) -> TokenParts {
            price?.parts(input: row.input, cachedInput: row.cachedInput, output: row.output) ?? TokenParts()
        }
        if StreamKind.isCloudSpend(row.source) {
            group.costParts += TokenParts.split(row.cost, weights: weights(pricing.cloudPrice(of: row.model, atHour: row.hour)), tokens: tokens)
        } else {
            group.costParts += TokenParts.split(row.cost, weights: TokenParts(), tokens: tokens)
            group.cloudEquivalentParts += TokenParts.split(row.cloudEquivalent, weights: weights(pricing.shadowPrice(of: row.model, atHour: row.hour)),
                                                           tokens: tokens)
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
