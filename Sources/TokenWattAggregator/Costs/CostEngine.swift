import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// Writes the cost ledger: every interval it rewrites the hour in progress and the one before
/// (samples arrive up to a push interval late), and every hour whose samples changed after
/// its ledger was written (late or backfilled data, marked by the hour rollup). A node counts
/// in an hour when its agent reported in it; capex and overhead accrue for those hours. An hour's
/// figures come from counter increases (`SampleReading.counterIncrease`) and `HourCosts`.
/// It keeps running totals of the whole ledger for `/metrics`.
public final class CostEngine: Service, Sendable {
    /// Series read for an hour: energy, tokens, requests, and CPU time (which every agent sends,
    /// so a node without energy counters or tokens still counts as up for its capex, and its
    /// energy can be estimated).
    static let energyMetrics = [MetricDescriptor.nodeEnergyJoules.seriesName, MetricDescriptor.gpuEnergyJoules.seriesName, MetricDescriptor.cpuEnergyJoules.seriesName]
    static let presenceMetric = MetricDescriptor.cpuSeconds.seriesName
    /// Labels that identify a stream rather than split it.
    static let streamLabels: Set<String> = [LabelSet.metricNameLabel, "node", "model", "source", "provider", "type", "server", "instance", "job"]

    let samples: any SampleReading
    let ledger: any LedgerStore
    let pricing: Pricing
    private let staticLabels: [String: String]
    private let intervalMs: Int64
    private let logger: Logger
    let now: @Sendable () -> Int64
    /// Models already logged as unpriced (once each).
    private let unpricedModels = Mutex<Set<String>>([])
    /// The ledger's totals and the counters published from them; nil before the first update.
    private let state: Mutex<(totals: LedgerTotals, published: PublishedCounters)?>
    private let updates = RunsInTurn()
    /// Counts the rounds that rewrote the ledger: what was figured from it stands until it moves.
    private let rewrites = Atomic<Int>(0)
    var ledgerVersion: Int { rewrites.load(ordering: .acquiring) }
    /// The last power figured (`power(of:over:)`): when, for which nodes, and what.
    private let powerKept = Mutex<(at: Int64, nodes: Set<String>, power: [String: (watts: Double, source: String)])?>(nil)

    public init(samples: any SampleReading, ledger: any LedgerStore, pricing: Pricing, staticLabels: [String: String], intervalMs: Int64, logger: Logger,
                now: @escaping @Sendable () -> Int64) {
        self.samples = samples
        self.ledger = ledger
        self.pricing = pricing
        self.staticLabels = staticLabels
        self.intervalMs = intervalMs
        self.logger = logger
        self.now = now
        state = Mutex(nil)
    }

    public func run() async throws {
        await PeriodicWork.run(every: .milliseconds(intervalMs)) {
            do {
                try await update()
            } catch {
                // The hours stay pending and are rewritten next round.
                logger.error("cost ledger not updated", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Rewrites the pending hours and the hour after each (whose first step starts from the
    /// changed hour's last sample), the hour before this one and this one; then raises the
    /// published counters to the new totals and saves them before `/metrics` shows them. Calls
    /// run one after another (two at once would both subtract an hour's old ledger).
    public func update() async throws {
        try await updates.run { try await self.updateAlone() }
    }

    private func updateAlone() async throws {
        if state.withLock({ $0 == nil }) {
            let all = try await ledger.hours(from: .min, to: .max)
            let totals = LedgerTotals(all.nodes, all.usage, sign: 1)
            var published = PublishedCounters(try await ledger.publishedCounters())
            published.raise(to: counterSamples(totals))
            state.withLock { $0 = (totals, published) }
        }
        let current = TimeBucket.current(at: now(), width: Milliseconds.hour)
        let pending = try await ledger.pendingHours()
        let hours = Set(pending + pending.map { $0 + Milliseconds.hour }).union([current - Milliseconds.hour, current]).sorted()
        for hour in hours where hour <= current {
            let old = try await ledger.hours(from: hour, to: hour + Milliseconds.hour)
            let new = try await ledger(ofHour: hour)
            try await ledger.replaceHour(hour, nodes: new.nodes, usage: new.usage)
            rewrites.add(1, ordering: .releasing)
            state.withLock { state in
                state?.totals.add(old.nodes, old.usage, sign: -1)
                state?.totals.add(new.nodes, new.usage, sign: 1)
            }
        }
        // The totals are the saved ledger's, so what /metrics shows of them survives a restart;
        // a published value held above them must be saved first.
        guard let current = state.withLock({ $0 }) else { return }
        var published = current.published
        let samples = counterSamples(current.totals)
        published.raise(to: samples)
        try await ledger.savePublishedCounters(published.carried(over: samples))
        state.withLock { $0?.published = published }
    }

    /// The ledger of one hour, from the samples stored now.
    func ledger(ofHour hour: Int64) async throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        let ledger = try await measured(hour: hour).ledger(pricing: pricing, labels: nodeLabels)
        for row in ledger.usage where !row.priced && unpricedModels.withLock({ $0.insert(row.model).inserted }) {
            logger.warning("tokens without a price: counted as unpriced, not as free", metadata: [
                "model": "\(row.model)", "source": "\(row.source)",
                "fix": "\(StreamKind.isCloudSpend(row.source) ? "add a cloud_prices entry that matches it" : "add a shadow_prices entry that maps it to a priced cloud model")",
            ])
        }
        return ledger
    }

    /// Each node's power now, in watts, with its source as the ledger names it: the ledger's
    /// energy rules (`HourCosts.Energy`) applied to the rates of its counters over the last
    /// `window` ms, so a node without a power sensor shows the estimate its hours are charged.
    /// Figured at most once a cost interval for the same nodes: reading every counter's recent
    /// samples takes a fleet of VMs about a tenth of a second a thousand nodes.
    func power(of nodes: [String], over window: Int64) async throws -> [String: (watts: Double, source: String)] {
        let now = now(), wanted = Set(nodes)
        guard !wanted.isEmpty else { return [:] }
        if let kept = powerKept.withLock({ $0 }), now - kept.at < intervalMs, now >= kept.at, wanted.isSubset(of: kept.nodes) {
            return kept.power.filter { wanted.contains($0.key) }
        }
        var rates: [String: HourCosts.Energy] = [:]
        // One pass over the index by name (a node matcher per node would scan it once a node).
        let selectors = try (CostEngine.energyMetrics + [CostEngine.presenceMetric]).map { try SeriesSelector(parsing: $0) }
        for series in samples.series(matching: selectors) {
            guard let node = series.labels["node"], wanted.contains(node), let name = series.labels.metricName,
                  let rate = try await samples.counterRate(seriesID: series.id, from: now - window, now: now) else { continue }
            rates[node, default: HourCosts.Energy()].add(rate, of: name, labels: series.labels)
        }
        var power: [String: (watts: Double, source: String)] = [:]
        for (node, energy) in rates {
            let (watts, source) = energy.joules(estimating: pricing.nodeClass(for: nodeLabels(node))?.power ?? Pricing.PowerModel())
            if source != HourCosts.noSource { power[node] = (watts, source) }
        }
        powerKept.withLock { $0 = (now, wanted, power) }
        return power
    }

    /// A node's labels, for its node class.
    func nodeLabels(_ node: String) -> [String: String] {
        staticLabels.merging(["node": node]) { $1 }
    }

    /// What the fleet measured in one hour, from the samples stored now.
    func measured(hour: Int64) async throws -> HourCosts {
        let end = min(hour + Milliseconds.hour, max(hour, now()))
        var inputs = HourCosts(hour: hour, fraction: Double(end - hour) / Double(Milliseconds.hour))
        let names = CostEngine.energyMetrics + [CostEngine.presenceMetric, MetricDescriptor.tokens.seriesName, MetricDescriptor.requests.seriesName,
                                                MetricDescriptor.gpuConsumerEnergyJoules.seriesName]
        let selectors = try names.map { try SeriesSelector(parsing: $0) }
        for series in samples.series(matching: selectors) {
            guard let node = series.labels["node"], let name = series.labels.metricName else { continue }
            let (increase, samples) = try await samples.counterIncrease(seriesID: series.id, from: hour, to: end, now: now())
            guard samples > 0 else { continue }
            var energy = inputs.nodes[node] ?? HourCosts.Energy()
            switch name {
            case MetricDescriptor.tokens.seriesName:
                let stream = stream(of: series.labels, node: node), type = series.labels["type"] ?? TokenType.input.rawValue
                inputs.tokens[stream, default: [:]][type, default: 0] += increase
                if let server = series.labels["server"], type == TokenType.input.rawValue || type == TokenType.output.rawValue {
                    inputs.serverTokens[stream, default: [:]][server, default: 0] += increase
                }
            case MetricDescriptor.gpuConsumerEnergyJoules.seriesName:
                inputs.gpuConsumers[node, default: [:]][series.labels["consumer"] ?? GPUConsumer.unattributed, default: 0] += increase
            case MetricDescriptor.requests.seriesName:
                inputs.requests[stream(of: series.labels, node: node), default: 0] += increase
            default:
                energy.add(increase, of: name, labels: series.labels)
            }
            inputs.nodes[node] = energy
        }
        return inputs
    }

    private func stream(of labels: LabelSet, node: String) -> HourCosts.Stream {
        let source = labels["source"] ?? "unknown"
        var rest: [String: String] = [:]
        for label in labels where !CostEngine.streamLabels.contains(label.name) && staticLabels[label.name] == nil {
            rest[label.name] = label.value
        }
        return HourCosts.Stream(node: node, source: source, provider: labels["provider"] ?? (StreamKind.isCloudSpend(source) ? "unknown" : "local"),
                                model: labels["model"] ?? "unknown", labels: rest)
    }

    /// The ledger's totals since it began and the counters published from them, nil before the first update.
    var currentState: (totals: LedgerTotals, published: PublishedCounters)? { state.withLock { $0 } }
}

/// Sums of the whole ledger, kept up to date as hours are rewritten.
struct LedgerTotals: Sendable {
    struct NodeTotals: Sendable {
        /// Energy money, and joules, measured and estimated apart.
        var energy = 0.0, estimatedEnergy = 0.0, capex = 0.0, overhead = 0.0, joules = 0.0
        var idle = 0.0
        var cloudSpend = 0.0
        var cloudEquivalent = 0.0
        var cost: Double { energy + estimatedEnergy + capex + overhead }
    }

    var nodes: [String: NodeTotals] = [:]
    /// Cloud-equivalent of local tokens by node and model.
    var cloudEquivalent: [NodeModel: Double] = [:]
    /// Tokens no price applied to, by model.
    var unpriced: [String: Double] = [:]

    struct NodeModel: Hashable, Sendable {
        var node: String
        var model: String
    }

    init(_ nodes: [LedgerNodeHour], _ usage: [LedgerUsageHour], sign: Double) {
        add(nodes, usage, sign: sign)
    }

    mutating func add(_ nodeHours: [LedgerNodeHour], _ usage: [LedgerUsageHour], sign: Double) {
        var idleHours = IdleHours()
        for row in usage {
            idleHours.count(row)
            if !row.priced { unpriced[row.model, default: 0] += sign * row.tokens }
            if StreamKind.isCloudSpend(row.source) {
                nodes[row.node, default: NodeTotals()].cloudSpend += sign * row.cost
            } else {
                nodes[row.node, default: NodeTotals()].cloudEquivalent += sign * row.cloudEquivalent
                cloudEquivalent[NodeModel(node: row.node, model: row.model), default: 0] += sign * row.cloudEquivalent
            }
        }
        for row in nodeHours {
            var totals = nodes[row.node] ?? NodeTotals()
            if row.energyIsEstimated {
                totals.estimatedEnergy += sign * row.energyCost
            } else {
                totals.energy += sign * row.energyCost
            }
            totals.capex += sign * row.capexCost
            totals.overhead += sign * row.overheadCost
            totals.joules += sign * row.joules
            totals.idle += sign * idleHours.idlePart(of: row.cost, node: row.node, hour: row.hour)
            nodes[row.node] = totals
        }
    }
}

/// The hour in progress as the ledger would have it, figured from the samples stored now: what
/// budgets read for the part of their period the ledger has not written yet.
protocol LiveHourFiguring: Sendable {
    func ledger(ofHour hour: Int64) async throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])
}

extension CostEngine: LiveHourFiguring {}

/// What the fleet measured in an hour, from the samples stored now, and the labels a node's
/// class is matched by: what the what-if re-figures hours from.
protocol HourMeasuring: Sendable {
    func measured(hour: Int64) async throws -> HourCosts
    func nodeLabels(_ node: String) -> [String: String]
}

extension CostEngine: HourMeasuring {}
