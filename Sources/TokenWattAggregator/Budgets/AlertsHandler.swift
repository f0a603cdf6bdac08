import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// `GET /api/v1/budgets` (each budget: period, spent, limit, forecast, used ratio, alerts fired,
/// runaway, and a hard cap's spent, leased and free room; `?name=` for one) and `GET /api/v1/alerts` (the newest outbox messages with their
/// delivery state; `?limit=`, default 100), and the budget families of `/metrics`.
struct AlertsHandler: Sendable {
    let budgets: BudgetEngine
    let desk: ReservationDesk
    let delivery: DeliveryWorker

    func budgets(_ request: Request, context: some RequestContext) async throws -> Response {
        let name = QueryString(request.uri.query)["name"]
        let rows = try await budgetRows(named: name)
        if let name, rows.isEmpty { return APIResponse.badData("no budget named \(name)") }
        return APIResponse.answer(rows)
    }

    /// `GET /api/v1/sessions?budget=NAME`: the sessions of a cap held per session.
    func sessions(_ request: Request, context: some RequestContext) async throws -> Response {
        let name = QueryString(request.uri.query)["budget"]
        guard let cap = desk.caps.first(where: { $0.name == name && $0.perSession }) else {
            return APIResponse.badData("budget: the name of a hard cap held per session (per: session)")
        }
        return APIResponse.answer(try await desk.sessions(of: cap))
    }

    /// Each budget (or the one named) as `/api/v1/budgets` answers it.
    func budgetRows(named name: String? = nil) async throws -> [BudgetStatus] {
        let states = budgets.currentStates
        let caps = try await desk.capFigures()
        return budgets.budgets.filter { name == nil || $0.name == name }.map { budget in
            var row = BudgetStatus(name: budget.name, measure: budget.measure.rawValue, unit: BudgetEvaluator.unit(of: budget, currency: budgets.currency),
                                   limit: budget.limit, thresholds: budget.thresholds, receivers: budget.receivers,
                                   scope: Dictionary(budget.scope.map { ($0.name, $0.op.rawValue + $0.value) }, uniquingKeysWith: { $1 }),
                                   state: "not evaluated yet")
            if let state = states[budget.name] {
                row.periodStart = TimeText.exact(state.periodStart)
                row.periodEnd = TimeText.exact(state.periodEnd)
                row.spent = state.spent
                row.usedRatio = state.spent / budget.limit
                row.fired = state.fired
                row.runaway = state.runawayFiring
                row.forecast = state.forecast
                row.state = state.spent >= budget.limit ? "exceeded" : state.firing.isEmpty ? "ok" : "alerting"
            }
            row.cap = caps[budget.name].map { BudgetStatus.CapRoom(spent: $0.spent, leased: $0.leased, free: $0.free, slices: $0.slices) }
            return row
        }
    }

    /// A budget evaluated this period: its spend so far, cumulative by bucket (a day's or an
    /// hour's), for its burn-down chart.
    struct BurnDown {
        let budget: Budget
        let periodStart: Int64
        let periodEnd: Int64
        /// Spent by the end of each bucket: where the next begins, now for the last.
        let cumulative: [(time: Int64, spent: Double)]
        let forecast: Double?
        let unit: String
    }

    func burnDowns(now: Int64) -> [BurnDown] {
        let states = budgets.currentStates
        let spendByBucket = budgets.currentSpendByBucket
        return budgets.budgets.compactMap { budget in
            guard let state = states[budget.name] else { return nil }
            let buckets = (spendByBucket[budget.name] ?? [:]).sorted { $0.key < $1.key }
            var spent = 0.0
            let cumulative = buckets.indices.map { index -> (time: Int64, spent: Double) in
                spent += buckets[index].value
                return (index + 1 < buckets.count ? buckets[index + 1].key : now, spent)
            }
            return BurnDown(budget: budget, periodStart: state.periodStart, periodEnd: state.periodEnd, cumulative: cumulative,
                            forecast: state.forecast, unit: BudgetEvaluator.unit(of: budget, currency: budgets.currency))
        }
    }

    func alerts(_ request: Request, context: some RequestContext) async throws -> Response {
        let limit = QueryString(request.uri.query)["limit"].flatMap(Int.init) ?? 100
        guard limit > 0 else { return APIResponse.badData("limit must be positive") }
        return APIResponse.answer(try await alertRows(limit: limit).map(\.record))
    }

    /// The newest outbox messages as `/api/v1/alerts` answers them, each with when it was
    /// created (ms), which the budgets page writes for a person.
    func alertRows(limit: Int) async throws -> [(record: AlertRecord, createdMs: Int64)] {
        try await delivery.outbox.recentMessages(limit: limit).map { message in
            var row = AlertRecord(eventID: message.eventID, receiver: message.receiver, created: TimeText.exact(message.createdMs),
                                  status: message.status.rawValue, attempts: message.attempts)
            // The event's text is ours; one that does not read as an event still shows its delivery.
            if let event = try? AlertEvent.decoder.decode(AlertEvent.self, from: Data(message.event.utf8)) {
                row.type = event.type.rawValue
                row.budget = event.budget
                row.summary = event.summary
            }
            if message.status == .pending { row.nextAttempt = TimeText.exact(message.nextAttemptMs) }
            row.lastError = message.lastError
            row.finished = message.finishedMs.map(TimeText.exact)
            return (row, message.createdMs)
        }
    }
}
