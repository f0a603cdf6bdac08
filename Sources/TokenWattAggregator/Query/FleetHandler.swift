import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattCore
import TokenWattStore

/// Each node now: whether its agent is up, its GPUs, power, utilisation, temperature and the
/// tokens per second its models serve; from the latest samples (fresher than the staleness
/// window) and the advisor's last round. A node without a power gauge shows the power its
/// energy counters draw by the ledger's rules, an estimate where it has no sensor at all.
/// `GET /api/v1/fleet` and the web overview's fleet page.
struct FleetStatus: Sendable {
    struct Node: Sendable {
        var node: String
        var up: Bool
        var lastPushMs: Int64?
        var gpus = 0
        /// The BMC's whole-node reading where there is one, else the GPUs' added up, else the
        /// ledger's rule over the last minutes (`CostEngine.power`).
        var watts: Double?
        /// Where `watts` came from, as the ledger names energy sources (`bmc`, `gpu`, `rapl`,
        /// `estimated`, ...).
        var powerSource: String?
        var gpuUtilisation: Double?
        var hottestGPU: Double?
        var cpuUtilisation: Double?
        var tokensPerSecond = 0.0
        var models: [String] = []
    }

    var nodes: [Node]

    static let metricNames = [MetricDescriptor.gpuInfo.seriesName, MetricDescriptor.gpuPowerWatts.seriesName, MetricDescriptor.nodePowerWatts.seriesName, MetricDescriptor.gpuUtilizationRatio.seriesName,
                          MetricDescriptor.gpuTemperatureCelsius.seriesName, MetricDescriptor.cpuUtilizationRatio.seriesName]

    static func current(samples: any SampleReading, metrics: AggregatorMetrics, advice: Advice?, stalenessMs: Int64, now: Int64,
                        power: ([String]) async throws -> [String: (watts: Double, source: String)]) async throws -> FleetStatus {
        var nodes: [String: Node] = [:]
        // Gateways push too, but are no nodes: no GPUs, no power, no cost of their own.
        for agent in metrics.agents(now: now) where !metrics.isGateway(agent.node) {
            nodes[agent.node] = Node(node: agent.node, up: agent.up, lastPushMs: agent.lastPushMs)
        }
        var gpuWatts: [String: Double] = [:], utilisation: [String: [Double]] = [:]
        let latest = samples.latestSamples(matching: try metricNames.map { try SeriesSelector(parsing: $0) }, since: now - stalenessMs)
        for (labels, sample) in latest {
            guard let name = labels["node"], var node = nodes[name], sample.value.isFinite else { continue }
            switch labels.metricName {
            case MetricDescriptor.gpuInfo.seriesName: node.gpus += 1
            case MetricDescriptor.gpuPowerWatts.seriesName: gpuWatts[name, default: 0] += sample.value
            case MetricDescriptor.nodePowerWatts.seriesName:
                node.watts = (node.watts ?? 0) + sample.value
                node.powerSource = HourCosts.bmcSource
            case MetricDescriptor.gpuUtilizationRatio.seriesName: utilisation[name, default: []].append(sample.value)
            case MetricDescriptor.gpuTemperatureCelsius.seriesName: node.hottestGPU = max(node.hottestGPU ?? -.infinity, sample.value)
            case MetricDescriptor.cpuUtilizationRatio.seriesName: node.cpuUtilisation = sample.value
            default: break
            }
            nodes[name] = node
        }
        for (name, watts) in gpuWatts where nodes[name]?.watts == nil {
            nodes[name]?.watts = watts
            nodes[name]?.powerSource = HourCosts.gpuSource
        }
        for (name, reading) in try await power(nodes.values.filter { $0.watts == nil }.map(\.node)) {
            nodes[name]?.watts = reading.watts
            nodes[name]?.powerSource = reading.source
        }
        for (name, values) in utilisation { nodes[name]?.gpuUtilisation = values.reduce(0, +) / Double(values.count) }
        for placement in advice?.recommendations.flatMap(\.placements) ?? [] {
            nodes[placement.node]?.tokensPerSecond += placement.tokensPerSecond
            nodes[placement.node]?.models.append(placement.model)
        }
        return FleetStatus(nodes: nodes.values.sorted { $0.node < $1.node })
    }

    /// The nodes as `/api/v1/fleet` answers them.
    var response: [FleetNode] {
        nodes.map { node in
            FleetNode(node: node.node, up: node.up, lastPush: node.lastPushMs.map { Double($0) / 1000 }, gpus: node.gpus, powerWatts: node.watts,
                      powerSource: node.powerSource, gpuUtilization: node.gpuUtilisation, gpuTemperatureMaxCelsius: node.hottestGPU, cpuUtilization: node.cpuUtilisation,
                      tokensPerSecond: node.tokensPerSecond, models: node.models.sorted())
        }
    }
}

/// `GET /api/v1/fleet`: `FleetStatus`.
struct FleetHandler: Sendable {
    let samples: any SampleReading
    let metrics: AggregatorMetrics
    let advisor: Advisor
    let costs: CostEngine
    let stalenessMs: Int64
    let now: @Sendable () -> Int64

    /// The latest samples of one metric's series, fresher than the staleness window.
    func latest(_ metric: MetricDescriptor) throws -> [(labels: LabelSet, sample: Sample)] {
        samples.latestSamples(matching: [try SeriesSelector(parsing: metric.seriesName)], since: now() - stalenessMs)
    }

    func status() async throws -> FleetStatus {
        try await FleetStatus.current(samples: samples, metrics: metrics, advice: advisor.latestAdvice, stalenessMs: stalenessMs, now: now()) { nodes in
            try await costs.power(of: nodes, over: stalenessMs)
        }
    }

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        APIResponse.answer(try await status().response)
    }
}
