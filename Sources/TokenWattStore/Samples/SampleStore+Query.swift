import Foundation
import GRDB
import TokenWattCore

extension SampleStore {
    /// Label sets of the stored series that match any of the selectors, ordered by first appearance.
    public func series(matching selectors: [SeriesSelector]) -> [(id: Int64, labels: LabelSet)] {
        var seen = Set<Int64>()
        return selectors.flatMap { index.matching($0) }.filter { seen.insert($0.id).inserted }
    }

    /// The latest sample of each series matching any of the selectors, heard from after `since`.
    public func latestSamples(matching selectors: [SeriesSelector], since: Int64) -> [(labels: LabelSet, sample: Sample)] {
        selectors.flatMap { index.latest(matching: $0, since: since) }
    }

    /// Series whose `node` label is `node`.
    public func seriesCount(node: String) -> Int {
        index.count(node: node)
    }

    /// How many of these label sets (distinct) are not series yet.
    public func unknownSeries(_ labels: [LabelSet]) -> Int {
        index.unknown(labels)
    }

    public func labels(ofSeries id: Int64) -> LabelSet? {
        index.labels(of: id)
    }

    public func latestSample(of labels: LabelSet) -> Sample? {
        index.id(of: labels).flatMap { index.latest(of: $0) }
    }

    /// The latest sample of every series heard from after `since` (ms), stale-marked ones left
    /// out, ordered by name and then by labels.
    public func liveSeries(since: Int64) -> [LiveSeries] {
        index.live(since: since)
    }

    /// Raw samples of one series with `from <= ts < to`, in timestamp order.
    public func rawSamples(seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [Sample] {
        try await database.read("read samples") { db in try self.rawSamples(db: db, seriesID: seriesID, from: from, to: to) }
    }

    /// Rollup buckets of one series with `from <= bucket < to`, in time order.
    public func rollups(_ resolution: RollupResolution, seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [RollupBucket] {
        try await database.read("read rollups") { db in try self.rollups(db: db, resolution, seriesID: seriesID, from: from, to: to) }
    }

    /// Raw samples from the head and the chunks. The head is read first: a flush writes a
    /// window's chunk before the head lets it go, so a sample is always in one or the other.
    func rawSamples(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [Sample] {
        guard from < to else { return [] }
        let fresh = head.samples(seriesID: seriesID, from: from, to: to)
        return Sample.merged(try chunkSamples(db: db, seriesID: seriesID, from: from, to: to), fresh)
    }

    /// Rollup buckets with `from <= bucket < to`, in time order. 1-minute buckets are computed
    /// from the raw samples while raw retention keeps them (storing them too would take as many
    /// bytes again as the raw chunks at 10 s spacing), stored where it dropped them. 1-hour buckets
    /// are stored for flushed windows and computed for windows still in the head, or changed by
    /// late samples since their flush.
    func rollups(db: Database, _ resolution: RollupResolution, seriesID: Int64, from: Int64, to: Int64) throws -> [RollupBucket] {
        guard from < to else { return [] }
        guard resolution == .hour else { return try minuteRollups(db: db, seriesID: seriesID, from: from, to: to) }
        var storedBefore = head.flushedBefore
        if let late = head.dirtyFrom(seriesID: seriesID), late <= storedBefore {
            storedBefore = SampleStore.chunkWindow(of: TimeBucket.start(ofSampleAt: late, width: Milliseconds.minute))
        }
        var stored: [RollupBucket] = []
        if from < storedBefore {
            stored = try storedHours(db: db, seriesID: seriesID, from: from, to: min(to, storedBefore))
        }
        guard to > storedBefore else { return stored }
        // Whole hours from the first that starts at or after the stored ones end, each with all its minutes.
        let width = Milliseconds.hour
        let start = TimeBucket.firstStart(from: max(from, storedBefore, Int64.min / 2), width: width)
        let end = to > Int64.max / 2 ? to : TimeBucket.firstStart(from: to, width: width)
        let hours = Dictionary(grouping: try computedMinutes(db: db, seriesID: seriesID, from: start, to: end, previous: nil)) {
            TimeBucket.current(at: $0.bucket, width: width)
        }
        let computed = hours.map { RollupBucket.combine(bucket: $0.key, $0.value) }.sorted { $0.bucket < $1.bucket }
        return stored + computed.filter { TimeBucket.isInWindow($0.bucket, from: start, to: to) }
    }

    /// 1-minute buckets with `from <= bucket < to`: a window's stored chunk where it has one,
    /// computed from raw samples between them. `previous` for the buckets after a stored chunk
    /// is its last finite value (the raw samples before them may be gone).
    private func minuteRollups(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [RollupBucket] {
        let statement = try db.cachedStatement(sql: """
            SELECT data, format, series_id, window_start FROM rollups_1m_chunks
            WHERE series_id = ? AND window_start > ? AND window_start < ? ORDER BY window_start
            """)
        var buckets: [RollupBucket] = []
        var gap = max(from, Int64.min / 2)
        var lastStored: Double?
        for row in try Row.fetchAll(statement, arguments: [seriesID, from.subtractingClamped(Schema.chunkWindow), to]) {
            let window: Int64 = row[3]
            buckets += try computedMinutes(db: db, seriesID: seriesID, from: gap, to: min(window, to), previous: lastStored)
            let stored = try SampleStore.minuteBuckets(ofChunk: row)
            buckets += stored.filter { $0.bucket >= from && $0.bucket < to }
            lastStored = stored.lastFinite ?? lastStored
            gap = max(gap, window + Schema.chunkWindow)
        }
        return buckets + (try computedMinutes(db: db, seriesID: seriesID, from: gap, to: to, previous: lastStored))
    }

    /// 1-minute buckets with `from <= bucket < to` from raw samples.
    private func computedMinutes(db: Database, seriesID: Int64, from: Int64, to: Int64, previous: Double?) throws -> [RollupBucket] {
        guard from < to else { return [] }
        let width = Milliseconds.minute
        let start = TimeBucket.firstStart(from: from, width: width)
        return try minuteBuckets(seriesID: seriesID, after: start, before: to.addingClamped(width), previous: previous, db: db).buckets
            .filter { TimeBucket.isInWindow($0.bucket, from: start, to: to) }
    }

    private func storedHours(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [RollupBucket] {
        let statement = try db.cachedStatement(sql: """
            SELECT bucket, min, max, sum, last, count, increase FROM rollups_1h
            WHERE series_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket
            """)
        return try Row.fetchAll(statement, arguments: [seriesID, from, to]).map { row in
            RollupBucket(bucket: row[0], min: row[1], max: row[2], sum: row[3], last: row[4], count: row[5], increase: row[6])
        }
    }
}
