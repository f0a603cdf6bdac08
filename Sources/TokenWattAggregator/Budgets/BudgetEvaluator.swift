import Foundation
import TokenWattConfiguration

/// What a budget measured at one evaluation.
struct BudgetReading: Sendable {
    var periodStart: Int64
    var periodEnd: Int64
    var spent: Double
    /// The part of `spent` metered by the gateway: hard caps hold it through reservations.
    var gatewaySpent = 0.0
    /// Spent over the forecast window, and the window's length (ms).
    var windowSpent: Double?
    var windowMs: Int64?
    /// Tokens per second over the runaway window and over the baseline before it.
    var tokenRate: Double?
    var baselineRate: Double?
    var contributors: [String: [AlertEvent.Contributor]] = [:]
    /// Spent in each row's bucket of the period, by its start: an hour, or a UTC day read from
    /// the ledger's day summary. The burn-down of the web overview.
    var byBucket: [Int64: Double] = [:]
}

/// A budget's state, saved with every change: the period it is in and the alerts that fired
/// in it, so a restart neither fires them again nor forgets them.
struct BudgetState: Codable, Sendable, Equatable {
    var periodStart: Int64
    var periodEnd: Int64
    /// Alerts fired in this period: `threshold:0.8`, `forecast`.
    var fired: [String] = []
    var runawayFiring = false
    var spent = 0.0
    /// The part of `spent` metered by the gateway (optional: states saved before it lack it).
    var gatewaySpent: Double?
    /// The token rate and baseline that set the runaway alert off, and when it last ended:
    /// a hard cap refuses its scope while it fires and for the rule's cool-down after.
    var runawayRate: Double?
    var runawayBaseline: Double?
    var runawayEndedMs: Int64?
    var forecast: Double?
    /// When firing alerts were last sent again to Alertmanager receivers.
    var lastRefreshMs: Int64 = 0

    /// The alerts firing now.
    var firing: [String] { fired + (runawayFiring ? ["runaway"] : []) }
}

extension BudgetState {
    private enum CodingKeys: String, CodingKey {
        case periodStart, periodEnd, fired, runawayFiring, spent, gatewaySpent, runawayRate, runawayBaseline, runawayEndedMs, forecast, lastRefreshMs
    }

    /// A state saved by any earlier version: a field it did not have yet takes its default,
    /// so an upgrade never forgets which alerts fired.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(periodStart: try container.decode(Int64.self, forKey: .periodStart), periodEnd: try container.decode(Int64.self, forKey: .periodEnd))
        fired = try container.decodeIfPresent([String].self, forKey: .fired) ?? []
        runawayFiring = try container.decodeIfPresent(Bool.self, forKey: .runawayFiring) ?? false
        spent = try container.decodeIfPresent(Double.self, forKey: .spent) ?? 0
        gatewaySpent = try container.decodeIfPresent(Double.self, forKey: .gatewaySpent)
        runawayRate = try container.decodeIfPresent(Double.self, forKey: .runawayRate)
        runawayBaseline = try container.decodeIfPresent(Double.self, forKey: .runawayBaseline)
        runawayEndedMs = try container.decodeIfPresent(Int64.self, forKey: .runawayEndedMs)
        forecast = try container.decodeIfPresent(Double.self, forKey: .forecast)
        lastRefreshMs = try container.decodeIfPresent(Int64.self, forKey: .lastRefreshMs) ?? 0
    }
}

/// A budget's lifecycle, free of I/O: each threshold fires once per period; the forecast once
/// per period; runaway fires when the token rate jumps and resolves when it falls back; the
/// end of a period sends a reset that ends its alerts.
enum BudgetEvaluator {
    static func evaluate(_ budget: Budget, state previous: BudgetState?, reading: BudgetReading, now: Int64,
                         currency: String, link: String, newID: () -> String) -> (state: BudgetState, events: [AlertEvent]) {
        var events: [AlertEvent] = []
        func event(_ type: AlertEvent.Kind, _ state: BudgetState, spent: Double) -> AlertEvent {
            AlertEvent(id: newID(), type: type, budget: budget.name,
                       scope: Dictionary(budget.scope.map { ($0.name, $0.op.rawValue + $0.value) }, uniquingKeysWith: { $1 }),
                       periodStart: TimeText.exact(state.periodStart), periodEnd: TimeText.exact(state.periodEnd),
                       measure: budget.measure.rawValue, unit: unit(of: budget, currency: currency), spent: spent, limit: budget.limit,
                       usedRatio: spent / budget.limit, topContributors: reading.contributors, link: link, occurredAt: TimeText.exact(now))
        }
        var state = previous ?? BudgetState(periodStart: reading.periodStart, periodEnd: reading.periodEnd)
        if state.periodStart != reading.periodStart {
            var reset = event(.reset, state, spent: state.spent)
            reset.resolves = state.fired
            reset.topContributors = [:]
            events.append(reset)
            // A runaway goes on across periods, with its numbers and cool-down.
            state = BudgetState(periodStart: reading.periodStart, periodEnd: reading.periodEnd, runawayFiring: state.runawayFiring,
                                runawayRate: state.runawayRate, runawayBaseline: state.runawayBaseline, runawayEndedMs: state.runawayEndedMs)
        }
        state.spent = reading.spent
        state.gatewaySpent = reading.gatewaySpent
        for threshold in budget.thresholds where reading.spent >= threshold * budget.limit {
            let key = "threshold:\(AlertEvent.number(threshold))"
            guard !state.fired.contains(key) else { continue }
            var crossed = event(.threshold, state, spent: reading.spent)
            crossed.threshold = threshold
            events.append(crossed)
            state.fired.append(key)
        }
        state.forecast = nil
        if budget.forecast != nil, let windowSpent = reading.windowSpent, let windowMs = reading.windowMs, windowMs > 0 {
            let rate = windowSpent / Double(windowMs)  // per ms
            let projected = reading.spent + rate * Double(max(0, state.periodEnd - now))
            state.forecast = projected
            if projected >= budget.limit, reading.spent < budget.limit, rate > 0, !state.fired.contains("forecast") {
                var forecast = event(.forecast, state, spent: reading.spent)
                forecast.forecast = projected
                forecast.projectedCrossingAt = TimeText.exact(now + Int64((budget.limit - reading.spent) / rate))
                events.append(forecast)
                state.fired.append("forecast")
            }
        }
        if let rule = budget.runaway, let rate = reading.tokenRate, let baseline = reading.baselineRate {
            let runaway = rule.fires(rate: rate, baseline: baseline)
            if runaway != state.runawayFiring {
                var change = event(runaway ? .runaway : .resolved, state, spent: reading.spent)
                change.tokensPerSecond = rate
                change.baselineTokensPerSecond = baseline
                if runaway {
                    (state.runawayRate, state.runawayBaseline) = (rate, baseline)
                } else {
                    change.resolves = ["runaway"]
                    state.runawayEndedMs = now
                }
                events.append(change)
                state.runawayFiring = runaway
            }
        }
        return (state, events)
    }

    /// What a budget's figures are in: the currency, `tokens`, `kWh` or `gCO2e`.
    static func unit(of budget: Budget, currency: String) -> String {
        switch budget.measure {
        case .usd: currency
        case .tokens: "tokens"
        case .kwh: "kWh"
        case .gco2e: "gCO2e"
        }
    }
}
