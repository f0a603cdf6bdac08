import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

@Suite struct BudgetForecastTests {
    static let hour: Int64 = Milliseconds.hour
    static let day = 24 * hour
    /// A 10-day fixed period from t = 0, limit 1000, forecast over 6 h.
    static let budget = Budget(name: "b", scope: [], measure: .usd, period: .fixed(from: 0, to: 10 * day), limit: 1_000,
                               thresholds: [0.5, 0.8, 1.0], forecast: .init(windowMs: 6 * hour), runaway: nil, receivers: [])

    /// Ledger rows of one node spending `perHour(h)` in hour h, for the hours before `now`.
    static func ledger(until now: Int64, _ perHour: (Int64) -> Double) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        let nodes: [LedgerNodeHour] = stride(from: Int64(0), to: now, by: Int(hour)).map { (start: Int64) -> LedgerNodeHour in
            LedgerNodeHour(hour: start, node: "gpu-01", energySource: "gpu", joules: 0, energyCost: perHour(start / hour), capexCost: 0, overheadCost: 0)
        }
        return (nodes, [])
    }

    static func evaluate(at now: Int64, state: BudgetState? = nil, _ perHour: (Int64) -> Double) -> (state: BudgetState, events: [AlertEvent]) {
        let reading = BudgetEngine.reading(budget, ledger: ledger(until: now, perHour), now: now)
        var n = 0
        return BudgetEvaluator.evaluate(budget, state: state, reading: reading, now: now, currency: "USD", link: "http://x") {
            n += 1
            return "evt_\(n)"
        }
    }

    @Test func aLinearBurnForecastsTheCrossingOnceAndOnlyWhenItComesBeforeTheEnd() throws {
        // 5/h: 1200 over 10 days, crossing 1000 at hour 200.
        let now = 48 * BudgetForecastTests.hour
        let (state, events) = BudgetForecastTests.evaluate(at: now) { _ in 5 }
        #expect(state.spent == 240)
        #expect(state.forecast == 1_200)
        let forecast = try #require(events.first { $0.type == .forecast })
        #expect(forecast.projectedCrossingAt == TimeText.exact(200 * BudgetForecastTests.hour))
        #expect(forecast.forecast == 1_200)
        // Not again in the same period.
        let later = BudgetForecastTests.evaluate(at: now + BudgetForecastTests.hour, state: state) { _ in 5 }
        #expect(later.events.isEmpty)
        // 4/h: 960 by the end, below the limit: no forecast.
        let slower = BudgetForecastTests.evaluate(at: now) { _ in 4 }
        #expect(slower.state.forecast == 960)
        #expect(slower.events.isEmpty)
    }

    @Test func aStepInTheWindowRaisesTheBurnRate() throws {
        // 1/h for 4 days (96), flat; then 240 in one hour: 336 spent.
        let before = BudgetForecastTests.evaluate(at: 96 * BudgetForecastTests.hour) { _ in 1 }
        #expect(before.events.isEmpty)
        let now = 97 * BudgetForecastTests.hour
        let (state, events) = BudgetForecastTests.evaluate(at: now, state: before.state) { $0 == 96 ? 240 : 1 }
        #expect(state.spent == 336)
        // The 6 h window holds 5 + 240 = 245: 245/6 per hour; 664 left is reached in 664 × 6/245 h.
        let forecast = try #require(events.first { $0.type == .forecast })
        let crossing = now + Int64((664.0 / (245.0 / Double(6 * BudgetForecastTests.hour))))
        #expect(forecast.projectedCrossingAt == TimeText.exact(crossing))
    }

    @Test func eachThresholdFiresOncePerPeriodAndTheNextPeriodStartsWithAReset() throws {
        let monthly = Budget(name: "m", scope: [], measure: .tokens, period: .every(CalendarPeriod(.day, timezone: TimeZone(identifier: "Europe/Berlin")!)), limit: 100,
                             thresholds: [0.5, 1.0], forecast: nil, runaway: nil, receivers: [])
        // 2026-11-28 00:00 in Berlin is 2026-11-27T23:00Z.
        let dayStart: Int64 = 1_795_820_400_000
        #expect(monthly.period.bounds(at: dayStart + Milliseconds.hour) == (dayStart, dayStart + Milliseconds.day))
        var usage = LedgerUsageHour(hour: dayStart, node: "n", source: "vllm", provider: "local", model: "m", labels: [:])
        usage.input = 60
        var n = 0
        func run(_ state: BudgetState?, at now: Int64, ledger: [LedgerUsageHour]) -> (state: BudgetState, events: [AlertEvent]) {
            BudgetEvaluator.evaluate(monthly, state: state, reading: BudgetEngine.reading(monthly, ledger: ([], ledger), now: now), now: now,
                                     currency: "USD", link: "l") { n += 1; return "evt_\(n)" }
        }
        let first = run(nil, at: dayStart + 1_800_000, ledger: [usage])
        #expect(first.events.map(\.type) == [.threshold])
        #expect(first.events.first?.threshold == 0.5)
        usage.input = 130
        let second = run(first.state, at: dayStart + Milliseconds.hour, ledger: [usage])
        #expect(second.events.map(\.type) == [.threshold])
        #expect(second.events.first?.threshold == 1.0)
        #expect(run(second.state, at: dayStart + 7_200_000, ledger: [usage]).events.isEmpty)
        // The next day: a reset that ends the day's alerts, and nothing spent yet.
        let next = run(second.state, at: dayStart + 25 * Milliseconds.hour, ledger: [usage])
        #expect(next.events.map(\.type) == [.reset])
        #expect(next.events.first?.resolves == ["threshold:0.5", "threshold:1"])
        #expect(next.events.first?.spent == 130)
        #expect(next.state.fired.isEmpty)
        #expect(next.state.spent == 0)
    }
}

@Suite struct RunawayTests {
    static let start: Int64 = 1_800_000_000_000
    static let yaml = """
        receivers: [{name: hook, webhook: {url: "http://127.0.0.1:1/hook"}}]
        budgets:
          - name: fleet-tokens
            measure: tokens
            limit: 1e12
            runaway: {window: 10s, baseline: 10m, factor: 10, min_rate: 100}
            receivers: [hook]
        """

    /// Pushes a token counter sampled every second at `rates[i]` tokens/s in second i, and
    /// evaluates the budgets every 10 s; returns the event types of each evaluation.
    static func run(rates: [Double], evaluateFrom: Int) async throws -> [[AlertEvent.Kind]] {
        let clock = ClockBox(start)
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, file: "budgets.yml")
        let evaluations = Mutex<[[AlertEvent.Kind]]>([])
        try await withAggregator({ $0.receivers = configuration.receivers }, now: { clock.now }) { client, aggregator in
            // An engine of the test's own, evaluated only when the test says (the aggregator's
            // own has no budgets, so pushes wake nothing).
            let engine = BudgetEngine(budgets: configuration.budgets, receivers: configuration.receivers, stateStore: aggregator.stores.budgetStates,
                                      ledger: aggregator.stores.ledger, samples: aggregator.stores.samples, pricing: aggregator.costs.pricing,
                                      liveHours: aggregator.costs,
                                      delivery: aggregator.delivery, intervalMs: 10_000, externalURL: "http://x",
                                      logger: Logger(label: "test"), now: { clock.now })
            var total = 0.0
            var seen = 0
            for (second, rate) in rates.enumerated() {
                total += rate
                clock.now = start + Int64(second + 1) * 1_000
                let (headers, body) = push([ts("tokenwatt_tokens_total", ["model": "m", "type": "output", "source": "vllm"], [(clock.now, total)])])
                try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
                if (second + 1) % 10 == 0 && second + 1 >= evaluateFrom {
                    try await engine.evaluate()
                    let messages = try await aggregator.stores.outbox.recentMessages(limit: 1_000)
                    let new = messages.count - seen
                    seen = messages.count
                    evaluations.withLock { $0.append(messages.prefix(new).compactMap { try? AlertEvent.decoder.decode(AlertEvent.self, from: Data($0.event.utf8)).type }) }
                }
            }
        }
        return evaluations.withLock { $0 }
    }

    @Test func aTwentyfoldSpikeFiresWithinTwoEvaluationsAndResolvesWhenItEnds() async throws {
        // 11 minutes at 1000 tokens/s, 30 s at 20,000, then 1000 again.
        let rates = Array(repeating: 1_000.0, count: 660) + Array(repeating: 20_000, count: 30) + Array(repeating: 1_000, count: 30)
        let evaluations = try await RunawayTests.run(rates: rates, evaluateFrom: 620)
        // Evaluations at 620, 630, ..., 660 (before the spike), 670 and 680 (in it): it fires by the second.
        let firstSpike = 670 / 10 - 62
        #expect(evaluations[..<firstSpike].allSatisfy { $0.isEmpty })
        #expect(evaluations[firstSpike...(firstSpike + 1)].flatMap { $0 } == [.runaway])
        #expect(evaluations.flatMap { $0 }.filter { $0 == .runaway }.count == 1)
        #expect(evaluations.flatMap { $0 }.last == .resolved)
    }

    @Test func aTwofoldWiggleNeverFires() async throws {
        // 1000 and 2000 tokens/s in turns of 10 s.
        let rates = (0..<72).flatMap { Array(repeating: $0 % 2 == 0 ? 1_000.0 : 2_000, count: 10) }
        let evaluations = try await RunawayTests.run(rates: rates, evaluateFrom: 610)
        #expect(evaluations.count == 12)  // at 610, 620, ..., 720 s
        #expect(evaluations.allSatisfy { $0.isEmpty })
    }
}

/// A clock the test moves.
final class ClockBox: Sendable {
    private let value: Mutex<Int64>

    init(_ value: Int64) { self.value = Mutex(value) }

    var now: Int64 {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

@Suite struct BudgetEvaluationTests {
    /// Evaluations asked for at once run one after another: each alert fires once, however
    /// many evaluations overlap (two that read the same state would both fire it).
    @Test func overlappingEvaluationsFireEachAlertOnce() async throws {
        let clock = ClockBox(1_800_000_030_000)  // 30 s into an hour: the pushed samples are in the hour in progress
        let configuration = try AggregatorConfiguration.parse(yaml: """
            receivers: [{name: hook, webhook: {url: "http://127.0.0.1:1/hook"}}]
            budgets: [{name: tokens, measure: tokens, limit: 100, receivers: [hook]}]
            """, file: "budgets.yml")
        try await withAggregator({ $0.receivers = configuration.receivers; $0.budgets = configuration.budgets }, now: { clock.now }) { client, aggregator in
            let (headers, body) = push([ts("tokenwatt_tokens_total", ["model": "m", "type": "output", "source": "vllm"],
                                           [(clock.now - 20_000, 0), (clock.now - 10_000, 1_000)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { try await aggregator.budgets.evaluate() } }
                try await group.waitForAll()
            }
            let fired = try await aggregator.stores.outbox.recentMessages(limit: 100).compactMap {
                try AlertEvent.decoder.decode(AlertEvent.self, from: Data($0.event.utf8)).firing
            }
            #expect(fired.sorted() == ["threshold:0.5", "threshold:0.8", "threshold:1"])
        }
    }
}

@Suite struct BudgetUnitTests {
    /// The `unit` label of the budget families is what the API and the webhooks say: the
    /// currency's code for money, `tokens`, `kWh`.
    @Test func theUnitLabelIsTheConfiguredCurrency() async throws {
        let configuration = try AggregatorConfiguration.parse(yaml: """
            currency: EUR
            receivers: [{name: hook, webhook: {url: "http://127.0.0.1:1/hook"}}]
            budgets:
              - {name: money, limit: 100, receivers: [hook]}
              - {name: energy, measure: kwh, limit: 100, receivers: [hook]}
            """, file: "budgets.yml")
        try await withAggregator({ $0.pricing = configuration.pricing; $0.budgets = configuration.budgets; $0.receivers = configuration.receivers }) { client, aggregator in
            try await aggregator.budgets.evaluate()
            let samples = (aggregator.budgets.families() + aggregator.delivery.families()).flatMap(\.samples)
            let spent = samples.filter { $0.name == "tokenwatt_budget_spent" }.map(\.labels)
            #expect(spent == [[Label("budget", "money"), Label("unit", "EUR")], [Label("budget", "energy"), Label("unit", "kWh")]])
            let units = try await client.execute(uri: "/api/v1/budgets", method: .get) { response in
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                return (object?["data"] as? [[String: Any]] ?? []).compactMap { $0["unit"] as? String }
            }
            #expect(units == ["EUR", "kWh"])
        }
    }
}
