import TokenWattCore

/// Settings of the sample store, each with the default an operator gets without a config file.
public struct StorageConfiguration: Sendable {
    /// Folder of the SQLite database (`tokenwatt.sqlite` and its WAL).
    public var directory: String = "./tokenwatt-data"
    /// How long raw samples are kept (default 15 days).
    public var rawRetentionMs: Int64 = 15 * Milliseconds.day
    /// How long 1-minute rollups are kept (default 90 days).
    public var minuteRollupRetentionMs: Int64 = 90 * Milliseconds.day
    /// How long 1-hour rollups are kept (default 5 years).
    public var hourRollupRetentionMs: Int64 = 5 * Milliseconds.year
    /// How often rollups and retention run (default 1 minute).
    public var maintenanceIntervalMs: Int64 = 60_000
    /// A bucket is rolled up once this long has passed since its end, so that samples still on
    /// their way land before it (default 1 minute). Later samples roll it up again.
    public var rollupDelayMs: Int64 = 60_000
    /// Most samples the writer commits in one transaction (group commit).
    public var maxSamplesPerCommit: Int = 200_000
    /// Most samples waiting for the writer; beyond it writes are refused as saturated.
    public var maxPendingSamples: Int = 2_000_000

    /// Most series the aggregator holds (each costs memory for its labels whether or not it is
    /// still pushed): a push that would add series beyond it is refused (429).
    public var maxSeries: Int = 2_000_000
    /// Most memory the head's samples may take (`Head.bytes`): beyond it pushes are refused
    /// (503, retry later) until a flush of the oldest windows frees some.
    public var maxHeadBytes: Int = 1 << 30

    /// Keep a log of every stored batch for the remote-write forwarder (`forward_log`).
    public var forwardLog = false

    public init() {}

    public var databasePath: String { directory + "/tokenwatt.sqlite" }
}
