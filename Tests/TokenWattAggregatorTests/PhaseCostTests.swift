import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattAPI
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// A model served by a prefill pool and a decode pool, with prompts 90 % cached, worked out by
/// hand. Every hour 100 requests, each a 10,000-token prompt (9,000 cached) and 500 tokens of
/// output: the agents report the prompt on the prefill node (gpu-01, `role=prefill`) and the
/// output on the decode node (gpu-02, `role=decode`), as they count P/D pools.
///
/// Electricity 0.10 USD/kWh, PUE 1, no hardware cost: gpu-01 draws 2 kWh/h (0.20/h, 4.80 for
/// the day), gpu-02 3 kWh/h (0.30/h, 7.20). The model's cost is both pools': 12.00 for 24M input
/// and 1.2M output tokens, 12.00 / 25.2 = 0.476190… per million. By phase, prefill 4.80 and
/// decode 7.20.
///
/// Cloud-equivalent, at gpt-5-mini's 0.25 / 0.025 / 2.00 per million: a request is
/// 1,000 × 0.25 + 9,000 × 0.025 + 500 × 2.00 = 1,475 µUSD, so 0.1475/h and 3.54 for the day.
/// Priced as fresh input (the cache ignored) it would be 3,500 µUSD a request, 8.40.
@Suite struct PhaseCostTests {
    typealias Scenario = CostScenarioTests
    static let model = "meta-llama/Llama-3.1-8B-Instruct"

    static let pricingYAML = """
        currency: USD
        electricity: {price_per_kwh: 0.10, pue: 1.0}
        cloud_prices:
          - {match: "gpt-5-mini", input: 0.25, cached_input: 0.025, output: 2.00}
        shadow_prices:
          - {local: "meta-llama/.*", cloud: gpt-5-mini}
        """

    static func node(role: String, joulesPerHour: Double, tokens: [String: Double], requests: Double) -> [TimeSeries] {
        let labels = ["model": model, "source": "vllm", "server": "127.0.0.1:8000", "role": role]
        return [Scenario.counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-\(role)", "method": "counter"], perHour: joulesPerHour)]
            + tokens.map { type, perHour in Scenario.counter("tokenwatt_tokens_total", labels.merging(["type": type]) { $1 }, perHour: perHour) }
            + (requests > 0 ? [Scenario.counter("tokenwatt_requests_total", labels, perHour: requests)] : [])
    }

    static func costs(_ client: any TestClientProtocol, by: String) async throws -> CostsResponse {
        try await client.execute(uri: "/api/v1/costs?from=\(Scenario.dayStart / 1000)&to=\(Scenario.dayEnd / 1000)&by=\(by)", method: .get) { response in
            #expect(response.status == .ok)
            return try APIJSON.decoder().decode(APISuccess<CostsResponse>.self, from: Data(buffer: response.body)).data
        }
    }

    static func cents(_ value: Double) -> Int { Int((value * 100).rounded()) }
    static func near(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= expected * 1e-9 }

    @Test func aModelOfTwoPoolsCostsBothAndItsCachedPromptsArePricedAsCached() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: PhaseCostTests.pricingYAML, file: "costs.yml"))
        try await withAggregator({ $0.pricing = pricing }, now: { Scenario.now }) { client, aggregator in
            try await Scenario.send(client, PhaseCostTests.node(role: "prefill", joulesPerHour: 7.2e6,
                                                              tokens: ["input": 1_000_000, "cached_input": 900_000], requests: 0), token: "secret-1")
            try await Scenario.send(client, PhaseCostTests.node(role: "decode", joulesPerHour: 10.8e6, tokens: ["output": 50_000], requests: 100),
                                    token: "secret-2")
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()

            let byModel = try await PhaseCostTests.costs(client, by: "model")
            let whole = try #require(byModel.groups.first { $0.labels == ["model": PhaseCostTests.model] }?.figures)
            #expect(PhaseCostTests.cents(whole.onPremCost) == 12_00)
            #expect(PhaseCostTests.cents(whole.cloudEquivalent) == 3_54)
            #expect(abs(whole.cloudEquivalent - 3.54) < 1e-9)
            #expect(PhaseCostTests.near(whole.tokens.input, 24_000_000) && PhaseCostTests.near(whole.tokens.cachedInput, 21_600_000))
            #expect(PhaseCostTests.near(whole.tokens.output, 1_200_000) && whole.tokens.reasoning == 0)
            #expect(abs(whole.requests - 2_400) < 1e-6)
            #expect(abs((whole.costPerMillionTokens ?? 0) - 12.0 / 25.2) < 1e-9)
            #expect(PhaseCostTests.cents(whole.savings) == 3_54 - 12_00)

            let byPhase = try await PhaseCostTests.costs(client, by: "role")
            let prefill = try #require(byPhase.groups.first { $0.labels == ["role": "prefill"] }?.figures)
            let decode = try #require(byPhase.groups.first { $0.labels == ["role": "decode"] }?.figures)
            #expect(PhaseCostTests.cents(prefill.onPremCost) == 4_80 && PhaseCostTests.cents(decode.onPremCost) == 7_20)
            #expect(PhaseCostTests.near(prefill.tokens.input, 24_000_000) && prefill.tokens.output == 0)
            #expect(PhaseCostTests.near(decode.tokens.output, 1_200_000) && decode.tokens.input == 0)
            // 24 × (100,000 × 0.25 + 900,000 × 0.025) µUSD = 1.14; 24 × 50,000 × 2.00 µUSD = 2.40.
            #expect(PhaseCostTests.cents(prefill.cloudEquivalent) == 1_14 && PhaseCostTests.cents(decode.cloudEquivalent) == 2_40)

            // The costs page shows the cached input and the split by phase, with the same figures.
            let page = try await client.execute(uri: "/costs?days=2", method: .get) { String(buffer: $0.body) }
            let model = PhaseCostTests.model
            func figure(_ key: String) -> Double? {
                guard let marker = page.range(of: "data-key=\"\(key)\" data-value=\"") else { return nil }
                return Double(page[marker.upperBound...].prefix { $0 != "\"" })
            }
            #expect(figure("model.\(model).cached_input").map { PhaseCostTests.near($0, 21_600_000) } == true)
            #expect(figure("phase.\(model).prefill.input").map { PhaseCostTests.near($0, 24_000_000) } == true)
            #expect(figure("phase.\(model).decode.output").map { PhaseCostTests.near($0, 1_200_000) } == true)
            #expect(figure("phase.\(model).decode.on_prem_cost").map { PhaseCostTests.cents($0) } == 7_20)
        }
    }
}
