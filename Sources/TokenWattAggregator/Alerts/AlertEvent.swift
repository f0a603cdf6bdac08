import Foundation
import TokenWattCore

/// One budget alert, as the webhook receiver gets it (JSON, snake_case keys) and as the outbox
/// keeps it; Slack and Alertmanager receivers get renderings of it.
///
/// `type`: `threshold` (spent crossed `threshold` × limit), `forecast` (spent plus the recent
/// burn rate reaches the limit before the period ends, at `projected_crossing_at`), `runaway`
/// (the token rate jumped to `tokens_per_second`, against `baseline_tokens_per_second`),
/// `resolved` (the alerts in `resolves` ended: the rate fell back), `reset` (the period ended;
/// its alerts in `resolves` end with it). `id` is unique per event: the receiver's idempotency key.
struct AlertEvent: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable {
        case threshold, forecast, runaway, resolved, reset
    }

    struct Contributor: Codable, Sendable, Equatable {
        var name: String
        var spent: Double
    }

    var id: String
    var type: Kind
    var budget: String
    /// The budget's label matchers, `label: "=value"` (or `=~`, `!=`, `!~`).
    var scope: [String: String]
    var periodStart: String
    var periodEnd: String
    /// `usd` (money in `unit`, the configured currency), `tokens` or `kwh`.
    var measure: String
    var unit: String
    var spent: Double
    var limit: Double
    var usedRatio: Double
    var threshold: Double?
    var forecast: Double?
    var projectedCrossingAt: String?
    var tokensPerSecond: Double?
    var baselineTokensPerSecond: Double?
    /// Alerts a `resolved` or `reset` event ends: `threshold:0.8`, `forecast`, `runaway`.
    var resolves: [String]?
    /// The largest parts of `spent`, by node, model and team.
    var topContributors: [String: [Contributor]]
    var link: String
    var occurredAt: String

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    var json: String { String(decoding: try! AlertEvent.encoder.encode(self), as: UTF8.self) }

    /// One of the event's times as a person reads it, in UTC.
    static func readable(_ time: String?) -> String {
        time.flatMap(TimeBounds.milliseconds(fromRFC3339:)).map(TimeText.utc.text) ?? time ?? "?"
    }

    /// The alert this event fires: `threshold:0.8`, `forecast`, `runaway`; nil for the events that end alerts.
    var firing: String? {
        switch type {
        case .threshold: threshold.map { "threshold:\(AlertEvent.number($0))" }
        case .forecast: "forecast"
        case .runaway: "runaway"
        case .resolved, .reset: nil
        }
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// One line a person reads first.
    var summary: String {
        let used = String(format: "%.1f%%", usedRatio * 100)
        let amount = "\(AlertEvent.amount(spent)) of \(AlertEvent.amount(limit)) \(unit) (\(used))"
        switch type {
        case .threshold:
            return "Budget \(budget): \(AlertEvent.number((threshold ?? 0) * 100))% threshold crossed, \(amount) spent"
        case .forecast:
            return "Budget \(budget): on course to reach its limit by \(AlertEvent.readable(projectedCrossingAt)), \(amount) spent, \(AlertEvent.amount(forecast ?? 0)) forecast for the period"
        case .runaway:
            return "Budget \(budget): token rate \(AlertEvent.amount(tokensPerSecond ?? 0))/s against \(AlertEvent.amount(baselineTokensPerSecond ?? 0))/s before, \(amount) spent"
        case .resolved:
            return "Budget \(budget): \((resolves ?? []).joined(separator: ", ")) resolved, \(amount) spent"
        case .reset:
            return "Budget \(budget): period \(AlertEvent.readable(periodStart)) – \(AlertEvent.readable(periodEnd)) ended with \(amount) spent"
        }
    }

    static func amount(_ value: Double) -> String {
        abs(value) >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }
}
