/// Data points of an OTLP export rejected one by one, by reason: what its partial success
/// reports, wherever the rejection happened (decoding's translation, the usage reading, the
/// accumulation of deltas).
public struct OTLPRejections: Sendable, Equatable {
    /// Points rejected in all, and under each reason.
    public private(set) var count = 0
    public private(set) var reasons: [String: Int] = [:]

    public init() {}

    public mutating func add(_ points: Int, _ reason: String) {
        guard points > 0 else { return }
        count += points
        reasons[reason, default: 0] += points
    }

    public mutating func add(_ other: OTLPRejections) {
        count += other.count
        reasons.merge(other.reasons, uniquingKeysWith: +)
    }

    /// The partial success's `error_message`: the reasons, most frequent first, five at most.
    public var message: String {
        guard count > 0 else { return "" }
        let named = reasons.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map { "\($0.key) (\($0.value) points)" }
        return "\(count) data points rejected: " + named.joined(separator: "; ") + (reasons.count > 5 ? "; and \(reasons.count - 5) more reasons" : "")
    }
}
