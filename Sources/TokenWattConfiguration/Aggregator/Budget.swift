import Foundation
import TokenWattCore

/// A budget: a scope of the fleet's spending, measured in money, tokens, kWh or grams of CO2e over a period,
/// with a limit, thresholds and optional forecast and runaway rules (`budgets:` in the config).
public struct Budget: Sendable {
    public enum Measure: String, Sendable, CaseIterable {
        /// Money in the configured currency: local tokens at their measured cost, cloud tokens
        /// at their price.
        case usd
        case tokens
        case kwh
        /// Grams of CO2e (needs `carbon:`): node-scoped, the nodes' emissions; else the local
        /// tokens' share of them.
        case gco2e

        /// Measured per hour in the ledger only: alerts, never a hard cap on requests.
        public var capsRequests: Bool { self == .usd || self == .tokens }
    }

    /// A calendar period in a time zone, or one fixed window.
    public enum Period: Sendable {
        case every(CalendarPeriod)
        case fixed(from: Int64, to: Int64)

        /// The period holding `time` (ms): its start and end.
        public func bounds(at time: Int64) -> (start: Int64, end: Int64) {
            switch self {
            case .fixed(let from, let to): (from, to)
            case .every(let period): period.bounds(at: time)
            }
        }

        /// The zone its calendar runs in; UTC for a fixed window.
        public var timezone: TimeZone {
            switch self {
            case .every(let period): period.timezone
            case .fixed: TimeZone(identifier: "UTC")!
            }
        }
    }

    /// Alert when spent + burn rate over `windowMs` × time left reaches the limit.
    public struct Forecast: Sendable {
        public var windowMs: Int64
    }

    /// Alert when the token rate over `windowMs` is `factor` times its rate over the
    /// `baselineMs` before, and at least `minRate` tokens per second.
    public struct Runaway: Sendable {
        public var windowMs: Int64
        public var baselineMs: Int64
        public var factor: Double
        public var minRate: Double
        /// How long a hard cap goes on refusing its scope after the runaway ended.
        public var coolDownMs: Int64 = 600_000

        /// The rule: tokens per second over the window at least `minRate` and `factor` times
        /// the baseline's (a budget's streams, or one session's requests).
        public func fires(rate: Double, baseline: Double) -> Bool {
            rate >= minRate && rate >= factor * baseline
        }
    }

    /// What crossing the limit does: alert (the default), or also refuse requests through the
    /// metering gateway that would pass it (a hard cap).
    public enum Action: String, Sendable {
        case alert, block
    }

    public var name: String
    public var action: Action = .alert
    /// Label matchers over a token stream's labels (node, model, source, provider, team, ...).
    public var scope: [LabelMatcher]
    public var measure: Measure
    public var period: Period
    public var limit: Double
    public var thresholds: [Double]
    public var forecast: Forecast?
    public var runaway: Runaway?
    /// A hard cap held for each agent session or run apart (`per: session`): the gateway's
    /// requests that name a session (its session header) each have the whole limit.
    public var perSession = false
    /// How long a session's figures are kept after its last request.
    public var sessionKeepMs: Int64 = 30 * Milliseconds.day
    public var receivers: [String]

    /// Whether the scope names nothing but nodes: then a node's idle hours count too.
    public var scopesNodesOnly: Bool { scope.allSatisfy { $0.name == "node" } }

    public func matches(_ labels: [String: String]) -> Bool {
        scope.allSatisfy { $0.matches(labels[$0.name]) }
    }
}

extension Budget {
    /// Reads `budgets:` and `receivers:`; budgets must name receivers that exist.
    static func parse(_ root: ConfigNode, environment: [String: String], countsCarbon: Bool) throws(CoreError) -> (budgets: [Budget], receivers: [Receiver]) {
        let receivers = try Receiver.parse(root, environment: environment)
        var budgets: [Budget] = []
        for item in try root["budgets"].items() {
            try item.requireMapping(allowing: ["name", "match", "measure", "period", "limit", "thresholds", "forecast", "runaway", "receivers", "action", "per", "keep"])
            guard let name = try item["name"].string(), !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw item["name"].error("the budget's name, without control characters")
            }
            guard !budgets.contains(where: { $0.name == name }) else { throw item["name"].error("a name no other budget has") }
            let measureText = try item["measure"].string(default: "usd")
            guard let measure = Measure(rawValue: measureText) else { throw item["measure"].error("usd, tokens, kwh or gco2e") }
            guard measure != .gco2e || countsCarbon else {
                throw item["measure"].error("carbon: with the grid's intensity_g_per_kwh for a gco2e budget (emissions are counted only with it)")
            }
            let scope = try matchers(item["match"])
            if measure == .kwh, let other = scope.first(where: { $0.name != "node" }) {
                throw item["match"].error("only node matchers for a kwh budget (energy is measured per node), not \(other.name)")
            }
            guard let limit = Double(try item["limit"].string() ?? ""), limit > 0 else { throw item["limit"].error("a positive number") }
            var thresholds = [0.5, 0.8, 1.0]
            if item["thresholds"].isPresent {
                thresholds = try item["thresholds"].items().map { node throws(CoreError) in
                    guard let value = Double(try node.string() ?? ""), value > 0 else { throw node.error("a positive fraction of the limit such as 0.8") }
                    return value
                }.sorted()
            }
            var budget = Budget(name: name, scope: scope, measure: measure, period: try period(item["period"]), limit: limit,
                                thresholds: thresholds, forecast: nil, runaway: nil, receivers: [])
            guard let action = Action(rawValue: try item["action"].string(default: "alert")) else { throw item["action"].error("alert or block") }
            guard action == .alert || measure.capsRequests else {
                throw item["action"].error("alert for a \(measure.rawValue) budget (requests are capped in money or tokens)")
            }
            budget.action = action
            if let per = try item["per"].string() {
                guard per == "session" else { throw item["per"].error("session (a cap for each agent session or run)") }
                guard action == .block else { throw item["per"].error("a hard cap (action: block): sessions are known to the gateway only") }
                budget.perSession = true
            }
            if item["keep"].isPresent {
                guard budget.perSession else { throw item["keep"].error("nothing: keep is for a cap per session (per: session)") }
                budget.sessionKeepMs = try item["keep"].durationMilliseconds(default: budget.sessionKeepMs)
                guard budget.sessionKeepMs >= Milliseconds.hour else { throw item["keep"].error("at least 1h") }
            }
            let forecast = item["forecast"]
            if forecast.isPresent {
                try forecast.requireMapping(allowing: ["window"])
                budget.forecast = Forecast(windowMs: try forecast["window"].durationMilliseconds(default: 6 * Milliseconds.hour))
            }
            let runaway = item["runaway"]
            if runaway.isPresent {
                try runaway.requireMapping(allowing: ["window", "baseline", "factor", "min_rate", "cool_down"])
                var rule = Runaway(windowMs: try runaway["window"].durationMilliseconds(default: 60_000),
                                   baselineMs: try runaway["baseline"].durationMilliseconds(default: Milliseconds.hour),
                                   factor: Double(try runaway["factor"].string() ?? "10") ?? 0,
                                   minRate: Double(try runaway["min_rate"].string() ?? "0") ?? -1)
                guard rule.factor > 1 else { throw runaway["factor"].error("a factor above 1") }
                guard rule.minRate >= 0 else { throw runaway["min_rate"].error("tokens per second, at least 0") }
                guard rule.baselineMs > rule.windowMs else { throw runaway["baseline"].error("a baseline longer than the window") }
                rule.coolDownMs = try runaway["cool_down"].durationMilliseconds(default: rule.coolDownMs)
                budget.runaway = rule
            }
            for node in try item["receivers"].items() {
                guard let receiver = try node.string(), receivers.contains(where: { $0.name == receiver }) else {
                    throw node.error("the name of a receiver under receivers (\(receivers.map(\.name).joined(separator: ", ")))")
                }
                budget.receivers.append(receiver)
            }
            budgets.append(budget)
        }
        return (budgets, receivers)
    }

    /// `{every: month, timezone: Europe/Berlin}` or `{from: 2026-12-01, to: 2027-01-01}`.
    private static func period(_ node: ConfigNode) throws(CoreError) -> Period {
        try node.requireMapping(allowing: ["every", "timezone", "from", "to"])
        if node["from"].isPresent || node["to"].isPresent {
            guard let from = try time(node["from"]), let to = try time(node["to"]), from < to else {
                throw node.error("from and to, RFC 3339 times or dates, from before to")
            }
            return .fixed(from: from, to: to)
        }
        guard let unit = CalendarPeriod.Unit(rawValue: try node["every"].string(default: "month")) else {
            throw node["every"].error("day, week or month")
        }
        let zone = try node["timezone"].string(default: "UTC")
        guard let timezone = TimeZone(identifier: zone) else { throw node["timezone"].error("an IANA time zone such as Europe/Berlin") }
        return .every(CalendarPeriod(unit, timezone: timezone))
    }

    private static func time(_ node: ConfigNode) throws(CoreError) -> Int64? {
        guard let text = try node.string() else { return nil }
        guard let milliseconds = TimeBounds.milliseconds(fromRFC3339: text.count == 10 ? text + "T00:00:00Z" : text) else {
            throw node.error("an RFC 3339 time or a date such as 2026-12-01")
        }
        return milliseconds
    }

    /// `{team: research, model: "=~gpt-.*", node: "!=gpu-09"}`: a plain value is equality.
    private static func matchers(_ node: ConfigNode) throws(CoreError) -> [LabelMatcher] {
        try node.entries().map { name, value throws(CoreError) in
            guard MetricName.isValidLabelName(name) else { throw value.error("a label name") }
            let text = try value.string() ?? ""
            let (op, operand): (LabelMatcher.Operator, Substring) = switch text {
            case let t where t.hasPrefix("=~"): (.matchesRegex, t.dropFirst(2))
            case let t where t.hasPrefix("!~"): (.notMatchesRegex, t.dropFirst(2))
            case let t where t.hasPrefix("!="): (.notEqual, t.dropFirst(2))
            case let t where t.hasPrefix("="): (.equal, t.dropFirst(1))
            default: (.equal, Substring(text))
            }
            do {
                return try LabelMatcher(name, op, String(operand))
            } catch {
                throw value.error("a value, or =~, !~, != followed by one: \(error)")
            }
        }
    }
}
