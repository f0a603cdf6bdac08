import TokenWattCore

/// How alerts are delivered (`alerting.delivery:`): the backoff between tries, when to give up,
/// and how long one try may take.
public struct DeliverySettings: Sendable {
    public var minBackoffMs: Int64 = 1_000
    public var maxBackoffMs: Int64 = Milliseconds.hour
    public var giveUpAfterMs: Int64 = Milliseconds.day
    public var timeoutMs: Int64 = 15_000

    public init() {}
}
