import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// Evaluates every budget every interval (10 s by default) and as soon as pushed samples
/// arrive: spent so far in the period (the ledger's complete hours plus the hour in progress,
/// read live from the samples), the forecast, the token rate against its baseline. Each change
/// of a budget's state is saved together with its alert events, one outbox message per
/// receiver, before the delivery worker is woken. Firing alerts are sent again to Alertmanager
/// receivers every minute, as Prometheus does, so Alertmanager keeps them open.
public final class BudgetEngine: Service, Sendable {
    /// Least time between two evaluations: under a stream of pushes the evaluation, which reads
    /// the hour in progress of every energy and token series, runs at most this often.
    static let minimumSpacing: Duration = .milliseconds(250)
    /// Most contributors listed per label in an event.
    static let topContributors = 5

    let budgets: [Budget]
    private let receivers: [String: Receiver]
    private let ledger: any LedgerStore
    private let samples: any SampleReading
    private let pricing: Pricing
    /// The hour in progress as the ledger would have it now.
    private let liveHours: any LiveHourFiguring
    private let stateStore: any BudgetStateStore
    private let delivery: DeliveryWorker
    private let intervalMs: Int64
    private let externalURL: String
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let states = Mutex<[String: BudgetState]?>(nil)
    private let spendByBucket = Mutex<[String: [Int64: Double]]>([:])
    /// The evaluation running or last run: each waits for the one before, so two never read
    /// the same state and both save (the second would lose the first's events).
    private let evaluations = RunsInTurn()
    /// Saved states that did not decode (`tokenwatt_budget_state_errors_total`).
    private let stateReadErrors = Atomic<Int>(0)
    var stateErrors: Int { stateReadErrors.load(ordering: .relaxed) }
    private let wake: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)

    init(budgets: [Budget], receivers: [Receiver], stateStore: any BudgetStateStore, ledger: any LedgerStore, samples: any SampleReading,
         pricing: Pricing, liveHours: any LiveHourFiguring, delivery: DeliveryWorker, intervalMs: Int64,
         externalURL: String, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.budgets = budgets
        self.receivers = Dictionary(uniqueKeysWithValues: receivers.map { ($0.name, $0) })
        self.ledger = ledger
        self.samples = samples
        self.pricing = pricing
        self.liveHours = liveHours
        self.stateStore = stateStore
        self.delivery = delivery
        self.intervalMs = intervalMs
        self.externalURL = externalURL
        self.logger = logger
        self.now = now
        wake = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Pushed samples were stored: evaluate soon (several arrivals make one evaluation).
    func dataArrived() {
        if !budgets.isEmpty { wake.continuation.yield() }
    }

    public func run() async throws {
        guard !budgets.isEmpty else {
            // Nothing to watch; a service that returned would stop the others.
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The interval's tick, as a wake-up like any other.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(self.intervalMs))
                        self.wake.continuation.yield()
                    }
                }
                await self.evaluateLogged()
                for await _ in self.wake.stream {
                    await self.evaluateLogged()
                    try? await Task.sleep(for: BudgetEngine.minimumSpacing)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.wake.continuation.finish()
        }
    }

    private func evaluateLogged() async {
        do {
            try await evaluate()
        } catch {
            logger.error("budgets not evaluated", metadata: ["error": "\(error)"])
        }
    }

    /// The code of the currency money budgets are in.
    var currency: String { pricing.currency }

    /// The budgets' latest states, by name.
    var currentStates: [String: BudgetState] { states.withLock { $0 ?? [:] } }
    /// Each budget's spend by bucket of its current period (`BudgetReading.byBucket`), from the last evaluation.
    var currentSpendByBucket: [String: [Int64: Double]] { spendByBucket.withLock { $0 } }

    /// Evaluates every budget once, after any evaluation in progress.
    public func evaluate() async throws {
        try await evaluations.run { try await self.evaluateAlone() }
    }

    private func evaluateAlone() async throws {
        if states.withLock({ $0 == nil }) {
            let saved = try await stateStore.states()
            var decoded: [String: BudgetState] = [:]
            for (name, text) in saved {
                do {
                    decoded[name] = try JSONDecoder().decode(BudgetState.self, from: Data(text.utf8))
                } catch {
                    // Its alerts may fire again this period: say so, with what was saved.
                    stateReadErrors.add(1, ordering: .relaxed)
                    logger.error("budget state not readable: the budget starts its period afresh", metadata: [
                        "budget": "\(name)", "error": "\(error)", "saved_state": "\(text)",
                    ])
                }
            }
            states.withLock { $0 = decoded }
        }
        let now = now()
        let currentHour = TimeBucket.current(at: now, width: Milliseconds.hour)
        let ledger = try await ledgerToEvaluate(now: now, currentHour: currentHour)
        var anyMessages = false
        // A cap per session is the gateway's alone: the ledger keeps no sessions.
        for budget in budgets where !budget.perSession {
            var reading = BudgetEngine.reading(budget, ledger: ledger, now: now)
            spendByBucket.withLock { $0[budget.name] = reading.byBucket }
            if let rule = budget.runaway {
                (reading.tokenRate, reading.baselineRate) = try await tokenRates(budget, rule: rule, now: now)
            }
            let previous = states.withLock { $0?[budget.name] }
            var (state, events) = BudgetEvaluator.evaluate(budget, state: previous, reading: reading, now: now, currency: pricing.currency,
                                                           link: "\(externalURL)/api/v1/budgets?name=\(budget.name)", newID: { "evt_" + UUID().uuidString.lowercased() })
            var messages = events.flatMap { event in
                budget.receivers.map { OutboxMessage(eventID: event.id, receiver: $0, createdMs: now, event: event.json) }
            }
            messages += refreshes(budget, state: &state, events: events, now: now)
            for event in events {
                logger.notice("budget alert", metadata: ["budget": "\(budget.name)", "type": "\(event.type.rawValue)", "id": "\(event.id)",
                                                         "spent": "\(event.spent)", "limit": "\(event.limit)"])
            }
            if state != previous || !messages.isEmpty {
                try await stateStore.save(budget.name, state: String(decoding: try JSONEncoder().encode(state), as: UTF8.self), messages: messages)
                states.withLock { $0?[budget.name] = state }
                anyMessages = anyMessages || !messages.isEmpty
            }
        }
        if anyMessages { delivery.wakeUp() }
    }

    /// Firing alerts sent again to the budget's Alertmanager receivers once a minute.
    private func refreshes(_ budget: Budget, state: inout BudgetState, events: [AlertEvent], now: Int64) -> [OutboxMessage] {
        let alertmanagers = budget.receivers.filter { if case .alertmanager? = receivers[$0]?.kind { true } else { false } }
        guard !alertmanagers.isEmpty, !state.firing.isEmpty, now - state.lastRefreshMs >= AlertRendering.alertmanagerResendMs else { return [] }
        state.lastRefreshMs = now
        // What fired just now is on its way already.
        let sent = Set(events.compactMap(\.firing))
        return state.firing.filter { !sent.contains($0) }.flatMap { alert -> [OutboxMessage] in
            let refresh = AlertEvent.refresh(of: alert, budget: budget, state: state, now: now, currency: pricing.currency,
                                             link: "\(externalURL)/api/v1/budgets?name=\(budget.name)")
            return alertmanagers.map { OutboxMessage(eventID: refresh.id, receiver: $0, createdMs: now, event: refresh.json) }
        }
    }

    /// The ledger every budget reads: the current hour as the samples have it now, the hours
    /// before it back to the earliest period start or forecast window, and, where a budget's
    /// period starts on a UTC midnight (every budget in UTC), whole UTC days before today's and
    /// before any forecast window from the ledger's day summary: a monthly budget at 1,000 nodes
    /// reads some 5,000 rows a day instead of 120,000.
    private func ledgerToEvaluate(now: Int64, currentHour: Int64) async throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        let day = Milliseconds.day
        var earliest = currentHour
        var hourlyFrom = TimeBucket.current(at: currentHour, width: day)
        for budget in budgets {
            let start = budget.period.bounds(at: now).start
            let window = now - (budget.forecast?.windowMs ?? 0)
            earliest = min(earliest, start, window)
            hourlyFrom = min(hourlyFrom, window, start.modulo(day) == 0 ? hourlyFrom : start)
        }
        // Whole days from the first, up to the day of the first hour some budget reads alone. (An
        // earliest moment off midnight is a period or window that reads its hours: no days then.)
        let daysFrom = TimeBucket.firstStart(from: earliest, width: day)
        let daysTo = max(daysFrom, TimeBucket.current(at: hourlyFrom, width: day))
        let days = try await ledger.days(from: daysFrom, to: daysTo)
        let history = try await ledger.hours(from: daysTo > daysFrom ? daysTo : earliest, to: currentHour)
        let live = try await liveHours.ledger(ofHour: currentHour)
        return (days.nodes + history.nodes + live.nodes, days.usage + history.usage + live.usage)
    }

    /// The budget's measure over its period, its forecast window, and its top contributors.
    static func reading(_ budget: Budget, ledger: (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]), now: Int64) -> BudgetReading {
        let (start, end) = budget.period.bounds(at: now)
        // Hours count in a period or window when they start in it (TimeBucket): each hour in one period.
        let windowStart = budget.forecast.map { TimeBucket.firstStart(from: now - $0.windowMs, width: Milliseconds.hour) }
        var reading = BudgetReading(periodStart: start, periodEnd: end, spent: 0)
        var windowSpent = 0.0
        var contributions: [String: [String: Double]] = [:]
        func add(_ value: Double, hour: Int64, labels: [String: String]) {
            guard value != 0 else { return }
            if TimeBucket.isInWindow(hour, from: start, to: end) {
                reading.spent += value
                reading.byBucket[hour, default: 0] += value
                if StreamKind(source: labels["source"]).isThroughGateway { reading.gatewaySpent += value }
                for key in ["node", "model", "team"] { if let name = labels[key] { contributions[key, default: [:]][name, default: 0] += value } }
            }
            if let windowStart, hour >= windowStart { windowSpent += value }
        }
        let nodesOnly = budget.scopesNodesOnly
        for row in ledger.usage {
            let labels = row.labels.merging(["node": row.node, "source": row.source, "provider": row.provider, "model": row.model]) { $1 }
            guard budget.matches(labels) else { continue }
            switch budget.measure {
            case .usd:
                // Node-scoped budgets take whole node costs below (idle hours included); cloud spend stays per stream.
                if !nodesOnly || StreamKind.isCloudSpend(row.source) { add(row.cost, hour: row.hour, labels: labels) }
            case .tokens:
                add(row.tokens, hour: row.hour, labels: labels)
            case .gco2e:
                if !nodesOnly { add(row.gco2e, hour: row.hour, labels: labels) }
            case .kwh:
                break
            }
        }
        for row in ledger.nodes where budget.matches(["node": row.node]) {
            switch budget.measure {
            case .usd where nodesOnly: add(row.cost, hour: row.hour, labels: ["node": row.node])
            case .kwh: add(row.joules / 3.6e6, hour: row.hour, labels: ["node": row.node])
            case .gco2e where nodesOnly: add(row.gco2e, hour: row.hour, labels: ["node": row.node])
            default: break
            }
        }
        if let windowStart {
            reading.windowSpent = windowSpent
            reading.windowMs = now - windowStart
        }
        reading.contributors = contributions.mapValues { values in
            values.sorted { $0.value > $1.value }.prefix(topContributors).map { AlertEvent.Contributor(name: $0.key, spent: $0.value) }
        }
        return reading
    }

    /// Tokens per second of the budget's streams over the runaway window and over the
    /// baseline before it.
    private func tokenRates(_ budget: Budget, rule: Budget.Runaway, now: Int64) async throws -> (Double, Double) {
        var recent = 0.0, before = 0.0
        for series in samples.series(matching: [try SeriesSelector(parsing: MetricDescriptor.tokens.seriesName)]) {
            let type = series.labels["type"] ?? ""
            guard type == "input" || type == "output" else { continue }
            let labels = Dictionary(series.labels.withoutMetricName.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
            guard budget.matches(labels) else { continue }
            recent += try await samples.counterIncrease(seriesID: series.id, from: now - rule.windowMs, to: now, now: now).increase
            before += try await samples.counterIncrease(seriesID: series.id, from: now - rule.windowMs - rule.baselineMs,
                                                            to: now - rule.windowMs, now: now).increase
        }
        return (recent / (Double(rule.windowMs) / 1000), before / (Double(rule.baselineMs) / 1000))
    }
}

extension AlertEvent {
    /// A firing alert as sent again to Alertmanager: same alert, new message id.
    static func refresh(of alert: String, budget: Budget, state: BudgetState, now: Int64, currency: String, link: String) -> AlertEvent {
        let parts = alert.split(separator: ":")
        let type = Kind(rawValue: String(parts[0])) ?? .threshold
        return AlertEvent(id: "evt_" + UUID().uuidString.lowercased(), type: type, budget: budget.name,
                          scope: Dictionary(budget.scope.map { ($0.name, $0.op.rawValue + $0.value) }, uniquingKeysWith: { $1 }),
                          periodStart: TimeText.exact(state.periodStart), periodEnd: TimeText.exact(state.periodEnd), measure: budget.measure.rawValue,
                          unit: BudgetEvaluator.unit(of: budget, currency: currency), spent: state.spent, limit: budget.limit,
                          usedRatio: state.spent / budget.limit, threshold: parts.count > 1 ? Double(parts[1]) : nil, forecast: state.forecast,
                          topContributors: [:], link: link, occurredAt: TimeText.exact(now))
    }
}
