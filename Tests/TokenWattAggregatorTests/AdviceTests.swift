import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattAPI
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The burst advisor on an hour worked out by hand. Every node draws 200 W idle plus 0.5 J per
/// token (P = 200 + 0.5 x); a kWh costs 0.20 (PUE 1), so the next million tokens cost
/// 0.5 × 10⁶ J = 0.13889 kWh → 0.027778 at the margin. Each node class adds capex of 1.00 and
/// overhead of 0.50 an hour (sunk at the margin). Three models are shadowed by a cloud model at
/// 1.00 per million tokens (input and output alike), one by a cloud model at 0.01.
/// Samples every 15 s; the advice window is the hour [T0, T0 + 1 h) in steps of a minute.
/// - gpu-01, `quiet`: 0.2 tokens/s all hour (200.1 W), below the idle rate of 1 → consolidate.
///   Powering it off saves (0.2001 kW × 0.20 + 0.50) × 730.5 h = 394.47 a month, less the
///   trickle's cloud price 0.2 × 3,600 × 730.5 / 10⁶ × 1.00 = 0.526: 393.95.
/// - gpu-02, `steady`: 500 and 1,500 tokens/s in turns of 10 minutes, no queue → keep local;
///   the fit finds 200 W idle and 0.5 J/token.
/// - gpu-03, `busy`: 1,000 tokens/s with no queue for 30 minutes, then 2,000 with 4 requests
///   waiting → overflow above 2,000 tokens/s (the queue grows there). Its ledger hour: energy
///   (0.35 + 0.6) kWh × 0.20 = 0.19, + 1.50 → 1.69 over 5.4M tokens: 0.31296 per million.
/// - gpu-04, `pricey`: like `steady`, but its cloud model costs 0.01 per million, less than
///   0.027778 → use the cloud.
@Suite struct AdviceTests {
    static let t0: Int64 = 1_795_824_000_000  // 2026-11-28T00:00:00Z
    static let hour: Int64 = Milliseconds.hour
    static let now = t0 + hour + 10_000
    static let pricingYAML = """
        electricity: {price_per_kwh: 0.20}
        node_classes:
          - {match: {node: "gpu-.*"}, purchase_price: 8766, purchase_date: 2026-01-01, life_years: 1, overhead_per_hour: 0.50}
        cloud_prices:
          - {match: cloud-llama, input: 1.00, output: 1.00}
          - {match: cloud-cheap, input: 0.01, output: 0.01}
        shadow_prices:
          - {local: "quiet|steady|busy", cloud: cloud-llama}
          - {local: pricey, cloud: cloud-cheap}
        """

    /// A node's hour: tokens per second and requests waiting for the step ending at each time.
    static func node(model: String, rate: (Int64) -> Double, waiting: (Int64) -> Double = { _ in 0 }) -> [TimeSeries] {
        var tokens: [(Int64, Double)] = [], joules: [(Int64, Double)] = [], queue: [(Int64, Double)] = []
        var count = 0.0, energy = 0.0
        var t = t0 - 5 * 60_000
        while t <= t0 + hour {
            let x = t > t0 ? rate(t) : rate(t0 + 1)
            count += x * 15 / 2  // half input, half output
            energy += (200 + 0.5 * x) * 15
            tokens.append((t, count))
            joules.append((t, energy))
            queue.append((t, t > t0 ? waiting(t) : 0))
            t += 15_000
        }
        let labels = ["model": model, "source": "vllm", "server": "127.0.0.1:8000"]
        return [
            ts("tokenwatt_tokens_total", labels.merging(["type": "input"]) { $1 }, tokens),
            ts("tokenwatt_tokens_total", labels.merging(["type": "output"]) { $1 }, tokens),
            ts("tokenwatt_inference_requests_waiting", labels, queue),
            ts("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-\(model)"], joules),
        ]
    }

    static func alternating(_ t: Int64) -> Double { (t - t0 - 1) / 600_000 % 2 == 0 ? 500 : 1_500 }
    static func stepUp(_ t: Int64) -> Double { t > t0 + hour / 2 ? 2_000 : 1_000 }

    @Test func theRightActionAtEachLoadLevel() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: AdviceTests.pricingYAML, file: "advice.yml"))
        try await withAggregator({
            $0.pricing = pricing
            $0.nodes += [SenderCredential(name: "gpu-03", token: "secret-3"), SenderCredential(name: "gpu-04", token: "secret-4")]
        }, now: { AdviceTests.now }) { client, aggregator in
            try await CostScenarioTests.send(client, AdviceTests.node(model: "quiet") { _ in 0.2 }, token: "secret-1")
            try await CostScenarioTests.send(client, AdviceTests.node(model: "steady", rate: AdviceTests.alternating), token: "secret-2")
            try await CostScenarioTests.send(client, AdviceTests.node(model: "busy", rate: AdviceTests.stepUp) { $0 > AdviceTests.t0 + AdviceTests.hour / 2 ? 4 : 0 },
                                             token: "secret-3")
            try await CostScenarioTests.send(client, AdviceTests.node(model: "pricey", rate: AdviceTests.alternating), token: "secret-4")
            try await aggregator.costs.update()

            let answer = try await client.execute(uri: "/api/v1/advice?window=1h&step=1m", method: .get) { response in
                #expect(response.status == .ok)
                return try APIJSON.decoder().decode(APISuccess<AdviceResponse>.self, from: Data(buffer: response.body)).data
            }
            let advice = Dictionary(uniqueKeysWithValues: answer.recommendations.map { ($0.model, $0) })
            func node(_ model: String) -> AdviceResponse.Placement? { advice[model]?.nodes.first }
            func close(_ value: Double?, _ expected: Double, _ tolerance: Double = 1e-6) -> Bool {
                guard let value else { return false }
                return abs(value - expected) <= tolerance * max(1, abs(expected))
            }

            #expect(advice["quiet"]?.action == "consolidate")
            let powerOff = advice["quiet"]?.powerOff ?? []
            #expect(powerOff.map(\.node) == ["gpu-01"])
            #expect(close(powerOff.first?.savingsPerMonth, (0.2001 * 0.20 + 0.50) * 730.5 - 0.2 * 3_600 * 730.5 / 1e6))

            #expect(advice["steady"]?.action == "keep_local")
            #expect(close(node("steady")?.idleWatts, 200))
            #expect(close(node("steady")?.joulesPerToken, 0.5))
            #expect(node("steady")?.marginalBasis == "power_curve")
            #expect(close(node("steady")?.marginalCostPerMillionTokens, 0.5 * 1e6 / 3.6e6 * 0.20))
            #expect(close(node("steady")?.cloudPricePerMillionTokens, 1.00))
            #expect(node("steady") != nil && node("steady")?.capacityTokensPerSecond == nil)

            #expect(advice["busy"]?.action == "overflow")
            #expect(close(advice["busy"]?.overflowAboveTokensPerSecond, 2_000))
            #expect(advice["busy"]?.cloudModel == "cloud-llama")
            #expect(close(node("busy")?.capacityTokensPerSecond, 2_000))
            #expect(close(node("busy")?.headroomTokensPerSecond, 0))
            #expect(node("busy")?.saturated == true)
            #expect(close(node("busy")?.averageCostPerMillionTokens, 1.69 / 5.4))

            #expect(advice["pricey"]?.action == "use_cloud")
            #expect(close(node("pricey")?.cloudPricePerMillionTokens, 0.01))
            // Each says why in words: the margin is the energy alone; capex and overhead are paid either way.
            func reasons(_ model: String) -> [String] { advice[model]?.reasons ?? [] }
            #expect(reasons("steady").contains { $0.hasPrefix("the marginal cost is the energy the next tokens add") && $0.contains("paid either way") })
            #expect(reasons("pricey").contains { $0.contains("even that is above the cloud's price") })

            // The same advice on /metrics, once the advisor has had its round.
            _ = try await aggregator.advisor.refresh()
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("tokenwatt_advice_recommendation{action=\"overflow\",model=\"busy\"} 1\n"))
            #expect(metrics.contains("tokenwatt_advice_recommendation{action=\"keep_local\",model=\"busy\"} 0\n"))
            #expect(metrics.contains("tokenwatt_advice_overflow_above_tokens_per_second{model=\"busy\"} 2000\n"))
            #expect(metrics.contains("tokenwatt_advice_capacity_tokens_per_second{model=\"busy\",node=\"gpu-03\"} 2000\n"))
        }
    }

    /// The case: the average, with capex, far above the cloud's price, the margin far
    /// below it. The model stays local, and the reasons say why the average does not decide.
    @Test func aModelWhoseAverageIsAboveTheCloudPriceStaysLocalAndSaysWhy() throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: AdviceTests.pricingYAML, file: "advice.yml"))
        let placement = Advice.Placement(node: "gpu-09", model: "steady", tokensPerSecond: 100, meanTokensPerSecond: 100, peakTokensPerSecond: 150,
                                         saturated: false, fitted: true, marginalCost: 0.035, averageCost: 8.26, cloudPrice: 0.15)
        let recommendation = Advice.recommend("steady", [placement], prices: Advice.Prices(pricing: pricing, hour: AdviceTests.t0, ledger: [:]),
                                              idleBelow: 1, busyNodes: ["gpu-09"], nodeMonthly: [:])
        #expect(recommendation.action == .keepLocal)
        #expect(recommendation.reasons.first?.hasPrefix("the next million tokens cost 0.035 locally, 0.15 on cloud-llama") == true, "\(recommendation.reasons)")
        #expect(recommendation.reasons.contains { $0.hasPrefix("the average of 8.26 per million is above the cloud's price because it carries the hardware's capex") })
    }

    @Test func hostileWindowsAreRefused() async throws {
        try await withAggregator { client, _ in
            for query in ["window=1m&step=1m", "window=1h&step=0", "window=-1h", "window=30d&step=1s", "step=soon"] {
                try await client.execute(uri: "/api/v1/advice?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                }
            }
        }
    }
}
