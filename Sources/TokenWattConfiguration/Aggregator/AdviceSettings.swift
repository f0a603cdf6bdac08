import TokenWattCore

/// `advice:` of the config.
public struct AdviceSettings: Sendable {
    /// The window measured (default 1 hour), in buckets of `stepMs` (default 1 minute).
    public var windowMs: Int64 = Milliseconds.hour
    public var stepMs: Int64 = 60_000
    /// A model serving fewer tokens per second than this over the window is idle (default 1).
    public var idleBelowTokensPerSecond = 1.0

    public init() {}
}
