import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattAPI
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// Energy per phase: a node whose power follows P = idle + a × input/s + b × output/s by hand.
/// The rates follow two patterns that never keep one ratio (input in turns of 7 buckets, output
/// in turns of 3), and the power carries ±2 W of deterministic noise, so the fit has to find
/// a and b rather than read them back.
@Suite struct PhaseEnergyTests {
    static let idle = 250.0, a = 0.06, b = 0.35

    static func input(_ i: Int) -> Double { i / 7 % 2 == 0 ? 2_000 : 6_000 }
    static func output(_ i: Int) -> Double { [300.0, 900, 500][i / 3 % 3] }
    static func noise(_ i: Int) -> Double { [2.0, -1.0, -2.0, 1.0, 0.5][i % 5] }

    struct Case: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var input: @Sendable (Int) -> Double
        var output: @Sendable (Int) -> Double
        var noise: @Sendable (Int) -> Double = PhaseEnergyTests.noise
        var basis: PhaseEnergy.Basis?
        var joulesPerInput: Double?
        var joulesPerOutput: Double?
    }

    static let cases: [Case] = [
        Case(testDescription: "both phases, apart", input: input, output: output, basis: .inputAndOutput, joulesPerInput: a, joulesPerOutput: b),
        // A decode pool: no input at all, so no input coefficient.
        Case(testDescription: "decode pool", input: { _ in 0 }, output: output, basis: .outputOnly, joulesPerOutput: b),
        Case(testDescription: "prefill pool", input: input, output: { _ in 0 }, basis: .inputOnly, joulesPerInput: a),
        // A steady prompt rate under a changing output: its share is in the idle line.
        Case(testDescription: "steady input", input: { _ in 3_000 }, output: output, basis: .outputOnly, joulesPerOutput: b),
        // One ratio all along: which phase drew the power cannot be told.
        Case(testDescription: "one ratio", input: input, output: { input($0) / 4 }, basis: .collinear),
        // Power that does not follow the load (another tenant, a broken sensor).
        Case(testDescription: "unrelated power", input: input, output: output, noise: { Double(($0 * 7_919 + 13) % 101) * 4 - a * input($0) - b * output($0) },
             basis: .poorFit),
        Case(testDescription: "no change in load", input: { _ in 3_000 }, output: { _ in 500 }),
    ]

    @Test(arguments: cases)
    func theFitRecoversAHandSetPowerModel(_ c: Case) throws {
        let buckets = 60
        let watts: [Double?] = (0..<buckets).map { i in
            // Two buckets without a reading: left out, not read as 0 W.
            i == 10 || i == 41 ? nil : PhaseEnergyTests.idle + PhaseEnergyTests.a * c.input(i) + PhaseEnergyTests.b * c.output(i) + c.noise(i)
        }
        let fit = PhaseEnergy.fit(watts: watts, input: (0..<buckets).map(c.input), output: (0..<buckets).map(c.output))
        #expect(fit?.basis == c.basis)
        func within1Percent(_ value: Double?, _ expected: Double?) -> Bool {
            guard let expected else { return value == nil }
            guard let value else { return false }
            return abs(value - expected) <= 0.01 * expected
        }
        #expect(within1Percent(fit?.joulesPerInputToken, c.joulesPerInput), "input: \(String(describing: fit?.joulesPerInputToken))")
        #expect(within1Percent(fit?.joulesPerOutputToken, c.joulesPerOutput), "output: \(String(describing: fit?.joulesPerOutputToken))")
        if c.basis == .inputAndOutput || c.basis == .outputOnly && c.input(0) == 0 {
            #expect(within1Percent(fit?.idleWatts, PhaseEnergyTests.idle))
            #expect((fit?.rSquared ?? 0) > 0.99)
        }
        if c.basis == .poorFit { #expect((fit?.rSquared ?? 1) < PhaseEnergy.minimumRSquared) }
    }

    @Test func twoReadingsAreNoFit() {
        #expect(PhaseEnergy.fit(watts: [300, nil, 400, nil], input: [1, 2, 3, 4], output: [4, 1, 3, 2]) == nil)
    }

    /// A node's hour of pushed counters, each minute at the rates of `input` (prompt tokens
    /// computed) and `output`.
    static func node(model: String, input: (Int) -> Double, output: (Int) -> Double) -> [TimeSeries] {
        let t0 = AdviceTests.t0, hour = AdviceTests.hour
        var prompt: [(Int64, Double)] = [], cached: [(Int64, Double)] = [], generated: [(Int64, Double)] = [], joules: [(Int64, Double)] = []
        var counts = (prompt: 0.0, cached: 0.0, generated: 0.0, energy: 0.0)
        var t = t0 - 5 * 60_000
        while t <= t0 + hour {
            // The minute whose step ends at t (the first minute's rates before the window).
            let minute = t > t0 ? Int((t - t0 - 1) / 60_000) : 0
            // Ten times the computed rate arrives as prompts; nine tenths are cache hits.
            counts.prompt += 10 * input(minute) * 15
            counts.cached += 9 * input(minute) * 15
            counts.generated += output(minute) * 15
            counts.energy += (PhaseEnergyTests.idle + PhaseEnergyTests.a * input(minute) + PhaseEnergyTests.b * output(minute)) * 15
            prompt.append((t, counts.prompt)); cached.append((t, counts.cached)); generated.append((t, counts.generated)); joules.append((t, counts.energy))
            t += 15_000
        }
        let labels = ["model": model, "source": "vllm", "server": "127.0.0.1:8000"]
        return [
            ts("tokenwatt_tokens_total", labels.merging(["type": "input"]) { $1 }, prompt),
            ts("tokenwatt_tokens_total", labels.merging(["type": "cached_input"]) { $1 }, cached),
            ts("tokenwatt_tokens_total", labels.merging(["type": "output"]) { $1 }, generated),
            ts("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-\(model)"], joules),
        ]
    }

    /// Through the aggregator: a node's pushed counters, of which nine prompt tokens in ten are
    /// cache hits, become the same coefficients in `/api/v1/advice`, on `/metrics` and on the
    /// advice page. A second node serves input and output in one ratio: no split, said so.
    @Test func aNodesCountersBecomeJoulesPerPhase() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: AdviceTests.pricingYAML, file: "advice.yml"))
        try await withAggregator({ $0.pricing = pricing }, now: { AdviceTests.now }) { client, aggregator in
            try await CostScenarioTests.send(client, PhaseEnergyTests.node(model: "steady", input: PhaseEnergyTests.input, output: PhaseEnergyTests.output), token: "secret-1")
            try await CostScenarioTests.send(client, PhaseEnergyTests.node(model: "busy", input: PhaseEnergyTests.input, output: { PhaseEnergyTests.input($0) / 4 }), token: "secret-2")
            let advice = try await client.execute(uri: "/api/v1/advice?window=1h&step=1m", method: .get) { response in
                #expect(response.status == .ok)
                return try APIJSON.decoder().decode(APISuccess<AdviceResponse>.self, from: Data(buffer: response.body)).data
            }
            let nodes = Dictionary(uniqueKeysWithValues: advice.recommendations.flatMap(\.nodes).map { ($0.node, $0) })
            let apart = try #require(nodes["gpu-01"])
            #expect(apart.phaseBasis == "input_and_output")
            #expect(abs((apart.joulesPerInputToken ?? 0) - PhaseEnergyTests.a) <= 0.01 * PhaseEnergyTests.a)
            #expect(abs((apart.joulesPerOutputToken ?? 0) - PhaseEnergyTests.b) <= 0.01 * PhaseEnergyTests.b)
            #expect((apart.powerFitRSquared ?? 0) > 0.999)
            // All the energy per output token: mean watts over mean output rate.
            let meanWatts = (0..<60).map { PhaseEnergyTests.idle + PhaseEnergyTests.a * PhaseEnergyTests.input($0) + PhaseEnergyTests.b * PhaseEnergyTests.output($0) }.reduce(0, +)
            let outputTokens = (0..<60).map(PhaseEnergyTests.output).reduce(0, +)
            #expect(abs((apart.averageJoulesPerOutputToken ?? 0) - meanWatts / outputTokens) < 1e-9 * meanWatts / outputTokens)
            let together = try #require(nodes["gpu-02"])
            #expect(together.phaseBasis == "collinear")
            #expect(together.joulesPerInputToken == nil && together.joulesPerOutputToken == nil)
            #expect(together.joulesPerToken != nil)

            _ = try await aggregator.advisor.refresh()
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("tokenwatt_advice_joules_per_output_token{model=\"steady\",node=\"gpu-01\"} ") })
            #expect(abs((Double(line.split(separator: " ").last ?? "") ?? 0) - PhaseEnergyTests.b) <= 0.01 * PhaseEnergyTests.b)
            #expect(!metrics.contains("tokenwatt_advice_joules_per_input_token{model=\"busy\""))
            let page = try await client.execute(uri: "/advice", method: .get) { String(buffer: $0.body) }
            #expect(page.contains("id=\"energy-per-phase\""))
            #expect(page.contains("data-key=\"phase.gpu-01.joules_per_output_token\""))
        }
    }
}
