import GRDB
import TokenWattCore

extension SampleStore {
    /// Label sets of the stored series that match any of the selectors, ordered by first appearance.
    public func series(matching selectors: [SeriesSelector]) -> [(id: Int64, labels: LabelSet)] {
        var seen = Set<Int64>()
        return selectors.flatMap { index.matching($0) }.filter { seen.insert($0.id).inserted }
    }

    /// The latest sample of every series heard from after `since` (ms), stale-marked ones left out.
    public func liveSeries(since: Int64) -> [(labels: LabelSet, sample: Sample)] {
        index.live(since: since)
    }

    /// Raw samples of one series with `from <= ts < to`, in timestamp order.
    public func rawSamples(seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [Sample] {
        do {
            return try await pool.read { db in try self.rawSamples(db: db, seriesID: seriesID, from: from, to: to) }
        } catch {
            throw .database("read samples: \(error)")
        }
    }

    /// Rollup buckets of one series with `from <= bucket < to`, in time order.
    public func rollups(_ resolution: RollupResolution, seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [RollupBucket] {
        do {
            return try await pool.read { db in try self.rollups(db: db, resolution, seriesID: seriesID, from: from, to: to) }
        } catch {
            throw .database("read rollups: \(error)")
        }
    }

    /// Raw samples from the chunks and the head, which never share a timestamp.
    func rawSamples(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [Sample] {
        let head = try headSamples(db: db, seriesID: seriesID, from: from, to: to)
        let chunked = try chunkSamples(db: db, seriesID: seriesID, from: from, to: to)
        guard !chunked.isEmpty else { return head }
        // Usually the chunks end where the head begins; late samples need the sort.
        if let firstHead = head.first, firstHead.timestamp < chunked.last!.timestamp {
            return (chunked + head).sorted { $0.timestamp < $1.timestamp }
        }
        return chunked + head
    }

    /// The newest finite sample of one series before `before`, from the head or the chunks.
    func previousFiniteSample(db: Database, seriesID: Int64, before: Int64) throws -> Sample? {
        let statement = try db.cachedStatement(sql: """
            SELECT ts, value FROM samples WHERE series_id = ? AND ts < ? AND typeof(value) IN ('real', 'integer')
            ORDER BY ts DESC LIMIT 1
            """)
        let head = try Row.fetchOne(statement, arguments: [seriesID, before]).map { Sample(timestamp: $0[0], value: SampleValue.decode($0[1])) }
        let chunked = try lastChunkSample(db: db, seriesID: seriesID, before: before) { $0.value.isFinite }
        guard let chunked else { return head }
        guard let head else { return chunked }
        return head.timestamp > chunked.timestamp ? head : chunked
    }

    func headSamples(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [Sample] {
        let statement = try db.cachedStatement(sql: "SELECT ts, value FROM samples WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts")
        return try Row.fetchAll(statement, arguments: [seriesID, from, to]).map { row in
            Sample(timestamp: row[0], value: SampleValue.decode(row[1]))
        }
    }

    func rollups(db: Database, _ resolution: RollupResolution, seriesID: Int64, from: Int64, to: Int64) throws -> [RollupBucket] {
        try Row.fetchAll(db, sql: """
            SELECT bucket, min, max, sum, last, count, increase FROM \(resolution.table)
            WHERE series_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket
            """, arguments: [seriesID, from, to]).map { row in
            RollupBucket(bucket: row[0], min: row[1], max: row[2], sum: row[3], last: row[4], count: row[5], increase: row[6])
        }
    }
}
