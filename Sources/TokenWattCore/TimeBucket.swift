/// The one rule for which minute or hour a sample, and the counter step that ends at it,
/// belongs to, used by the rollups, the cost ledger, `/api/v1/tokens` and budgets.
///
/// Buckets are left-open, `(start, start + width]`, as Prometheus's range selectors are: a
/// counter read at 21:00:00 has counted up to 21:00, so the step that ends at that reading
/// belongs to the hour from 20:00 to 21:00. Senders that align their timestamps to a scrape
/// grid (Prometheus does) put a sample on every boundary, and each such step is booked once,
/// into the hour it closes.
///
/// A window of whole buckets `[from, to)`, such as "the last 24 hours" or a budget's month,
/// holds the buckets that start in it.
public enum TimeBucket {
    /// The start of the bucket of `width` (ms) that a sample at `timestamp` belongs to.
    public static func start(ofSampleAt timestamp: Int64, width: Int64) -> Int64 {
        let inside = timestamp - 1
        return inside - inside.modulo(width)
    }

    /// The timestamps of the samples in the bucket that starts at `start`, as a half-open range.
    public static func sampleTimes(ofBucket start: Int64, width: Int64) -> Range<Int64> {
        (start + 1)..<(start + width + 1)
    }

    /// The start of the bucket in progress at `instant` (not a sample: a moment such as now).
    public static func current(at instant: Int64, width: Int64) -> Int64 {
        instant - instant.modulo(width)
    }

    /// The first bucket start at or after `from`: where a window's first bucket begins.
    public static func firstStart(from: Int64, width: Int64) -> Int64 {
        from.modulo(width) == 0 ? from : from - from.modulo(width) + width
    }

    /// Whether the bucket starting at `start` is in the window `[from, to)`: whether it starts in it.
    public static func isInWindow(_ start: Int64, from: Int64, to: Int64) -> Bool {
        start >= from && start < to
    }
}
