import GRDB
import TokenWattCore

/// The two rollup resolutions.
public enum RollupResolution: Int64, Sendable, CaseIterable {
    case minute = 60_000
    case hour = 3_600_000

    var table: String { self == .minute ? "rollups_1m" : "rollups_1h" }
}

extension SampleStore {
    /// Series rolled up per transaction, so maintenance never holds the writer for long.
    static let rollupChunk = 2_000

    /// Rolls up every pending bucket that has been closed for the rollup delay: minutes from raw
    /// samples, then hours from minutes. Returns how many (bucket, series) pairs it rolled up.
    @discardableResult
    public func rollUp(now: Int64) async throws(StoreError) -> Int {
        var total = 0
        let delay = configuration.rollupDelayMs
        total += try await rollUpPending(.minute, readyBefore: now - Schema.minute - delay)
        // An hour waits for its last minute to be rolled up as well.
        total += try await rollUpPending(.hour, readyBefore: now - Schema.hour - 2 * delay)
        return total
    }

    private func rollUpPending(_ resolution: RollupResolution, readyBefore: Int64) async throws(StoreError) -> Int {
        var total = 0
        while true {
            let done: Int
            do {
                done = try await pool.write { db in try self.rollUpChunk(resolution, readyBefore: readyBefore, db: db) }
            } catch {
                throw .database("rollup \(resolution.table): \(error)")
            }
            if done == 0 { return total }
            total += done
        }
    }

    /// Rolls up to `rollupChunk` pending series of the oldest ready bucket.
    private func rollUpChunk(_ resolution: RollupResolution, readyBefore: Int64, db: Database) throws -> Int {
        let width = resolution.rawValue
        guard let bucket = try Int64.fetchOne(db, sql: """
            SELECT bucket FROM rollup_pending WHERE resolution = ? AND bucket <= ? ORDER BY bucket LIMIT 1
            """, arguments: [width, readyBefore]) else { return 0 }
        let seriesIDs = try Int64.fetchAll(db, sql: """
            SELECT series_id FROM rollup_pending WHERE resolution = ? AND bucket = ? LIMIT \(SampleStore.rollupChunk)
            """, arguments: [width, bucket])
        let upsert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO \(resolution.table) (series_id, bucket, min, max, sum, count, last, increase)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let markHour = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO rollup_pending (resolution, bucket, series_id) VALUES (\(Schema.hour), ?, ?)
            """)
        let previousStatement = try db.cachedStatement(sql: """
            SELECT last FROM rollups_1m WHERE series_id = ? AND bucket < ? AND count > 0 ORDER BY bucket DESC LIMIT 1
            """)
        let unmark = try db.cachedStatement(sql: "DELETE FROM rollup_pending WHERE resolution = ? AND bucket = ? AND series_id = ?")
        if resolution == .hour {
            // The hour's samples changed: its ledger is rewritten too.
            try db.execute(sql: "INSERT OR IGNORE INTO ledger_pending (hour) VALUES (?)", arguments: [bucket])
        }
        for id in seriesIDs {
            let cumulative = MetricCatalog.isCumulative(series: index.labels(of: id)?.metricName ?? "")
            let rollup: RollupBucket
            switch resolution {
            case .minute:
                // The last finite value before the bucket is the `last` of the newest earlier
                // minute that had one: buckets roll up oldest first, so it is already there.
                let previous = try Double.fetchOne(previousStatement, arguments: [id, bucket])
                let times = TimeBucket.sampleTimes(ofBucket: bucket, width: width)
                let samples = try rawSamples(db: db, seriesID: id, from: times.lowerBound, to: times.upperBound)
                rollup = RollupBucket.aggregate(bucket: bucket, samples: samples, previous: previous, cumulative: cumulative)
                try markHour.execute(arguments: [bucket - bucket.modulo(Schema.hour), id])
            case .hour:
                let minutes = try rollups(db: db, .minute, seriesID: id, from: bucket, to: bucket + width)
                rollup = RollupBucket.combine(bucket: bucket, minutes)
            }
            try upsert.execute(arguments: [id, bucket, rollup.min, rollup.max, rollup.sum, rollup.count, rollup.last, rollup.increase])
            try unmark.execute(arguments: [width, bucket, id])
        }
        return seriesIDs.count
    }
}
