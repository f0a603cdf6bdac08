import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// What-ifs over `CostScenarioTests`' day (425.73 in all).
@Suite struct WhatIfTests {
    typealias Scenario = CostScenarioTests

    static func sendDay(_ client: any TestClientProtocol) async throws {
        try await Scenario.send(client, Scenario.gpu01() + Scenario.gpu01Late(), token: "secret-1")
        try await Scenario.send(client, Scenario.vm03(), token: "secret-3")
        try await Scenario.send(client, Scenario.gpu02(lateHourOnly: false) + Scenario.gpu02(lateHourOnly: true), token: "secret-2")
    }

    static func withDay(_ yaml: String, _ test: @escaping @Sendable (any TestClientProtocol, Aggregator) async throws -> Void) async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: yaml, file: "costs.yml"))
        try await withAggregator({
            $0.pricing = pricing
            $0.nodes.append(SenderCredential(name: "vm-03", token: "secret-3"))
        }, now: { Scenario.now }) { client, aggregator in
            try await sendDay(client)
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            try await test(client, aggregator)
        }
    }

    static func whatIf(_ client: any TestClientProtocol, _ query: String) async throws -> [String: Any] {
        try await client.execute(uri: "/api/v1/whatif?from=\(Scenario.dayStart / 1000)&to=\(Scenario.dayEnd / 1000)&\(query)", method: .get) { response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            return (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["data"] as? [String: Any] ?? [:]
        }
    }

    static func group(_ figures: Any?, _ model: String) -> [String: Any] {
        Scenario.group((figures as? [String: Any])?["groups"] as? [[String: Any]] ?? [], ["model": model])
    }

    /// Another electricity price: the what-if equals the ledger an aggregator configured with
    /// that price computes from scratch, group by group; today equals today's ledger.
    @Test func anotherPriceEqualsTheLedgerComputedFromScratchWithIt() async throws {
        let changedYAML = Scenario.pricingYAML.replacingOccurrences(of: "price_per_kwh: 0.12", with: "price_per_kwh: 0.22")
        #expect(changedYAML != Scenario.pricingYAML)
        let fromScratch = LockedBox<[[String: Any]]>([])
        try await Self.withDay(changedYAML) { client, _ in fromScratch.value = try await Scenario.costs(client, by: "model") }
        try await Self.withDay(Scenario.pricingYAML) { client, _ in
            let data = try await Self.whatIf(client, "set=electricity.price_per_kwh%3D0.22")
            let today = try await Scenario.costs(client, by: "model")
            #expect(Scenario.cents((data["today"] as? [String: Any])?["cost"]) == 425_73)
            #expect(Scenario.cents((data["whatif"] as? [String: Any])?["cost"]) == Scenario.cents(fromScratch.value.compactMap { $0["cost"] as? Double }.reduce(0, +)))
            #expect(Scenario.cents((data["whatif"] as? [String: Any])?["cost"])! > 425_73)
            for model in [Scenario.llama, Scenario.qwen, "gpt-5-mini"] {
                for key in ["cost", "on_prem_cost", "cloud_spend", "cloud_equivalent", "savings"] {
                    #expect(Scenario.cents(Self.group(data["whatif"], model)[key]) == Scenario.cents(Scenario.group(fromScratch.value, ["model": model])[key]), "\(model) \(key)")
                    #expect(Scenario.cents(Self.group(data["today"], model)[key]) == Scenario.cents(Scenario.group(today, ["model": model])[key]), "\(model) \(key)")
                }
            }
            #expect(data["set"] as? [String] == ["electricity.price_per_kwh=0.22"])
        }
    }

    /// Half of Llama's tokens to gpt-5-mini: they cost half its cloud-equivalent (324 / 2 = 162)
    /// on the cloud; gpu-01 draws the same whatever it serves (its idle power is all of it), so
    /// its cost stays. Back: all of gpt-5-mini's usage (4.30) goes to Llama on gpu-01, which
    /// the cloud no longer bills; mystery-model shadows nothing local, so its tokens stay.
    @Test func shiftsMoveTokensToTheCloudAndBack() async throws {
        try await Self.withDay(Scenario.pricingYAML) { client, _ in
            let out = try await Self.whatIf(client, "shift=meta-llama/.*%3D50%25")
            #expect(Scenario.cents((out["whatif"] as? [String: Any])?["cost"]) == 587_73)
            #expect(Scenario.cents(Self.group(out["whatif"], "gpt-5-mini")["cloud_spend"]) == 166_30)
            #expect(Scenario.cents(Self.group(out["whatif"], Scenario.llama)["cloud_equivalent"]) == 162_00)
            #expect((Self.group(out["whatif"], Scenario.llama)["tokens"] as? [String: Double])?["input"] == 24e6 * 18 / 2)

            let back = try await Self.whatIf(client, "shift=gpt-5-mini%3D-100%25&shift=mystery-model%3D-50%25")
            #expect(Scenario.cents((back["whatif"] as? [String: Any])?["cost"]) == 421_43)
            #expect(Scenario.cents(Self.group(back["whatif"], "gpt-5-mini")["cloud_spend"]) ?? 0 == 0)
            #expect((Self.group(back["whatif"], Scenario.llama)["tokens"] as? [String: Double])?["input"] == 24e6 * 18 + 8e6)
            #expect(back["stayed_on_cloud_tokens"] as? Double == 0.4e6)
        }
    }

    @Test(arguments: [
        ("set=listen%3D0.0.0.0:1", "invalid set: what-if: listen: a key under currency, electricity, carbon, node_classes, cloud_prices, shadow_prices"),
        ("set=electricity.pue%3D0.5", "invalid set: what-if: electricity.pue: a PUE of at least 1.0"),
        ("set=node_classes%5B7%5D.life_years%3D5", "invalid set: what-if: node_classes[7].life_years: an index of an existing list entry"),
        ("set=electricity.price_per_kwh%3D-1", "invalid set: what-if: electricity.price_per_kwh: a number of at least 0, got \"-1\""),
        ("set=novalue", "invalid set \"novalue\": expected KEY=VALUE"),
        ("shift=llama%3D150%25", "invalid shift \"llama=150%\""),
        ("shift=llama%3D1e999%25", "invalid shift \"llama=1e999%\""),
        ("shift=(%3D30%25", "invalid shift \"(=30%\":"),
        ("from=0&to=99999999", "a what-if covers at most 92 days"),
    ])
    func badChangesAreRefusedWithTheirReason(query: String, message: String) async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: "/api/v1/whatif?\(query)", method: .get) { response in
                #expect(response.status == .badRequest)
                let error = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["error"] as? String ?? ""
                #expect(error.hasPrefix(message), "\(error)")
            }
        }
    }
}

/// A value a `@Sendable` closure hands back.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
