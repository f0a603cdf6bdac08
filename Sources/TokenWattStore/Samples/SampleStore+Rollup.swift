import Foundation
import GRDB
import TokenWattCore

/// The two rollup resolutions.
public enum RollupResolution: Sendable, CaseIterable {
    case minute
    case hour

    /// The width of its buckets.
    public var milliseconds: Int64 {
        switch self {
        case .minute: Milliseconds.minute
        case .hour: Milliseconds.hour
        }
    }
}

extension SampleStore {
    /// Tells the cost ledger which hours gained samples, once they have been closed for twice the
    /// rollup delay (so that samples still on their way land first): it rewrites those hours.
    /// Hours the ledger could not take are kept for the next call. Returns how many it marked.
    @discardableResult
    public func markChangedHours(now: Int64, in ledger: any LedgerStore) async throws(StoreError) -> Int {
        let hours = head.takeChangedHours(endedBy: now - 2 * configuration.rollupDelayMs)
        guard !hours.isEmpty else { return 0 }
        do {
            try await ledger.markPending(hours)
        } catch {
            head.noteChangedHours(hours)
            throw error
        }
        return hours.count
    }

    /// Writes the 1-hour rollups of the windows a dirty span changed, up to `boundary`, as rows
    /// of `rollups_1h` (1-minute buckets are computed from raw samples while those are kept; see
    /// `rollUpExpiringWindows`). A bucket holds the samples of `(start, start + width]`, so the
    /// last bucket of a window reads the first sample of the next; and a late sample changes its
    /// bucket and the increase of the next bucket with samples, so the window after the last
    /// changed one is rewritten too. Returns the last finite value at or before `boundary`, when
    /// the span reaches it.
    func writeRollups(_ span: Head.Dirty, previousBoundary: Int64, boundary: Int64, db: Database) throws -> Double? {
        let width = Milliseconds.minute
        let first = SampleStore.chunkWindow(of: TimeBucket.start(ofSampleAt: span.from, width: width))
        let lastChanged = SampleStore.chunkWindow(of: TimeBucket.start(ofSampleAt: min(span.to, boundary), width: width))
        let last = min(lastChanged + Schema.chunkWindow, boundary.subtractingClamped(Schema.chunkWindow))
        guard first <= last else { return nil }
        // The last finite value the flush before found holds where that flush ended.
        let (minutes, previous) = try minuteBuckets(seriesID: span.seriesID, after: first, before: last + Schema.chunkWindow + 1,
                                                    previous: first == previousBoundary ? span.lastFinite : nil, db: db)

        let storeHour = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO rollups_1h (series_id, bucket, min, max, sum, count, last, increase) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let deleteHour = try db.cachedStatement(sql: "DELETE FROM rollups_1h WHERE series_id = ? AND bucket = ?")
        var index = minutes.startIndex
        for window in stride(from: first, through: last, by: Int(Schema.chunkWindow)) {
            let stop = minutes[index...].firstIndex { $0.bucket >= window + Schema.chunkWindow } ?? minutes.endIndex
            let buckets = Array(minutes[index..<stop])
            index = stop
            for hour in stride(from: window, to: window + Schema.chunkWindow, by: Int(Milliseconds.hour)) {
                let parts = buckets.filter { $0.bucket >= hour && $0.bucket < hour + Milliseconds.hour }
                guard !parts.isEmpty else {
                    try deleteHour.execute(arguments: [span.seriesID, hour])
                    continue
                }
                let rollup = RollupBucket.combine(bucket: hour, parts)
                try storeHour.execute(arguments: [span.seriesID, hour, rollup.min, rollup.max, rollup.sum, rollup.count, rollup.last, rollup.increase])
            }
        }
        return last == boundary.subtractingClamped(Schema.chunkWindow) ? previous : nil
    }

    /// Stores the 1-minute buckets of a series' windows before `before` whose raw chunks
    /// retention is about to delete, as one `RollupChunk` a window (in the same transaction as
    /// the delete); windows that start before `keepFrom` are past minute retention too. A window that has a rollup
    /// chunk already keeps it. The first bucket's counter step starts from the last finite value
    /// of the rollups before, when their raw samples went earlier.
    func rollUpExpiringWindows(seriesID: Int64, before: Int64, keepFrom: Int64, db: Database) throws {
        let windows = try Int64.fetchAll(db.cachedStatement(sql: "SELECT window_start FROM chunks WHERE series_id = ? AND window_start < ? ORDER BY window_start"),
                                         arguments: [seriesID, before]).filter { $0 >= keepFrom }
        guard let first = windows.first, let last = windows.last else { return }
        let earlier = try Row.fetchOne(db.cachedStatement(sql: "SELECT data, format, series_id, window_start FROM rollups_1m_chunks WHERE series_id = ? AND window_start = ?"),
                                       arguments: [seriesID, first - Schema.chunkWindow])
        let previous = try earlier.flatMap { try SampleStore.minuteBuckets(ofChunk: $0).lastFinite }
        let buckets = try minuteBuckets(seriesID: seriesID, after: first, before: last + Schema.chunkWindow + 1, previous: previous, db: db).buckets
        let store = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO rollups_1m_chunks (series_id, window_start, data, format) VALUES (?, ?, ?, \(StoredChunk.framed))
            """)
        for (window, parts) in Dictionary(grouping: buckets, by: { SampleStore.chunkWindow(of: $0.bucket) }) where windows.contains(window) {
            try store.execute(arguments: [seriesID, window, StoredChunk.frame(RollupChunk.encode(parts.sorted { $0.bucket < $1.bucket }), as: .rollups)])
        }
    }

    /// The buckets of a `rollups_1m_chunks` row read as `data, format, series_id, window_start`.
    static func minuteBuckets(ofChunk row: Row) throws -> [RollupBucket] {
        try StoredChunk.decode(row, in: "rollups_1m_chunks", bare: .rollups, StoredChunk.buckets)
    }

    /// The 1-minute buckets of a series' samples in `(start, end)`, and the last finite value
    /// of all. A bucket's counter step starts from the last finite value before it: `known`
    /// when the caller has it, else read from the window before `start` in the same read.
    func minuteBuckets(seriesID: Int64, after start: Int64, before end: Int64, previous known: Double?,
                       db: Database) throws -> (buckets: [RollupBucket], lastFinite: Double?) {
        let read = try rawSamples(db: db, seriesID: seriesID, from: known == nil ? start.subtractingClamped(Schema.chunkWindow) : start + 1, to: end)
        let split = read.firstIndex { $0.timestamp > start } ?? read.endIndex
        var previous = known ?? read[..<split].last { $0.value.isFinite }?.value
        let buckets = minuteBuckets(of: read[split...], seriesID: seriesID, previous: &previous)
        return (buckets, previous)
    }

    /// The 1-minute buckets of samples in timestamp order; `previous` is the last finite value
    /// before the first, and afterwards the last finite value of all.
    private func minuteBuckets(of samples: ArraySlice<Sample>, seriesID: Int64, previous: inout Double?) -> [RollupBucket] {
        let cumulative = MetricCatalog.isCumulative(series: index.labels(of: seriesID)?.metricName ?? "")
        var buckets: [RollupBucket] = []
        var start = samples.startIndex
        while start < samples.endIndex {
            let bucket = TimeBucket.start(ofSampleAt: samples[start].timestamp, width: Milliseconds.minute)
            let stop = samples[start...].firstIndex { $0.timestamp > bucket + Milliseconds.minute } ?? samples.endIndex
            let rollup = RollupBucket.aggregate(bucket: bucket, samples: Array(samples[start..<stop]), previous: previous, cumulative: cumulative)
            if let last = rollup.last { previous = last }
            buckets.append(rollup)
            start = stop
        }
        return buckets
    }
}
