import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// Emissions beside money, worked out by hand. The grid emits 400 g CO2e per kWh, 100 g from
/// 10:00 to 16:00; PUE 1.5. gpu-01 embodies 8,766 kg over a life of one year (8,766 h):
/// 1,000 g per hour.
/// - 03:00: its GPU draws 1 kWh → 1 × 1.5 × 400 = 600 g operational, 1,000 g embodied.
///   Llama serves 3M tokens and Qwen 1M: 1,200 g and 400 g (400 g per million tokens each).
/// - 12:00: 1 kWh at 100 g → 150 g, 1,000 g embodied; no tokens, so 1,150 g idle.
/// The node: 750 g operational + 2,000 g embodied = 2,750 g.
@Suite struct CarbonTests {
    static let hour: Int64 = Milliseconds.hour
    static let dayStart: Int64 = 1_795_824_000_000  // 2026-11-28T00:00:00Z
    static let yaml = """
        electricity: {price_per_kwh: 0.10, pue: 1.5}
        carbon:
          intensity_g_per_kwh: 400
          schedule: [{from: "10:00", to: "16:00", intensity_g_per_kwh: 100}]
        node_classes:
          - {match: {node: gpu-01}, purchase_price: 8766, purchase_date: 2026-01-01, life_years: 1, embodied_kgco2e: 8766}
        """

    static func ledger(_ yaml: String) throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        let pricing = try Pricing.parse(ConfigNode(yaml: yaml, file: "carbon.yml"))
        var night = HourCosts(hour: dayStart + 3 * hour)
        night.nodes["gpu-01"] = HourCosts.Energy(gpu: 3.6e6)
        night.tokens[.init(node: "gpu-01", source: "vllm", provider: "local", model: "llama", labels: [:])] = ["input": 2e6, "output": 1e6]
        night.tokens[.init(node: "gpu-01", source: "vllm", provider: "local", model: "qwen", labels: [:])] = ["input": 0.5e6, "output": 0.5e6]
        var noon = HourCosts(hour: dayStart + 12 * hour)
        noon.nodes["gpu-01"] = HourCosts.Energy(gpu: 3.6e6)
        let rows = [night, noon].map { $0.ledger(pricing: pricing) { ["node": $0] } }
        return (rows.flatMap(\.nodes), rows.flatMap(\.usage))
    }

    @Test func emissionsFollowTheGridScheduleAndTheNodesLife() throws {
        let ledger = try Self.ledger(Self.yaml)
        #expect(ledger.nodes.map(\.operationalGCO2e) == [600, 150])
        #expect(ledger.nodes.map(\.embodiedGCO2e).allSatisfy { abs($0 - 1_000) < 1e-9 })
        let shares = Dictionary(uniqueKeysWithValues: ledger.usage.map { ($0.model, $0.gco2e) })
        #expect(abs(shares["llama"]! - 1_200) < 1e-9 && abs(shares["qwen"]! - 400) < 1e-9)

        let byNode = CostReport(by: ["node"], step: nil, carbon: true).rows(ledger)
        #expect(abs(byNode[0].figures.gco2e! - 2_750) < 1e-9)
        #expect(byNode[0].figures.gco2eComponents?.operational == 750)
        let byModel = CostReport(by: ["model"], step: nil, carbon: true).rows(ledger)
        func figures(_ labels: [String: String]) -> CostFigures? {
            byModel.first { $0.labels == labels }?.figures
        }
        #expect(abs(figures(["model": "llama"])!.gco2ePerMillionTokens! - 400) < 1e-9)
        #expect(abs(figures([:])!.gco2e! - 1_150) < 1e-9)  // the idle hour
        // Without carbon: no emissions invented, none reported.
        let plain = try Self.ledger("electricity: {price_per_kwh: 0.10, pue: 1.5}")
        #expect(plain.nodes.allSatisfy { $0.gco2e == 0 } && plain.usage.allSatisfy { $0.gco2e == 0 })
        #expect(CostReport(by: ["node"], step: nil).rows(plain)[0].figures.gco2e == nil)
    }

    @Test func gco2eBudgetsCountNodesOrTheirTokensShare() throws {
        let ledger = try Self.ledger(Self.yaml)
        let day = Budget.Period.fixed(from: Self.dayStart, to: Self.dayStart + 24 * Self.hour)
        func spent(_ scope: [LabelMatcher]) -> Double {
            let budget = Budget(name: "b", scope: scope, measure: .gco2e, period: day, limit: 10_000, thresholds: [1], forecast: nil, runaway: nil, receivers: [])
            return BudgetEngine.reading(budget, ledger: ledger, now: Self.dayStart + 13 * Self.hour).spent
        }
        #expect(abs(spent([try LabelMatcher("node", .equal, "gpu-01")]) - 2_750) < 1e-9)
        #expect(abs(spent([try LabelMatcher("model", .equal, "llama")]) - 1_200) < 1e-9)
    }
}
