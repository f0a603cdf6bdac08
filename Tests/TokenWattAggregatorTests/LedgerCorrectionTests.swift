import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// Late data that lowers a ledger total never lowers a published counter: the correction is
/// carried into the next increases, also across a restart.
@Suite struct LedgerCorrectionTests {
    static let hour = CostScenarioTests.hour
    static let dayStart = CostScenarioTests.dayStart
    static let dayEnd = CostScenarioTests.dayEnd
    static let pricing = "electricity: {price_per_kwh: 0.15}"

    static func idleCost(_ client: any TestClientProtocol) async throws -> Double? {
        let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
        let families = try ExpositionParser(format: .prometheusText).parse(metrics)
        return families.flatMap(\.samples).first { $0.name == "tokenwatt_idle_cost_usd_total" && $0.labels == [Label("node", "gpu-01")] }?.value
    }

    @Test func anIdleHourThatTurnsOutBusyLeavesTheIdleCounterWhereItWas() async throws {
        let directory = Environment.temporaryPath("correction")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pricing = try Pricing.parse(ConfigNode(yaml: LedgerCorrectionTests.pricing, file: "costs.yml"))
        let energy = CostScenarioTests.counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-1", "method": "counter"], perHour: 3.6e6)
        let tokens = ["model": "llama", "type": "output", "source": "vllm", "server": "127.0.0.1:8000"]
        let late = CostScenarioTests.lateHour
        let firstNow = CostScenarioTests.now
        try await withAggregator({ $0.pricing = pricing; $0.storage.directory = directory }, now: { firstNow }) { client, aggregator in
            // Hour 20 has energy but no token samples: idle, 1 kWh at 0.15.
            try await CostScenarioTests.send(client, [energy, CostScenarioTests.counter("tokenwatt_tokens_total", tokens, perHour: 1e6, excluding: late)], token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: firstNow, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            #expect(try await LedgerCorrectionTests.idleCost(client) == 0.15)
            // Its token samples arrive late: the ledger's idle total falls to 0, the counter holds.
            try await CostScenarioTests.send(client, [CostScenarioTests.counter("tokenwatt_tokens_total", tokens, perHour: 1e6, only: late)], token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: firstNow, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            let ledger = try await aggregator.stores.ledger.hours(from: .min, to: .max)
            #expect(LedgerTotals(ledger.nodes, ledger.usage, sign: 1).nodes["gpu-01"]?.idle == 0)
            #expect(try await LedgerCorrectionTests.idleCost(client) == 0.15)
        }
        // After a restart, three idle hours (0.45) raise it by what exceeds the correction carried.
        let secondNow = LedgerCorrectionTests.dayEnd + 3 * LedgerCorrectionTests.hour + 1_800_000
        try await withAggregator({ $0.pricing = pricing; $0.storage.directory = directory }, now: { secondNow }) { client, aggregator in
            try await aggregator.costs.update()
            #expect(try await LedgerCorrectionTests.idleCost(client) == 0.15)
            var samples: [(Int64, Double)] = []
            for step in 1...18 {
                let time: Int64 = LedgerCorrectionTests.dayEnd + Int64(step) * 600_000
                let joules: Double = 24 * 3.6e6 + Double(step) * 0.6e6
                samples.append((time, joules))
            }
            let more = ts("tokenwatt_gpu_energy_joules_total", ["gpu": "0", "uuid": "GPU-1", "method": "counter"], samples)
            try await CostScenarioTests.send(client, [more], token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: secondNow, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            let idle = try #require(try await LedgerCorrectionTests.idleCost(client))
            #expect(abs(idle - 0.45) < 1e-9)
        }
    }

    /// Prometheus and other grid-aligned senders put a sample on every hour boundary: when it
    /// comes late, the hour it closes is rewritten, so no step of the hour is lost.
    @Test func aLateSampleOnAnHourBoundaryIsBookedIntoTheHourItCloses() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: LedgerCorrectionTests.pricing, file: "costs.yml"))
        let boundary = LedgerCorrectionTests.dayStart + 21 * LedgerCorrectionTests.hour
        let labels = ["gpu": "0", "uuid": "GPU-1", "method": "counter"]
        try await withAggregator({ $0.pricing = pricing }, now: { CostScenarioTests.now }) { client, aggregator in
            let withoutBoundary = CostScenarioTests.counter("tokenwatt_gpu_energy_joules_total", labels, perHour: 3.6e6, excluding: (boundary - 1)..<boundary)
            #expect(withoutBoundary.samples.count == 24 * 6 + 1)
            try await CostScenarioTests.send(client, [withoutBoundary], token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: CostScenarioTests.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            let hour20 = { try await aggregator.stores.ledger.hours(from: boundary - LedgerCorrectionTests.hour, to: boundary).nodes.first?.joules }
            #expect(try await hour20() == 3.0e6)  // 20:00–20:50: the step into 21:00 is missing
            let onBoundary = CostScenarioTests.counter("tokenwatt_gpu_energy_joules_total", labels, perHour: 3.6e6, only: (boundary - 1)..<boundary)
            try await CostScenarioTests.send(client, [onBoundary], token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: CostScenarioTests.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            #expect(try await hour20() == 3.6e6)
            let day = try await aggregator.stores.ledger.hours(from: LedgerCorrectionTests.dayStart, to: LedgerCorrectionTests.dayEnd)
            #expect(day.nodes.allSatisfy { $0.joules == 3.6e6 })
            #expect(day.nodes.count == 24)
        }
    }
}

/// Which of a node's energy counters the ledger counts: never one that holds another.
@Suite struct EnergySourceTests {
    @Test(arguments: [
        (HourCosts.Energy(bmc: 10, gpu: 4, packages: 2, psys: 3), 10.0, "bmc"),
        (HourCosts.Energy(gpu: 4, packages: 2, psys: 3), 6, "gpu+rapl"),
        (HourCosts.Energy(gpu: 4, psys: 3), 7, "gpu+psys"),
        (HourCosts.Energy(packages: 2, psys: 3), 2, "rapl"),
        (HourCosts.Energy(psys: 3), 3, "psys"),
        (HourCosts.Energy(gpu: 4), 4, "gpu"),
        (HourCosts.Energy(), 0, "none"),
    ] as [(HourCosts.Energy, Double, String)])
    func psysCountsOnlyWhereThereAreNoPackages(energy: HourCosts.Energy, joules: Double, source: String) {
        #expect(energy.joules(estimating: Pricing.PowerModel()).joules == joules)
        #expect(energy.joules(estimating: Pricing.PowerModel()).source == source)
    }
}
