import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattAPI
@testable import TokenWattConfiguration
import TokenWattCore
@testable import TokenWattAggregator

/// The fleet's power now, for nodes with and without sensors: a gauge where one reads, else the
/// ledger's energy rules over the staleness window, an estimate from CPU utilisation where the
/// node has no sensor at all.
@Suite struct FleetPowerTests {
    static let now: Int64 = 1_800_000_000_000

    /// A counter sampled every 15 s over the last two minutes, growing `perSecond`.
    static func counter(_ name: String, _ labels: [String: String], perSecond: Double) -> TimeSeries {
        ts(name, labels, stride(from: now - 120_000, through: now - 1_000, by: 15_000).map { ($0, 1e6 + perSecond * Double($0 - now) / 1000) })
    }

    @Test func aNodeWithoutASensorShowsTheLedgersEstimateMarkedAsSuch() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: """
            node_classes: [{match: {node: "vm-.*"}, idle_watts_per_vcpu: 1.0, max_watts_per_vcpu: 5.0}]
            """, file: "costs.yml"))
        let clock = Atomic<Int64>(FleetPowerTests.now)
        try await withAggregator({
            $0.pricing = pricing
            $0.nodes += [SenderCredential(name: "vm-03", token: "secret-3"), SenderCredential(name: "cpu-04", token: "secret-4")]
        }, now: { clock.load(ordering: .relaxed) }) { client, _ in
            // vm-03: 4 vCPUs a quarter busy, no sensor: 4 × 1 W + 4 × 0.25 × (5 − 1) W = 8 W, estimated.
            try await CostScenarioTests.send(client, [FleetPowerTests.counter("tokenwatt_cpu_seconds_total", ["mode": "user"], perSecond: 1),
                                                      FleetPowerTests.counter("tokenwatt_cpu_seconds_total", ["mode": "idle"], perSecond: 3)], token: "secret-3")
            // cpu-04: RAPL's package at 50 W (its core zone inside it), no power gauge.
            try await CostScenarioTests.send(client, [FleetPowerTests.counter("tokenwatt_cpu_energy_joules_total", ["zone": "package-0"], perSecond: 50),
                                                      FleetPowerTests.counter("tokenwatt_cpu_energy_joules_total", ["zone": "package-0/core"], perSecond: 30),
                                                      FleetPowerTests.counter("tokenwatt_cpu_seconds_total", ["mode": "idle"], perSecond: 8)], token: "secret-4")
            // gpu-01: its GPU's gauge, 612 W, whatever its counters say.
            try await CostScenarioTests.send(client, [ts("tokenwatt_gpu_power_watts", ["gpu": "0"], [(FleetPowerTests.now - 5_000, 612)]),
                                                      FleetPowerTests.counter("tokenwatt_cpu_seconds_total", ["mode": "idle"], perSecond: 8)], token: "secret-1")
            func fleet() async throws -> [String: FleetNode] {
                let nodes = try await client.execute(uri: "/api/v1/fleet", method: .get) { response in
                    #expect(response.status == .ok)
                    return try APIJSON.decoder().decode(APISuccess<[FleetNode]>.self, from: Data(buffer: response.body)).data
                }
                return Dictionary(uniqueKeysWithValues: nodes.map { ($0.node, $0) })
            }
            // A gateway pushes too (its own series, its own credential): up, but no node of the fleet.
            try await CostScenarioTests.send(client, [ts("tokenwatt_gateway_requests_total", ["route": "gpt-.*", "outcome": "forwarded"],
                                                         [(FleetPowerTests.now - 5_000, 3)])], token: "gateway-secret")
            let byName = try await fleet()
            #expect(Set(byName.keys) == ["gpu-01", "gpu-02", "vm-03", "cpu-04"], "\(byName.keys.sorted())")
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("tokenwatt_agent_up{node=\"gw-1\"} 1"))
            #expect(byName["vm-03"]?.powerSource == "estimated")
            #expect(abs((byName["vm-03"]?.powerWatts ?? 0) - 8) < 1e-9)
            #expect(byName["cpu-04"]?.powerSource == "rapl")
            #expect(abs((byName["cpu-04"]?.powerWatts ?? 0) - 50) < 1e-9)
            #expect(byName["gpu-01"]?.powerSource == "gpu")
            #expect(byName["gpu-01"]?.powerWatts == 612)

            let page = try await client.execute(uri: "/", method: .get) { String(buffer: $0.body) }
            #expect(page.contains("1 node estimated: no power sensor"))
            #expect(page.contains(#"data-key="node.vm-03.power_watts" data-value="8.0">8 W</span> <abbr class="estimated""#), "\(page)")
            #expect(!page.contains(#"data-key="node.cpu-04.power_watts" data-value="50.0">50 W</span> <abbr"#))

            // vm-03 gets busier: all 4 vCPUs, 4 × 5 W = 20 W. Within the cost interval (1 minute)
            // the figure kept stands; past it, the new one.
            try await CostScenarioTests.send(client, [ts("tokenwatt_cpu_seconds_total", ["mode": "user"], [(FleetPowerTests.now + 119_000, 1e6 + 120 + 4 * 120)]),
                                                      ts("tokenwatt_cpu_seconds_total", ["mode": "idle"], [(FleetPowerTests.now + 119_000, 1e6 + 3 * 120)])],
                                             token: "secret-3")
            clock.store(FleetPowerTests.now + 30_000, ordering: .relaxed)
            #expect(abs((try await fleet()["vm-03"]?.powerWatts ?? 0) - 8) < 1e-9)
            clock.store(FleetPowerTests.now + 120_000, ordering: .relaxed)
            let busier = try await fleet()["vm-03"]?.powerWatts ?? 0
            #expect(busier > 8 && busier < 20, "\(busier) W: between the quarter-busy 8 W and the fully busy 20 W, over a window of both")
        }
    }
}
