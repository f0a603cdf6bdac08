import Foundation
import Logging
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// Hard caps: budgets with `action: block`. Before a metered request is forwarded, the gateway
/// reserves its worst case here; the grant holds against every cap whose scope matches the
/// request's labels, and only if each still has room (`ReservationStore.reserve`: one write
/// transaction, so concurrent requests cannot overshoot a cap). When the response ends the
/// gateway settles the reservation to what was used; one never settled keeps its worst case
/// once its time to live has passed.
///
/// A cap's use is what its period has spent in the ledger outside the gateway, as the budget
/// engine last read it, plus every reservation of the period: the gateway's own tokens reach
/// the ledger too, and are held by their reservations (settled to what they used), so they
/// are counted once. A cap with a runaway rule also refuses its scope while the runaway
/// fires and for the rule's cool-down after. Money is priced here: cloud tokens at their price,
/// local tokens at their model's measured cost per token over the last day of the ledger; a
/// request no price bounds is refused by a money cap (its cost would be unknown).
final class ReservationDesk: MetricsSource, Sendable {
    struct Request: Sendable {
        var labels: [String: String]
        var inputTokens: Double
        var maxOutputTokens: Double
        var ttlMs: Int64
    }

    enum Answer: Sendable {
        case granted(id: String, holds: [CapHold], expiresMs: Int64)
        /// The cap that has no room, what it used and allows, and when its period ends.
        case denied(budget: Budget, used: Double, limit: Double, resetsMs: Int64)
        /// The cap's runaway rule fired: its rate against the baseline, and when it lets go.
        case runaway(budget: Budget, rate: Double, baseline: Double, untilMs: Int64?)
        case unpriced(budget: Budget, model: String)
    }

    static let localCostWindowMs: Int64 = Milliseconds.day
    static let defaultTTLMs: Int64 = 10 * 60_000

    let caps: [Budget]
    let budgets: BudgetEngine
    let ledger: any LedgerStore
    let pricing: Pricing
    let reservations: any ReservationStore
    let now: @Sendable () -> Int64
    /// Requests refused, by the cap that refused them.
    let denials = Mutex<[String: Int]>([:])
    /// Local models' cost per token, from the ledger, refreshed at most every 10 s.
    private let localFigures = Mutex<(readMs: Int64, perToken: [String: PerToken])?>(nil)

    /// A local model's figures per token over the last day of the ledger: its cost, the energy
    /// its nodes drew for it (each node's joules shared out by tokens) and its emissions;
    /// `estimated` where a node's energy was estimated (no sensor).
    struct PerToken: Sendable, Equatable {
        var cost: Double
        var joules: Double
        var gco2e: Double
        var estimated: Bool
    }

    /// When this run of the aggregator started: a slice last reported before it is charged in
    /// full if it expires unreported (`LeaseStore`).
    let bootMs: Int64
    /// Caps whose slices give back what their gateways do not need right now, until when: a
    /// request at another gateway waits for that room.
    let recalls = Mutex<[String: Int64]>([:])
    /// Sweeps (`run`) the database failed: `tokenwatt_budget_cap_sweep_errors_total`.
    let sweepErrors = Atomic<Int>(0)
    /// Caps held per session: each session's rate, for their runaway rules.
    let sessionRunaways = SessionRunaways()

    let logger: Logger

    init(reservations: any ReservationStore, budgets: BudgetEngine, ledger: any LedgerStore, pricing: Pricing, logger: Logger,
         now: @escaping @Sendable () -> Int64) {
        bootMs = now()
        self.logger = logger
        caps = budgets.budgets.filter { $0.action == .block }
        self.budgets = budgets
        self.ledger = ledger
        self.pricing = pricing
        self.reservations = reservations
        self.now = now
    }

    func reserve(_ request: Request) async throws -> Answer {
        let answer = try await decide(request)
        switch answer {
        case .denied(let budget, _, _, _), .runaway(let budget, _, _, _), .unpriced(let budget, _):
            denials.withLock { $0[budget.name, default: 0] += 1 }
        case .granted:
            break
        }
        return answer
    }

    /// `tokenwatt_gateway_reservations{state}`, `tokenwatt_gateway_denied_requests_total{budget}`,
    /// and each cap's spent, leased and free room and its open slices.
    func families() async throws -> [MetricFamily] {
        guard !caps.isEmpty else { return [] }
        let counts = try await reservations.counts(nowMs: now())
        let denials = denials.withLock { $0 }
        let figures = try await capFigures()
        func family(_ metric: MetricDescriptor, _ value: (CapFigures) -> Double) -> MetricFamily {
            metric.family(caps.compactMap { cap in
                figures[cap.name].map { metric.sample([Label("budget", cap.name), Label("unit", BudgetEvaluator.unit(of: cap, currency: pricing.currency))], value($0)) }
            })
        }
        return [
            family(.capSpent) { $0.spent }, family(.capLeased) { $0.leased }, family(.capFree) { $0.free },
            MetricDescriptor.capSlices.family(caps.compactMap { cap in
                figures[cap.name].map { MetricDescriptor.capSlices.sample([Label("budget", cap.name)], Double($0.slices)) }
            }),
            MetricDescriptor.capSweepErrors.family([MetricDescriptor.capSweepErrors.sample(Double(sweepErrors.load(ordering: .relaxed)))]),
            MetricDescriptor.gatewayReservations.family(["pending", "settled", "expired"].map {
                MetricDescriptor.gatewayReservations.sample([Label("state", $0)], Double(counts[$0] ?? 0))
            }),
            MetricDescriptor.gatewayDeniedRequests.family(caps.map {
                MetricDescriptor.gatewayDeniedRequests.sample([Label("budget", $0.name)], Double(denials[$0.name] ?? 0))
            }),
        ]
    }

    private func decide(_ request: Request) async throws -> Answer {
        let now = now()
        let matching = caps.filter { $0.matches(request.labels) }
        var holds: [CapHold] = []
        let states = budgets.currentStates
        for cap in matching {
            if let hold = runawayHold(cap, states[cap.name], now: now) {
                return .runaway(budget: cap, rate: hold.rate, baseline: hold.baseline, untilMs: hold.untilMs)
            }
            let amount: Double
            switch cap.measure {
            case .tokens:
                amount = request.inputTokens + request.maxOutputTokens
            case .usd:
                let model = request.labels["model"] ?? ""
                guard let price = try await price(model: model, cloud: StreamKind.isCloudSpend(request.labels["source"]), atHour: now) else {
                    return .unpriced(budget: cap, model: model)
                }
                amount = price(request.inputTokens, 0, request.maxOutputTokens)  // no cached input: the worst case
            case .kwh, .gco2e:
                continue  // refused at config time
            }
            let room = room(cap, states[cap.name], now: now)
            holds.append(CapHold(budget: cap.name, periodStart: room.periodStart, amount: amount, limit: cap.limit, spentBefore: room.spentBefore))
        }
        let id = "res_" + UUID().uuidString.lowercased()
        let expires = now + request.ttlMs
        // No cap matches: nothing to hold, so no write (most of the gateway's requests, where caps are few).
        guard !holds.isEmpty else { return .granted(id: id, holds: [], expiresMs: expires) }
        switch try await reservations.reserve(id: id, holds: holds, nowMs: now, expiresMs: expires) {
        case .granted:
            return .granted(id: id, holds: holds, expiresMs: expires)
        case .denied(let name, let used, let limit):
            let cap = matching.first { $0.name == name }!
            return .denied(budget: cap, used: used, limit: limit, resetsMs: cap.period.bounds(at: now).end)
        }
    }

    /// While a cap's runaway rule fires, and for its cool-down after, the cap refuses its scope:
    /// the rate and baseline that set it off, and when it lets go (nil: while it lasts).
    func runawayHold(_ cap: Budget, _ state: BudgetState?, now: Int64) -> (rate: Double, baseline: Double, untilMs: Int64?)? {
        guard let rule = cap.runaway, let state else { return nil }
        if state.runawayFiring { return (state.runawayRate ?? 0, state.runawayBaseline ?? 0, nil) }
        if let ended = state.runawayEndedMs, now < ended + rule.coolDownMs {
            return (state.runawayRate ?? 0, state.runawayBaseline ?? 0, ended + rule.coolDownMs)
        }
        return nil
    }

    /// A cap's current period, and what it spent there outside the gateway (the ledger as the
    /// budget engine last read it, less the gateway's own tokens, which its reservations and
    /// slices hold).
    func room(_ cap: Budget, _ state: BudgetState?, now: Int64) -> CapRoom {
        let period = cap.period.bounds(at: now)
        let spent = state?.periodStart == period.start ? (state?.spent ?? 0) - (state?.gatewaySpent ?? 0) : 0
        return CapRoom(periodStart: period.start, limit: cap.limit, spentBefore: spent)
    }

    /// Settles a pending reservation to the tokens used; false when there is none by that id.
    func settle(id: String, labels: [String: String], input: Double, cachedInput: Double, output: Double) async throws -> Bool {
        let now = now()
        var amounts: [String: Double] = [:]
        for cap in caps where cap.matches(labels) {
            switch cap.measure {
            case .tokens:
                amounts[cap.name] = input + output
            case .usd:
                let price = try await price(model: labels["model"] ?? "", cloud: StreamKind.isCloudSpend(labels["source"]), atHour: now)
                amounts[cap.name] = price?(input, cachedInput, output)
            case .kwh, .gco2e:
                continue
            }
        }
        return try await reservations.settle(id: id, amounts: amounts, nowMs: now)
    }

    /// The cost of (input, cached input, output) tokens of `model`: at its cloud price, or at a
    /// local model's measured cost per token.
    func price(model: String, cloud: Bool, atHour now: Int64) async throws -> (@Sendable (Double, Double, Double) -> Double)? {
        if cloud {
            guard let price = pricing.cloudPrice(of: model, atHour: now) else { return nil }
            return { input, cached, output in price.cost(input: input, cachedInput: cached, output: output) }
        }
        guard let perToken = try await localPerToken(now: now)[model]?.cost else { return nil }
        return { input, _, output in (input + output) * perToken }
    }

    func localPerToken(now: Int64) async throws -> [String: PerToken] {
        if let cached = localFigures.withLock({ $0 }), now - cached.readMs < 10_000 { return cached.perToken }
        let ledger = try await self.ledger.hours(from: now - ReservationDesk.localCostWindowMs, to: now)
        let nodes = Dictionary(ledger.nodes.map { ("\($0.hour)/\($0.node)", $0) }, uniquingKeysWith: { first, _ in first })
        let local = ledger.usage.filter { !StreamKind.isCloudSpend($0.source) }
        var nodeTokens: [String: Double] = [:]
        for row in local { nodeTokens["\(row.hour)/\(row.node)", default: 0] += row.tokens }
        var sums: [String: (cost: Double, joules: Double, gco2e: Double, tokens: Double, estimated: Bool)] = [:]
        for row in local {
            let key = "\(row.hour)/\(row.node)"
            let node = nodes[key]
            let share = (nodeTokens[key] ?? 0) > 0 ? row.tokens / nodeTokens[key]! : 0
            var sum = sums[row.model] ?? (0, 0, 0, 0, false)
            sum.cost += row.cost
            sum.joules += (node?.joules ?? 0) * share
            sum.gco2e += row.gco2e
            sum.tokens += row.tokens
            sum.estimated = sum.estimated || (node?.energyIsEstimated ?? true)
            sums[row.model] = sum
        }
        let perToken = sums.filter { $0.value.tokens > 0 }.mapValues {
            PerToken(cost: $0.cost / $0.tokens, joules: $0.joules / $0.tokens, gco2e: $0.gco2e / $0.tokens, estimated: $0.estimated)
        }
        localFigures.withLock { $0 = (now, perToken) }
        return perToken
    }
}
