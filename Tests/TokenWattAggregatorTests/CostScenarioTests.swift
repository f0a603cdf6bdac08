import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The reference scenario: one day (2026-11-28, UTC) of two GPU nodes and a VM without power
/// sensors, worked out by hand.
///
/// Prices: electricity 0.12 USD/kWh with PUE 1.5, so a kWh drawn costs 0.18.
/// - gpu-01: class "big" bought for 87,660 with no residual value over 1 year (8,766 h), so
///   capex is 10.00/h, overhead 1.50/h. Energy from its GPU (1 kWh/h) and RAPL (package-0
///   0.1 kWh/h; package-0/core 0.05 kWh/h is inside the package and must not be added, nor
///   psys's 0.25 kWh/h, the platform that holds the package): 1.1 kWh/h
///   → 0.198/h. Node cost 11.698/h, 280.752 for the day.
///   Tokens from 06:00 only, so hours 0–5 are idle: idle cost 6 × 11.698 = 70.188.
///   Llama 70B: 24M input + 6M output per hour (its vLLM restarts at 12:00: a counter reset);
///   Qwen 7B: 8M input + 2M output per hour. 40M tokens/h over 18 h = 720M.
///   Shares: Llama 3/4 of 11.698 × 18 h = 157.923; Qwen 1/4 → 52.641. 157.923 + 52.641 + 70.188 = 280.752.
///   Cloud-equivalent: Llama shadowed by gpt-5-mini (0.25 in, 2.00 out per M): 24 × 0.25 + 6 × 2 = 18/h
///   → 324; Qwen by gpt-5-nano (0.05 in, 0.40 out): 8 × 0.05 + 2 × 0.4 = 1.2/h → 21.6. Total 345.6.
///   Savings 345.6 − 280.752 = 64.848. Cost per million tokens: 280.752 / 720 = 0.389933…;
///   Llama alone 157.923 / 540 = 0.29245.
///   Break-even: 11.698/h ÷ (345.6 / 720M per token × 3600) = 6,769.675925… tokens/s.
/// - gpu-02: class "small", 43,830 over 1 year → 5.00/h capex, 0.50/h overhead. Its BMC reads
///   2 kWh/h for the whole node (its GPU's 1.5 kWh/h is inside it and must not be added):
///   0.36/h. Node cost 5.86/h, 140.64 for the day.
///   Qwen 7B all day: 12M input + 3M output per hour = 360M; cloud-equivalent 12 × 0.05 + 3 × 0.4
///   = 1.8/h → 43.2; savings 43.2 − 140.64 = −97.44.
///   An application on gpu-02 reports gpt-5-mini usage for team research, 09:00–17:00: 1M input
///   (0.5M of it cached) and 0.2M output per hour: 0.5 × 0.25 + 0.5 × 0.025 + 0.2 × 2 = 0.5375/h
///   → 4.30; 9.6M tokens, 0.447916… per million.
///   gpu-02's samples of 20:00–21:00 arrive late, after the ledger was first written.
/// By model: Llama 157.923; Qwen 52.641 + 140.64 = 193.281 over 540M tokens (0.357927…/M);
/// gpt-5-mini cloud spend 4.30; idle 70.188. All costs: 280.752 + 140.64 + 4.30 = 425.692.
@Suite struct CostScenarioTests {
    static let hour: Int64 = Milliseconds.hour
    static let dayStart: Int64 = 1_795_824_000_000  // 2026-11-28T00:00:00Z
    static let dayEnd = dayStart + 24 * hour
    static let step: Int64 = 600_000  // a sample every 10 minutes
    static let now = dayEnd + 2 * hour

    static let pricingYAML = """
        currency: USD
        electricity: {price_per_kwh: 0.12, pue: 1.5}
        node_classes:
          - match: {node: "vm-.*"}
            idle_watts_per_vcpu: 1.0
            max_watts_per_vcpu: 5.0
          - match: {node: "gpu-01"}
            purchase_price: 87660
            purchase_date: 2026-01-01
            life_years: 1
            overhead_per_hour: 1.50
          - match: {node: "gpu-.*"}
            purchase_price: 43830
            purchase_date: 2026-01-01
            life_years: 1
            residual_value: 0
            overhead_per_hour: 0.50
        cloud_prices:
          - {match: "gpt-5-mini.*", input: 0.25, cached_input: 0.025, output: 2.00, from: 2026-08-01}
          - {match: "gpt-5-mini.*", input: 9.99, output: 99.9}
          - {match: "gpt-5-nano", input: 0.05, output: 0.40}
        shadow_prices:
          - {local: "meta-llama/.*70B.*", cloud: gpt-5-mini}
          - {local: "Qwen/.*", cloud: gpt-5-nano}
        """

    /// A counter growing at `perHour` between `start` and `end` (ms), sampled every 10 minutes
    /// from 23:50 the day before; `resetAt` makes it restart from zero just after the sample
    /// before that time, so no token is lost to the reset.
    static func counter(_ name: String, _ labels: [String: String], perHour: Double, start: Int64 = dayStart, end: Int64 = dayEnd,
                        resetAt: Int64? = nil, only hours: Range<Int64>? = nil, excluding excluded: Range<Int64>? = nil) -> TimeSeries {
        func cumulative(_ t: Int64) -> Double { perHour * Double(max(0, min(t, end) - start)) / Double(hour) }
        var samples: [(Int64, Double)] = []
        var t = dayStart - step
        while t <= dayEnd {
            var value = cumulative(t)
            if let resetAt, t >= resetAt { value -= cumulative(resetAt - step) }
            let inWindow = hours.map { $0.contains(t - 1) } ?? true
            let isExcluded = excluded.map { $0.contains(t - 1) } ?? false
            if inWindow && !isExcluded { samples.append((t, value)) }
            t += step
        }
        return ts(name, labels, samples)
    }

    /// A cloud VM without power sensors: 4 vCPUs, a quarter busy.
    static func vm03() -> [TimeSeries] {
        [counter("tokenwatt_cpu_seconds_total", ["mode": "user"], perHour: 3_600), counter("tokenwatt_cpu_seconds_total", ["mode": "idle"], perHour: 10_800)]
    }

    static let llama = "meta-llama/Llama-3.1-70B-Instruct"
    static let qwen = "Qwen/Qwen2.5-7B-Instruct"
    static let lateHour = (dayStart + 20 * hour)..<(dayStart + 21 * hour)

    static func gpu01() -> [TimeSeries] {
        let six = dayStart + 6 * hour, noon = dayStart + 12 * hour
        return [
            // Its GPU's reading at 12:00 sharp comes late (below).
            counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-1", "method": "counter"], perHour: 3.6e6, excluding: (noon - 1)..<noon),
            counter("tokenwatt_cpu_energy_joules_total", ["zone": "package-0"], perHour: 0.36e6),
            counter("tokenwatt_cpu_energy_joules_total", ["zone": "package-0/core"], perHour: 0.18e6),
            counter("tokenwatt_cpu_energy_joules_total", ["zone": "psys"], perHour: 0.9e6),
            // The agent's attribution: vLLM's Llama is research's, SGLang's Qwen the platform team's.
            counter("tokenwatt_tokens_total", ["model": llama, "type": "input", "source": "vllm", "server": "127.0.0.1:8000", "team": "research"], perHour: 24e6, start: six, resetAt: noon),
            counter("tokenwatt_tokens_total", ["model": llama, "type": "output", "source": "vllm", "server": "127.0.0.1:8000", "team": "research"], perHour: 6e6, start: six, resetAt: noon),
            counter("tokenwatt_tokens_total", ["model": qwen, "type": "input", "source": "sglang", "server": "127.0.0.1:30000", "team": "platform"], perHour: 8e6, start: six),
            counter("tokenwatt_tokens_total", ["model": qwen, "type": "output", "source": "sglang", "server": "127.0.0.1:30000", "team": "platform"], perHour: 2e6, start: six),
        ]
    }

    /// gpu-01's GPU reading on the 12:00 boundary, pushed late: it closes 11:00–12:00, whose
    /// ledger must be rewritten (the grid-aligned late sample).
    static func gpu01Late() -> [TimeSeries] {
        let noon = dayStart + 12 * hour
        return [counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-1", "method": "counter"], perHour: 3.6e6, only: (noon - 1)..<noon)]
    }

    /// gpu-02's series: all but the late hour, or only the late hour.
    static func gpu02(lateHourOnly: Bool) -> [TimeSeries] {
        let only = lateHourOnly ? lateHour : nil
        let excluded = lateHourOnly ? nil : lateHour
        let usage = ["model": "gpt-5-mini", "provider": "openai", "source": "usage_api", "team": "research"]
        let nine = dayStart + 9 * hour, five = dayStart + 17 * hour
        return [
            counter("tokenwatt_node_energy_joules_total", ["source": "dcmi"], perHour: 7.2e6, only: only, excluding: excluded),
            counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-2", "method": "counter"], perHour: 5.4e6, only: only, excluding: excluded),
            counter("tokenwatt_tokens_total", ["model": qwen, "type": "input", "source": "vllm", "server": "127.0.0.1:8000"], perHour: 12e6, only: only, excluding: excluded),
            counter("tokenwatt_tokens_total", ["model": qwen, "type": "output", "source": "vllm", "server": "127.0.0.1:8000"], perHour: 3e6, only: only, excluding: excluded),
            counter("tokenwatt_tokens_total", usage.merging(["type": "input"]) { $1 }, perHour: 1e6, start: nine, end: five, only: only, excluding: excluded),
            counter("tokenwatt_tokens_total", usage.merging(["type": "cached_input"]) { $1 }, perHour: 0.5e6, start: nine, end: five, only: only, excluding: excluded),
            counter("tokenwatt_tokens_total", usage.merging(["type": "output"]) { $1 }, perHour: 0.2e6, start: nine, end: five, only: only, excluding: excluded),
            // A model no price list knows: counted, shown as unpriced, never priced at 0.
            counter("tokenwatt_tokens_total", ["model": "mystery-model", "provider": "acme", "source": "usage_api", "type": "output"],
                    perHour: 0.1e6, start: nine, end: five, only: only, excluding: excluded),
        ]
    }

    static func send(_ client: any TestClientProtocol, _ series: [TimeSeries], token: String) async throws {
        var headers = remoteWriteHeaders
        headers[.authorization] = "Bearer \(token)"
        let (_, body) = push(series, headers: headers)
        try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
    }

    static func costs(_ client: any TestClientProtocol, by: String) async throws -> [[String: Any]] {
        try await client.execute(uri: "/api/v1/costs?from=\(dayStart / 1000)&to=\(dayEnd / 1000)&by=\(by)", method: .get) { response in
            #expect(response.status == .ok)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            return (object?["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        }
    }

    static func group(_ groups: [[String: Any]], _ labels: [String: String]) -> [String: Any] {
        groups.first { ($0["labels"] as? [String: String]) == labels } ?? [:]
    }

    /// Money to the cent.
    static func cents(_ value: Any?) -> Int? {
        (value as? Double).map { Int(($0 * 100).rounded()) } ?? (value as? Int).map { $0 * 100 }
    }

    static func relative(_ value: Any?, _ expected: Double) -> Bool {
        guard let value = value as? Double else { return false }
        return abs(value - expected) <= expected * 1e-6
    }

    @Test func aDayOfTwoNodesAddsUpToTheCent() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: CostScenarioTests.pricingYAML, file: "costs.yml"))
        try await withAggregator({
            $0.pricing = pricing
            $0.nodes.append(SenderCredential(name: "vm-03", token: "secret-3"))
        }, now: { CostScenarioTests.now }) { client, aggregator in
            try await CostScenarioTests.send(client, CostScenarioTests.gpu01(), token: "secret-1")
            try await CostScenarioTests.send(client, CostScenarioTests.vm03(), token: "secret-3")
            try await CostScenarioTests.send(client, CostScenarioTests.gpu02(lateHourOnly: false), token: "secret-2")
            try await aggregator.stores.samples.markChangedHours(now: CostScenarioTests.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()

            // Before the late hour arrives, gpu-02 misses hour 20 and the first step of hour 21.
            var byNode = try await CostScenarioTests.costs(client, by: "node")
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byNode, ["node": "gpu-02"])["on_prem_cost"])! < 140_64)

            // The late hour: its rollup marks the hour, and the ledger is rewritten.
            try await CostScenarioTests.send(client, CostScenarioTests.gpu02(lateHourOnly: true), token: "secret-2")
            try await CostScenarioTests.send(client, CostScenarioTests.gpu01Late(), token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: CostScenarioTests.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()

            byNode = try await CostScenarioTests.costs(client, by: "node")
            let gpu01 = CostScenarioTests.group(byNode, ["node": "gpu-01"])
            let noonHours = try await aggregator.stores.ledger.hours(from: CostScenarioTests.dayStart + 11 * CostScenarioTests.hour,
                                                              to: CostScenarioTests.dayStart + 13 * CostScenarioTests.hour)
            #expect(noonHours.nodes.filter { $0.node == "gpu-01" }.map(\.joules) == [3.96e6, 3.96e6])
            #expect(CostScenarioTests.cents(gpu01["on_prem_cost"]) == 280_75)
            #expect(CostScenarioTests.cents((gpu01["components"] as? [String: Any])?["energy"]) == 4_75)
            #expect(CostScenarioTests.cents((gpu01["components"] as? [String: Any])?["capex"]) == 240_00)
            #expect(CostScenarioTests.cents((gpu01["components"] as? [String: Any])?["overhead"]) == 36_00)
            #expect(CostScenarioTests.relative(gpu01["kwh"], 26.4))
            #expect(gpu01["energy_sources"] as? [String] == ["gpu+rapl"])
            #expect(CostScenarioTests.cents(gpu01["idle_cost"]) == 70_19)
            #expect(CostScenarioTests.cents(gpu01["cloud_equivalent"]) == 345_60)
            #expect(CostScenarioTests.cents(gpu01["savings"]) == 64_85)
            #expect(CostScenarioTests.relative(gpu01["cost_per_million_tokens"], 280.752 / 720))
            #expect(gpu01["tokens"] as? [String: Double] == ["input": 576e6, "output": 144e6, "cached_input": 0, "reasoning": 0])

            let gpu02 = CostScenarioTests.group(byNode, ["node": "gpu-02"])
            #expect(CostScenarioTests.cents(gpu02["on_prem_cost"]) == 140_64)
            #expect(CostScenarioTests.relative(gpu02["kwh"], 48))
            #expect(CostScenarioTests.cents(gpu02["cloud_equivalent"]) == 43_20)
            #expect(CostScenarioTests.cents(gpu02["savings"]) == -97_44)
            #expect(CostScenarioTests.cents(gpu02["cloud_spend"]) == 4_30)
            #expect(CostScenarioTests.cents(gpu02["cost"]) == 144_94)
            #expect(CostScenarioTests.relative(gpu02["cloud_cost_per_million_tokens"], 4.30 / 9.6))
            #expect(CostScenarioTests.cents(gpu02["idle_cost"]) == 0)

            // vm-03 has no sensor: 4 vCPUs a quarter busy at its class's 1 W idle and 5 W full
            // draw 1 × 14,400 + 4 × 3,600 = 28,800 J = 0.008 kWh an hour, 0.192 kWh and
            // 0.192 × 0.18 = 0.03456 a day, estimated and kept apart from measured energy.
            let vm03 = CostScenarioTests.group(byNode, ["node": "vm-03"])
            #expect(vm03["kwh"] as? Double == 0)
            #expect(CostScenarioTests.relative(vm03["kwh_estimated"], 0.192))
            #expect(CostScenarioTests.relative((vm03["components"] as? [String: Any])?["energy_estimated"], 0.03456))
            #expect((vm03["components"] as? [String: Any])?["energy"] as? Double == 0)
            #expect(vm03["energy_sources"] as? [String] == ["estimated"])
            #expect(CostScenarioTests.relative(vm03["idle_cost"], 0.03456))

            let byModel = try await CostScenarioTests.costs(client, by: "model")
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byModel, ["model": CostScenarioTests.llama])["on_prem_cost"]) == 157_92)
            #expect(CostScenarioTests.relative(CostScenarioTests.group(byModel, ["model": CostScenarioTests.llama])["cost_per_million_tokens"], 0.29245))
            let qwen = CostScenarioTests.group(byModel, ["model": CostScenarioTests.qwen])
            #expect(CostScenarioTests.cents(qwen["on_prem_cost"]) == 193_28)
            #expect(CostScenarioTests.relative(qwen["cost_per_million_tokens"], 193.281 / 540))
            #expect(CostScenarioTests.cents(qwen["cloud_equivalent"]) == 64_80)
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byModel, ["model": "gpt-5-mini"])["cloud_spend"]) == 4_30)
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byModel, [:])["idle_cost"]) == 70_22)
            let total = byModel.compactMap { $0["cost"] as? Double }.reduce(0, +)
            #expect(Int((total * 100).rounded()) == 425_73)

            // By team: research's local Llama (157.923) and its cloud usage (4.30); the platform's Qwen on gpu-01.
            let mystery = CostScenarioTests.group(byModel, ["model": "mystery-model"])
            #expect(mystery["unpriced_tokens"] as? Double == 0.8e6)
            #expect(mystery["cloud_spend"] as? Double == 0)
            #expect(CostScenarioTests.group(byModel, ["model": "gpt-5-mini"])["unpriced_tokens"] as? Double == 0)

            let byTeam = try await CostScenarioTests.costs(client, by: "team")
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byTeam, ["team": "research"])["cost"]) == 162_22)
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byTeam, ["team": "research"])["on_prem_cost"]) == 157_92)
            #expect(CostScenarioTests.cents(CostScenarioTests.group(byTeam, ["team": "platform"])["cost"]) == 52_64)
            let research = Budget(name: "research", scope: [try LabelMatcher("team", .equal, "research")], measure: .usd,
                                  period: .fixed(from: CostScenarioTests.dayStart, to: CostScenarioTests.dayEnd), limit: 1_000, thresholds: [1], receivers: [])
            let day = try await aggregator.stores.ledger.hours(from: CostScenarioTests.dayStart, to: CostScenarioTests.dayEnd)
            #expect(CostScenarioTests.cents(BudgetEngine.reading(research, ledger: day, now: CostScenarioTests.dayEnd).spent) == 162_22)

            // /metrics: the totals of the whole ledger. The samples at 23:50 the day before put both
            // nodes in that hour too: one more hour of capex and overhead, idle (10 + 1.5 for gpu-01).
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("tokenwatt_cost_usd_total{component=\"capex\",node=\"gpu-01\"} 250\n"))
            #expect(metrics.contains("tokenwatt_cost_usd_total{component=\"energy\",method=\"estimated\",node=\"gpu-01\"} 0\n"))
            #expect(metrics.contains("tokenwatt_cost_usd_total{component=\"energy\",method=\"estimated\",node=\"vm-03\"} 0.0345"))
            #expect(metrics.contains("tokenwatt_cost_usd_total{component=\"energy\",method=\"measured\",node=\"vm-03\"} 0\n"))
            #expect(metrics.contains("tokenwatt_cost_usd_total{component=\"cloud_api\",node=\"gpu-02\"} 4.3"))
            #expect(metrics.contains("tokenwatt_idle_cost_usd_total{node=\"gpu-01\"} 81.688"))
            #expect(metrics.contains("tokenwatt_cloud_equivalent_usd_total{model=\"\(CostScenarioTests.llama)\",node=\"gpu-01\"} 324\n"))
            #expect(metrics.contains("tokenwatt_unpriced_tokens_total{model=\"mystery-model\"} 800000\n"))
            #expect(throws: Never.self) { try ExpositionParser(format: .prometheusText).parse(metrics) }
            let ledger = try await aggregator.stores.ledger.hours(from: CostScenarioTests.dayStart, to: CostScenarioTests.dayEnd)
            let breakEven = CostEngine.breakEven(ledger, from: CostScenarioTests.dayStart)
            #expect(breakEven.count == 2)
            #expect(CostScenarioTests.relative(breakEven.first { $0.labels == [Label("node", "gpu-01")] }?.value, 11.698 / (345.6 / 720e6 * 3600)))
            #expect(CostScenarioTests.relative(breakEven.first { $0.labels == [Label("node", "gpu-02")] }?.value, 5.86 / (43.2 / 360e6 * 3600)))
        }
    }
}
