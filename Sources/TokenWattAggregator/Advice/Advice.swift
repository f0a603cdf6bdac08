import TokenWattConfiguration
import TokenWattCore

/// The burst advisor's answer for each local model: keep it local, send its overflow above a
/// rate to the cloud, use the cloud outright, or consolidate idle nodes, with the figures
/// behind it. Money is in the configured currency; per million tokens of the model's own mix
/// of input, cached input and output.
///
/// - **Marginal cost**: what the next million tokens cost now, the energy they add (the slope
///   of the node's power curve, `NodeWindow.powerCurve`) at this hour's price and PUE. Capex
///   and overhead are sunk while the node runs anyway.
/// - **Average cost**: the ledger's cost per million tokens over the window (energy, capex,
///   overhead, idle time shared by tokens).
/// - **Cloud price**: the model's shadow price for the same mix.
/// - **Capacity and headroom**: the throughput at which the queue grows (`ModelWindow.capacity`)
///   and what is left of it now.
struct Advice: Sendable {
    enum Action: String, Sendable, CaseIterable {
        /// Local is cheaper at the margin and has room: serve everything locally.
        case keepLocal = "keep_local"
        /// Local is cheaper but full: serve up to capacity locally, the rest on the cloud model.
        case overflow
        /// Even the next token costs more locally than on the cloud: send it there.
        case useCloud = "use_cloud"
        /// The model's nodes serve (almost) nothing: send the trickle to the cloud and power them off.
        case consolidate
    }

    /// One model on one node.
    struct Placement: Sendable {
        var node: String
        var model: String
        var tokensPerSecond: Double
        var meanTokensPerSecond: Double
        var peakTokensPerSecond: Double
        var capacity: Double?
        var headroom: Double? { capacity.map { max(0, $0 - tokensPerSecond) } }
        var saturated: Bool
        var queue: Double?
        var kvCacheUsage: Double?
        var utilisation: Double?
        var watts: Double?
        var idleWatts: Double?
        /// Joules the next token adds, and whether they come from a fitted curve or the average.
        var joulesPerToken: Double?
        var fitted: Bool
        /// The node's joules per input token computed and per output token (all its models
        /// together), and all its energy per output token.
        var phaseEnergy: PhaseEnergy?
        var averageJoulesPerOutputToken: Double?
        var marginalCost: Double?
        var averageCost: Double?
        var cloudPrice: Double?
        var marginalGCO2e: Double?
        var averageGCO2e: Double?
    }

    /// A node that could be powered off, and the money that saves a month (energy and overhead;
    /// capex is sunk), less the cloud price of the tokens it served.
    struct PowerOff: Sendable {
        var node: String
        var savingsPerMonth: Double
    }

    struct Recommendation: Sendable {
        var model: String
        var action: Action
        var reasons: [String]
        var cloudModel: String?
        /// Tokens per second served locally before the rest goes to the cloud (overflow).
        var overflowAbove: Double?
        var powerOff: [PowerOff] = []
        var placements: [Placement]
    }

    var windowMs: Int64
    var stepMs: Int64
    var computedAtMs: Int64
    var recommendations: [Recommendation]
    /// Nodes that served no local model in the window at all.
    var idleNodes: [PowerOff]

    /// Hours in an average month (8,766 / 12).
    static let hoursPerMonth = 730.5

    /// The costs of the same tokens where they could run.
    struct Prices {
        var pricing: Pricing
        var hour: Int64
        /// The ledger's cost, tokens and emissions by node and model over the window.
        var ledger: [LedgerTotals.NodeModel: (cost: Double, tokens: Double, gco2e: Double)]

        var kWhPrice: Double { pricing.electricity.price.value(atHour: hour) * pricing.electricity.pue }
        var kWhEmissions: Double? { pricing.carbon.map { $0.intensity.value(atHour: hour) * pricing.electricity.pue } }

        func cloudPrice(of model: String, mix: [TokenType: Double]) -> Double? {
            let total = (mix[.input] ?? 0) + (mix[.output] ?? 0)
            guard let price = pricing.shadowPrice(of: model, atHour: hour) else { return nil }
            // Without tokens yet, the mix of one input token to one output token.
            guard total > 0 else { return price.cost(input: 0.5e6, cachedInput: 0, output: 0.5e6) }
            return price.cost(input: mix[.input] ?? 0, cachedInput: mix[.cachedInput] ?? 0, output: mix[.output] ?? 0) / total * 1e6
        }

        func cloudModel(of model: String) -> String? {
            pricing.shadowPrices.first { $0.local.matches(model) }?.cloud
        }

        func overheadPerHour(labels: [String: String]) -> Double {
            pricing.nodeClass(for: labels)?.overheadPerHour ?? 0
        }
    }

    /// The advice from the windows of every node; `idleBelow` tokens per second over the window
    /// count as idle; `nodeLabels` gives a node's labels for its class.
    static func compute(_ windows: [NodeWindow], prices: Prices, idleBelow: Double, nodeLabels: (String) -> [String: String],
                        windowMs: Int64, stepMs: Int64, now: Int64) -> Advice {
        var placements: [String: [Placement]] = [:]
        var nodeMonthly: [String: Double] = [:]
        var busyNodes: Set<String> = []
        for window in windows {
            let curve = window.powerCurve
            let phases = window.phaseEnergy
            nodeMonthly[window.node] = ((window.meanWatts ?? 0) / 1000 * prices.kWhPrice
                + prices.overheadPerHour(labels: nodeLabels(window.node))) * hoursPerMonth
            for (model, load) in window.models {
                let ledger = prices.ledger[LedgerTotals.NodeModel(node: window.node, model: model)]
                // Without a curve, the average of a node that serves little is mostly idle power: no margin from it.
                let joules = curve?.joulesPerToken ?? (load.meanTokensPerSecond >= idleBelow ? window.averageJoulesPerToken : nil)
                let perMillionKWh = joules.map { $0 * 1e6 / 3.6e6 }
                if load.meanTokensPerSecond >= idleBelow { busyNodes.insert(window.node) }
                placements[model, default: []].append(Placement(
                    node: window.node, model: model, tokensPerSecond: load.currentTokensPerSecond, meanTokensPerSecond: load.meanTokensPerSecond,
                    peakTokensPerSecond: load.peakTokensPerSecond, capacity: load.capacity, saturated: load.isSaturatedNow,
                    queue: load.meanWaiting, kvCacheUsage: load.meanKVCacheUsage, utilisation: ModelWindow.mean(window.utilisation),
                    watts: window.meanWatts, idleWatts: curve?.idleWatts, joulesPerToken: joules, fitted: curve != nil,
                    phaseEnergy: phases.fit, averageJoulesPerOutputToken: phases.averageJoulesPerOutputToken,
                    marginalCost: perMillionKWh.map { $0 * prices.kWhPrice },
                    averageCost: ledger.flatMap { $0.tokens > 0 ? $0.cost / $0.tokens * 1e6 : nil },
                    cloudPrice: prices.cloudPrice(of: model, mix: load.tokens),
                    marginalGCO2e: perMillionKWh.flatMap { kWh in prices.kWhEmissions.map { kWh * $0 } },
                    averageGCO2e: prices.kWhEmissions != nil ? ledger.flatMap { $0.tokens > 0 ? $0.gco2e / $0.tokens * 1e6 : nil } : nil))
            }
        }
        let recommendations = placements.keys.sorted().map { model in
            recommend(model, placements[model]!.sorted { $0.node < $1.node }, prices: prices, idleBelow: idleBelow,
                      busyNodes: busyNodes, nodeMonthly: nodeMonthly)
        }
        let idleNodes = windows.filter { !busyNodes.contains($0.node) && $0.models.isEmpty }.map {
            PowerOff(node: $0.node, savingsPerMonth: nodeMonthly[$0.node] ?? 0)
        }
        return Advice(windowMs: windowMs, stepMs: stepMs, computedAtMs: now, recommendations: recommendations, idleNodes: idleNodes)
    }

    static func recommend(_ model: String, _ placements: [Placement], prices: Prices, idleBelow: Double,
                                  busyNodes: Set<String>, nodeMonthly: [String: Double]) -> Recommendation {
        let cloudModel = prices.cloudModel(of: model)
        var advice = Recommendation(model: model, action: .keepLocal, reasons: [], cloudModel: cloudModel, placements: placements)
        let rate = placements.reduce(0) { $0 + $1.tokensPerSecond }
        let mean = placements.reduce(0) { $0 + $1.meanTokensPerSecond }
        let cloudPrice = placements.compactMap(\.cloudPrice).first
        // The margin of the model as a whole: its serving nodes' weighted by what they serve.
        let weighted = placements.compactMap { p in p.meanTokensPerSecond >= idleBelow ? p.marginalCost.map { ($0, p.meanTokensPerSecond) } : nil }
        let marginal = weighted.isEmpty ? nil : weighted.reduce(0) { $0 + $1.0 * $1.1 } / weighted.reduce(0) { $0 + $1.1 }
        let money = NumberText.reading
        if mean < idleBelow {
            advice.action = .consolidate
            let cloudMonthly = (cloudPrice ?? 0) * mean * 3600 * hoursPerMonth / 1e6
            // A node also serving a busy model stays on.
            let candidates = Set(placements.map(\.node)).subtracting(busyNodes).sorted()
            advice.powerOff = candidates.map { PowerOff(node: $0, savingsPerMonth: (nodeMonthly[$0] ?? 0) - cloudMonthly / Double(candidates.count)) }
            advice.reasons.append("served \(money(mean)) tokens/s over the window, below \(money(idleBelow))")
            if let cloudModel { advice.reasons.append("the trickle costs \(money(cloudMonthly)) a month on \(cloudModel)") }
            if !candidates.isEmpty {
                advice.reasons.append("powering off \(candidates.joined(separator: ", ")) saves \(money(advice.powerOff.reduce(0) { $0 + $1.savingsPerMonth })) a month (energy and overhead; capex is sunk)")
            }
            return advice
        }
        guard let cloudPrice, let marginal else {
            advice.reasons.append(cloudPrice == nil ? "no shadow price for \(model): the cloud's price of its tokens is unknown"
                                                    : "no power reading on its nodes: the marginal cost is unknown")
            return advice
        }
        advice.reasons.append("the next million tokens cost \(money(marginal)) locally, \(money(cloudPrice)) on \(cloudModel ?? "the cloud")")
        if marginal >= cloudPrice {
            advice.action = .useCloud
            advice.reasons.append("the local figure is only the energy the next tokens add (their joules at the electricity price): "
                                  + "even that is above the cloud's price, so every token sent there saves money")
            return advice
        }
        // The average carries what is paid whether or not the tokens run here: say why it does not decide.
        if let average = placements.compactMap(\.averageCost).min(), average > cloudPrice {
            advice.reasons.append("the average of \(money(average)) per million is above the cloud's price because it carries the hardware's "
                                  + "capex and overhead, paid whether these tokens run here or not; the marginal cost, the energy the next "
                                  + "tokens add, is what running them here costs, so they stay")
        } else {
            advice.reasons.append("the marginal cost is the energy the next tokens add (their joules at the electricity price); capex and "
                                  + "overhead are paid either way")
        }
        // Nodes of a busy model that serve almost nothing (and no other busy model).
        let idle = placements.filter { $0.meanTokensPerSecond < idleBelow && !busyNodes.contains($0.node) }.map(\.node)
        if placements.contains(where: \.saturated) {
            advice.action = .overflow
            if !idle.isEmpty {
                advice.reasons.append("\(idle.joined(separator: ", ")) \(idle.count == 1 ? "serves" : "serve") almost nothing while others queue: route there before the cloud")
            }
            // Each node up to where its queue grows; a node never saturated up to its peak.
            let limit = placements.reduce(0) { $0 + ($1.capacity ?? $1.peakTokensPerSecond) }
            advice.overflowAbove = limit
            advice.reasons.append("the queue grows at \(money(limit)) tokens/s; serving \(money(rate)) now")
        } else {
            let headroom = placements.compactMap(\.headroom)
            advice.reasons.append(headroom.isEmpty ? "the queue never grew in the window (peaks of \(money(placements.reduce(0) { $0 + $1.peakTokensPerSecond })) tokens/s on its nodes together)"
                                                   : "\(money(headroom.reduce(0, +))) tokens/s of headroom before the queue grows")
            if !idle.isEmpty {
                advice.powerOff = idle.map { PowerOff(node: $0, savingsPerMonth: nodeMonthly[$0] ?? 0) }
                let one = idle.count == 1
                advice.reasons.append("\(idle.joined(separator: ", ")) \(one ? "serves" : "serve") almost nothing: \(one ? "its" : "their") share fits on the model's "
                                      + "other nodes, and powering \(one ? "it" : "them") off saves \(money(advice.powerOff.reduce(0) { $0 + $1.savingsPerMonth })) a month")
            }
        }
        return advice
    }
}
