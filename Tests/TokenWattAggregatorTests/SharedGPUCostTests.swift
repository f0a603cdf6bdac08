import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// Two inference servers on one GPU, costed apart by hand. Every hour gpu-01's GPU draws 1 kWh
/// (1.00 at 1.00 per kWh, PUE 1, no hardware cost), which its agent splits: llama's server
/// (127.0.0.1:8000) 0.5 kWh, qwen's (127.0.0.1:8001) 0.25, idle 0.2, unattributed 0.05. llama
/// serves 1,000 tokens an hour, qwen 3,000. Each server's GPU energy goes to its own tokens,
/// the rest (0.25: idle and unattributed) to all 4,000 tokens alike: llama 0.50 + 0.0625 =
/// 0.5625 an hour, qwen 0.25 + 0.1875 = 0.4375; the day 13.50 and 10.50, adding up to the
/// node's 24.00. By tokens alone it would be 6.00 and 18.00.
@Suite struct SharedGPUCostTests {
    typealias Scenario = CostScenarioTests

    static let pricingYAML = """
        currency: USD
        electricity: {price_per_kwh: 1.00, pue: 1.0}
        """

    static func node() -> [TimeSeries] {
        let gpu = ["gpu": "0", "uuid": "GPU-shared"]
        func consumer(_ name: String, _ joules: Double) -> TimeSeries {
            Scenario.counter("tokenwatt_gpu_consumer_energy_joules_total", gpu.merging(["consumer": name]) { $1 }, perHour: joules)
        }
        func tokens(_ model: String, _ server: String, input: Double, output: Double) -> [TimeSeries] {
            let labels = ["model": model, "source": "vllm", "server": server]
            return [Scenario.counter("tokenwatt_tokens_total", labels.merging(["type": "input"]) { $1 }, perHour: input),
                    Scenario.counter("tokenwatt_tokens_total", labels.merging(["type": "output"]) { $1 }, perHour: output)]
        }
        return [Scenario.counter("tokenwatt_gpu_energy_joules_total", gpu.merging(["method": "counter"]) { $1 }, perHour: 3.6e6),
                consumer("127.0.0.1:8000", 1.8e6), consumer("127.0.0.1:8001", 0.9e6), consumer("idle", 0.72e6), consumer("unattributed", 0.18e6)]
            + tokens("llama", "127.0.0.1:8000", input: 800, output: 200) + tokens("qwen", "127.0.0.1:8001", input: 2_000, output: 1_000)
    }

    @Test func eachServerPaysForTheGPUEnergyItDrewAndEveryHourAddsUp() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: SharedGPUCostTests.pricingYAML, file: "costs.yml"))
        try await withAggregator({ $0.pricing = pricing }, now: { Scenario.now }) { client, aggregator in
            try await Scenario.send(client, SharedGPUCostTests.node(), token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()

            func costs(_ query: String) async throws -> CostsResponse {
                try await client.execute(uri: "/api/v1/costs?from=\(Scenario.dayStart / 1000)&to=\(Scenario.dayEnd / 1000)&\(query)", method: .get) { response in
                    try APIJSON.decoder().decode(APISuccess<CostsResponse>.self, from: Data(buffer: response.body)).data
                }
            }
            let byModel = try await costs("by=model")
            func cost(_ model: String) -> Double? { byModel.groups.first { $0.labels == ["model": model] }?.figures.onPremCost }
            #expect(abs((cost("llama") ?? 0) - 13.50) < 1e-9)
            #expect(abs((cost("qwen") ?? 0) - 10.50) < 1e-9)
            #expect(abs(byModel.total - 24.00) < 1e-9)
            // Of that, the GPU energy each server drew: 0.5 and 0.25 kWh an hour.
            func gpuShare(_ model: String) -> Double? { byModel.groups.first { $0.labels == ["model": model] }?.figures.gpuShareCost }
            #expect(abs((gpuShare("llama") ?? 0) - 12.00) < 1e-9 && abs((gpuShare("qwen") ?? 0) - 6.00) < 1e-9)
            // Every hour, the parts add up to the node's cost: no joule lost, none counted twice.
            let hourly = try await costs("by=model&step=hour")
            let hours = Dictionary(grouping: hourly.groups, by: \.start)
            #expect(hours.count == 24)
            for (start, groups) in hours {
                #expect(abs(groups.reduce(0) { $0 + $1.figures.onPremCost } - 1.00) < 1e-9, "hour \(start ?? 0)")
            }
            // The day summary keeps the GPU shares as the hours have them.
            let ledger = aggregator.stores.ledger
            let fromHours = LedgerDaysTests.reports(try await ledger.hours(from: Scenario.dayStart, to: Scenario.dayEnd))
            #expect(fromHours.values.contains { ($0["gpuShareCost"] ?? 0) > 0 })
            LedgerDaysTests.expectEqual(LedgerDaysTests.reports(try await ledger.days(from: Scenario.dayStart, to: Scenario.dayEnd)), fromHours)
        }
    }

    /// The FOCUS rows of one such hour say which part of each stream's cost was its servers'
    /// GPU energy: llama's 800 input tokens cost 0.45 of the node's 1.00, 0.40 of it the GPU
    /// energy its server drew (0.5 kWh × 800 / 1,000 tokens) and 0.05 its share of the rest
    /// (0.25 × 800 / 4,000); all GPU shares 0.75 of the node, the rest 0.25.
    @Test func focusSaysWhichPartWasTheServersOwnGPUEnergy() throws {
        typealias Stream = HourCosts.Stream
        let pricing = try Pricing.parse(ConfigNode(yaml: SharedGPUCostTests.pricingYAML, file: "costs.yml"))
        var hour = HourCosts(hour: 0)
        hour.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        hour.gpuConsumers = ["gpu-01": ["a:1": 1.8e6, "b:2": 0.9e6, GPUConsumer.idle: 0.72e6, GPUConsumer.unattributed: 0.18e6]]
        let llama = Stream(node: "gpu-01", source: "vllm", provider: "local", model: "llama", labels: [:])
        let qwen = Stream(node: "gpu-01", source: "vllm", provider: "local", model: "qwen", labels: [:])
        hour.tokens = [llama: ["input": 800, "output": 200], qwen: ["input": 2_000, "output": 1_000]]
        hour.serverTokens = [llama: ["a:1": 1_000], qwen: ["b:2": 3_000]]
        let by = FOCUSExport.streamLabels
        let report = CostsResponse(from: 0, to: 3_600, by: by, currency: "USD",
                                   groups: CostReport(by: by, step: nil, pricing: pricing).rows(hour.ledger(pricing: pricing) { _ in [:] }))
        let rows = FOCUSExport(report: report, window: (0, Milliseconds.hour), tags: []).rows()
            .map { Dictionary(uniqueKeysWithValues: zip(FOCUSExport.columns, $0)) }
        #expect(FOCUSRules.check(columns: FOCUSExport.columns, rows: rows) == [])
        var ratios: [String: Double] = [:]
        for row in rows {
            let details = try APIJSON.decoder().decode(FOCUSAllocationDetails.self, from: Data(row["AllocatedMethodDetails"]!.utf8))
            #expect(details.elements.map(\.basis) == ["gpu_share", "tokens"], "\(row["SkuId"]!)")
            for element in details.elements { ratios[element.basis, default: 0] += element.allocatedRatio }
            if row["SkuId"] == "on-premises/llama/input" {
                #expect(abs(Double(row["BilledCost"]!)! - 0.45) < 1e-12)
                #expect(abs(details.elements[0].allocatedRatio - 0.40) < 1e-12 && abs(details.elements[1].allocatedRatio - 0.05) < 1e-12)
            }
        }
        #expect(rows.count == 4 && abs((ratios["gpu_share"] ?? 0) - 0.75) < 1e-12 && abs((ratios["tokens"] ?? 0) - 0.25) < 1e-12)
    }

    /// A what-if that takes most of the node's energy away scales the servers' parts down with
    /// it: never more than the node's energy cost, never a negative rest.
    @Test func serversNeverPayMoreThanTheNodesEnergy() throws {
        typealias Stream = HourCosts.Stream
        let pricing = try Pricing.parse(ConfigNode(yaml: SharedGPUCostTests.pricingYAML, file: "costs.yml"))
        var hour = HourCosts(hour: Scenario.dayStart)
        hour.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        hour.joulesChange = ["gpu-01": -3.24e6]  // 0.1 kWh left
        hour.gpuConsumers = ["gpu-01": ["a:1": 1.8e6, "b:2": 0.9e6, GPUConsumer.idle: 0.9e6]]
        let a = Stream(node: "gpu-01", source: "vllm", provider: "local", model: "a", labels: [:])
        let b = Stream(node: "gpu-01", source: "vllm", provider: "local", model: "b", labels: [:])
        hour.tokens = [a: ["input": 1_000], b: ["input": 1_000]]
        hour.serverTokens = [a: ["a:1": 1_000], b: ["b:2": 1_000]]
        let rows = hour.ledger(pricing: pricing) { _ in [:] }
        let costs = Dictionary(uniqueKeysWithValues: rows.usage.map { ($0.model, $0.cost) })
        // 0.10 of energy, split 2:1 between the two servers' GPU energy; nothing left to share.
        #expect(abs((costs["a"] ?? 0) - 0.10 * 2 / 3) < 1e-12 && abs((costs["b"] ?? 0) - 0.10 / 3) < 1e-12)
        #expect(abs(rows.usage.reduce(0) { $0 + $1.cost } - rows.nodes[0].cost) < 1e-12)
    }
}
