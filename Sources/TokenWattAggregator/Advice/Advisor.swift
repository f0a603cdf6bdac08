import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// The burst advisor: every cost interval it measures the last window of every node (power,
/// utilisation, each model's throughput, queue and KV cache) and keeps the `Advice` made of it,
/// for `/api/v1/advice`, `/metrics` and the web overview.
public final class Advisor: Service, Sendable {
    private let ledger: any LedgerStore
    private let samples: any SampleReading
    let pricing: Pricing
    /// A node's labels, for its node class.
    private let nodeLabels: @Sendable (String) -> [String: String]
    private let now: @Sendable () -> Int64
    let settings: AdviceSettings
    private let interval: Duration
    private let logger: Logger
    private let latest = Mutex<Advice?>(nil)

    init(ledger: any LedgerStore, samples: any SampleReading, pricing: Pricing, nodeLabels: @escaping @Sendable (String) -> [String: String],
         settings: AdviceSettings, intervalMs: Int64, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.ledger = ledger
        self.samples = samples
        self.pricing = pricing
        self.nodeLabels = nodeLabels
        self.now = now
        self.settings = settings
        interval = .milliseconds(intervalMs)
        self.logger = logger
    }

    public func run() async throws {
        await PeriodicWork.run(every: interval) {
            do {
                _ = try await refresh()
            } catch {
                logger.error("advice not updated", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Measures the default window now and keeps the advice.
    func refresh() async throws -> Advice {
        let advice = try await advise(windowMs: settings.windowMs, stepMs: settings.stepMs)
        latest.withLock { $0 = advice }
        return advice
    }

    /// The advice of the last round, if there was one.
    var latestAdvice: Advice? { latest.withLock { $0 } }

    /// The advice kept from the last round; the first is made on demand.
    func current() async throws -> Advice {
        if let advice = latestAdvice { return advice }
        return try await refresh()
    }

    /// The advice over the `windowMs` of whole steps before now.
    func advise(windowMs: Int64, stepMs: Int64) async throws -> Advice {
        let now = self.now()
        let end = TimeBucket.current(at: now, width: stepMs)
        let windows = try await measure(from: end - windowMs, to: end, stepMs: stepMs)
        let ledger = try await self.ledger.hours(from: TimeBucket.current(at: end - windowMs, width: Milliseconds.hour), to: end)
        var averages: [LedgerTotals.NodeModel: (cost: Double, tokens: Double, gco2e: Double)] = [:]
        for row in ledger.usage where !StreamKind.isCloudSpend(row.source) {
            let key = LedgerTotals.NodeModel(node: row.node, model: row.model)
            let sum = averages[key] ?? (0, 0, 0)
            averages[key] = (sum.cost + row.cost, sum.tokens + row.tokens, sum.gco2e + row.gco2e)
        }
        let prices = Advice.Prices(pricing: pricing, hour: TimeBucket.current(at: now, width: Milliseconds.hour), ledger: averages)
        return Advice.compute(windows, prices: prices, idleBelow: settings.idleBelowTokensPerSecond, nodeLabels: nodeLabels,
                              windowMs: windowMs, stepMs: stepMs, now: now)
    }

    /// Each node's buckets over `[from, to)`: counters as increases per bucket (the step ending
    /// in a bucket counts in it, `TimeBucket`), gauges as means.
    func measure(from: Int64, to: Int64, stepMs: Int64) async throws -> [NodeWindow] {
        let count = Int((to - from) / stepMs)
        let seconds = Double(stepMs) / 1000
        let names = CostEngine.energyMetrics + [CostEngine.presenceMetric, MetricDescriptor.tokens.seriesName, MetricDescriptor.gpuUtilizationRatio.seriesName,
                                                MetricDescriptor.inferenceRequestsWaiting.seriesName, MetricDescriptor.inferenceKVCacheUsageRatio.seriesName]
        var energy: [String: [HourCosts.Energy?]] = [:]
        var utilisation: [String: [(sum: Double, count: Int)]] = [:]
        var windows: [String: NodeWindow] = [:]
        func bucket(_ timestamp: Int64) -> Int? {
            let index = Int((TimeBucket.start(ofSampleAt: timestamp, width: stepMs) - from) / stepMs)
            return index >= 0 && index < count ? index : nil
        }
        for series in samples.series(matching: try names.map { try SeriesSelector(parsing: $0) }) {
            guard let node = series.labels["node"], let name = series.labels.metricName else { continue }
            let samples = try await self.samples.rawSamples(seriesID: series.id, from: from - 5 * stepMs, to: to + 1).filter { $0.value.isFinite }
            if windows[node] == nil { windows[node] = NodeWindow(node: node, stepMs: stepMs, buckets: count) }
            let model = series.labels["model"] ?? "unknown"
            // In place: a node's arrays copied out and back for each of its series cost more than the sums.
            func load(_ change: (inout ModelWindow) -> Void) { change(&windows[node]!.models[model, default: ModelWindow(buckets: count)]) }
            switch name {
            case MetricDescriptor.tokens.seriesName:
                let source = series.labels["source"] ?? ""
                guard StreamKind(source: source) == .inferenceServer else { continue }
                let type = series.labels["type"].flatMap(TokenType.init(rawValue:)) ?? .input
                load { load in
                    for (index, increase) in increases(samples, bucket: bucket) {
                        let rate = increase / seconds
                        switch type {
                        case .input:
                            load.tokensPerSecond[index] += rate
                            load.computedInputPerSecond[index] += rate
                        case .cachedInput:
                            load.computedInputPerSecond[index] -= rate
                        case .output:
                            load.tokensPerSecond[index] += rate
                            load.outputPerSecond[index] += rate
                        case .reasoning:
                            break
                        }
                        load.tokens[type, default: 0] += increase
                    }
                }
            case MetricDescriptor.inferenceRequestsWaiting.seriesName, MetricDescriptor.inferenceKVCacheUsageRatio.seriesName:
                load { load in
                    for (index, mean) in means(samples, bucket: bucket) {
                        if name == MetricDescriptor.inferenceRequestsWaiting.seriesName {
                            load.waiting[index] = (load.waiting[index] ?? 0) + mean  // servers' queues add up
                        } else {
                            load.kvCacheUsage[index] = max(load.kvCacheUsage[index] ?? 0, mean)  // the fullest server's
                        }
                    }
                }
            case MetricDescriptor.gpuUtilizationRatio.seriesName:
                for (index, mean) in means(samples, bucket: bucket) {
                    utilisation[node, default: Array(repeating: (0, 0), count: count)][index].sum += mean
                    utilisation[node, default: Array(repeating: (0, 0), count: count)][index].count += 1
                }
            default:
                for (index, increase) in increases(samples, bucket: bucket) {
                    var reading = energy[node]?[index] ?? HourCosts.Energy()
                    reading.add(increase, of: name, labels: series.labels)
                    energy[node, default: Array(repeating: nil, count: count)][index] = reading
                }
            }
        }
        for (node, buckets) in energy {
            let power = pricing.nodeClass(for: nodeLabels(node))?.power ?? Pricing.PowerModel()
            windows[node]?.watts = buckets.map { reading in
                guard let (joules, source) = reading?.joules(estimating: power), source != HourCosts.noSource else { return nil }
                return joules / seconds
            }
        }
        for (node, sums) in utilisation {
            windows[node]?.utilisation = sums.map { $0.count > 0 ? $0.sum / Double($0.count) : nil }
        }
        return windows.values.sorted { $0.node < $1.node }
    }

    /// A counter's increase per bucket: each step counts in the bucket of the sample that ends it.
    private func increases(_ samples: [Sample], bucket: (Int64) -> Int?) -> [(Int, Double)] {
        zip(samples, samples.dropFirst()).compactMap { previous, sample in
            bucket(sample.timestamp).map { ($0, CounterStep.increase(from: previous.value, to: sample.value)) }
        }
    }

    /// A gauge's mean per bucket.
    private func means(_ samples: [Sample], bucket: (Int64) -> Int?) -> [(Int, Double)] {
        var sums: [Int: (Double, Int)] = [:]
        for sample in samples {
            guard let index = bucket(sample.timestamp) else { continue }
            let sum = sums[index] ?? (0, 0)
            sums[index] = (sum.0 + sample.value, sum.1 + 1)
        }
        return sums.map { ($0.key, $0.value.0 / Double($0.value.1)) }
    }
}

extension Advisor: MetricsSource {
    /// The `tokenwatt_advice_*` families of the last round, for Grafana and alert rules.
    func families() -> [MetricFamily] {
        guard let advice = latestAdvice else { return [] }
        let currency = pricing.currency.lowercased()
        let placements = advice.recommendations.flatMap(\.placements)
        func perPlacement(_ metric: MetricDescriptor, _ value: (Advice.Placement) -> Double?) -> MetricFamily {
            metric.family(placements.compactMap { placement in
                value(placement).map { metric.sample([Label("model", placement.model), Label("node", placement.node)], $0) }
            })
        }
        var families = [
            perPlacement(.adviceTokensPerSecond) { $0.tokensPerSecond },
            perPlacement(.adviceCapacityTokensPerSecond) { $0.capacity },
            perPlacement(.adviceHeadroomTokensPerSecond) { $0.headroom },
            perPlacement(.adviceMarginalCostPerMillionTokens(currency: currency)) { $0.marginalCost },
            perPlacement(.adviceAverageCostPerMillionTokens(currency: currency)) { $0.averageCost },
            perPlacement(.adviceCloudPricePerMillionTokens(currency: currency)) { $0.cloudPrice },
            perPlacement(.adviceJoulesPerToken) { $0.fitted ? $0.joulesPerToken : nil },
            perPlacement(.adviceJoulesPerInputToken) { $0.phaseEnergy?.joulesPerInputToken },
            perPlacement(.adviceJoulesPerOutputToken) { $0.phaseEnergy?.joulesPerOutputToken },
            perPlacement(.advicePowerFitRSquared) { $0.phaseEnergy?.rSquared },
        ]
        if pricing.carbon != nil {
            families.append(perPlacement(.adviceMarginalGCO2ePerMillionTokens) { $0.marginalGCO2e })
        }
        families.append(MetricDescriptor.adviceRecommendation.family(advice.recommendations.flatMap { advice in
            Advice.Action.allCases.map { action in
                MetricDescriptor.adviceRecommendation.sample([Label("action", action.rawValue), Label("model", advice.model)], advice.action == action ? 1 : 0)
            }
        }))
        families.append(MetricDescriptor.adviceOverflowAboveTokensPerSecond.family(advice.recommendations.compactMap { advice in
            advice.overflowAbove.map { MetricDescriptor.adviceOverflowAboveTokensPerSecond.sample([Label("model", advice.model)], $0) }
        }))
        let powerOff = advice.recommendations.flatMap(\.powerOff) + advice.idleNodes
        let powerOffSavings = MetricDescriptor.advicePowerOffSavingsPerMonth(currency: currency)
        families.append(powerOffSavings.family(Dictionary(powerOff.map { ($0.node, $0.savingsPerMonth) }, uniquingKeysWith: { max($0, $1) })
            .sorted { $0.key < $1.key }.map { powerOffSavings.sample([Label("node", $0.key)], $0.value) }))
        return families
    }
}
