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

    /// Rolls up every bucket with new samples that has been closed for the rollup delay: minutes
    /// from raw samples, then hours from minutes. Returns how many (bucket, series) pairs it rolled up.
    @discardableResult
    public func rollUp(now: Int64) async throws(StoreError) -> Int {
        var total = 0
        let delay = configuration.rollupDelayMs
        total += try await rollUpMinutes(readyBefore: now - Schema.minute - delay)
        // An hour waits for its last minute to be rolled up as well.
        total += try await rollUpHours(readyBefore: now - Schema.hour - 2 * delay)
        return total
    }

    /// Rolls up the minutes of every series the head marked dirty, up to the bucket that holds
    /// `readyBefore`. A late sample changes its bucket and the increase of the next bucket with
    /// samples (the step into it), so both are rolled up again.
    private func rollUpMinutes(readyBefore: Int64) async throws(StoreError) -> Int {
        let width = Schema.minute
        // Sample times of the ready buckets end here (a bucket holds `(start, start + width]`).
        let readyEnd = readyBefore - readyBefore.modulo(width) + width
        var spans = head.takeDirty(readyBefore: readyEnd, keepAfter: readyEnd)[...]
        var total = 0
        while !spans.isEmpty {
            let batch = spans.prefix(SampleStore.rollupChunk)
            do {
                total += try await pool.write { db in try self.rollUpMinutes(batch, readyEnd: readyEnd, db: db) }
            } catch {
                head.markDirty(Array(spans))  // retried next round
                throw .database("rollup rollups_1m: \(error)")
            }
            spans = spans.dropFirst(batch.count)
        }
        if total > 0 {
            // Marks a flush or an earlier version persisted are now covered by the head's.
            do {
                try await pool.write { db in
                    try db.execute(sql: "DELETE FROM rollup_pending WHERE resolution = ? AND bucket < ?", arguments: [width, readyEnd - width])
                }
            } catch {
                throw .database("rollup rollups_1m: \(error)")
            }
        }
        return total
    }

    private func rollUpMinutes(_ spans: ArraySlice<Head.Dirty>, readyEnd: Int64, db: Database) throws -> Int {
        let width = Schema.minute
        let upsert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO rollups_1m (series_id, bucket, min, max, sum, count, last, increase)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let markHour = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO rollup_pending (resolution, bucket, series_id) VALUES (\(Schema.hour), ?, ?)
            """)
        let previousStatement = try db.cachedStatement(sql: """
            SELECT last FROM rollups_1m WHERE series_id = ? AND bucket < ? AND count > 0 ORDER BY bucket DESC LIMIT 1
            """)
        var rolled = 0
        for span in spans {
            let cumulative = MetricCatalog.isCumulative(series: index.labels(of: span.seriesID)?.metricName ?? "")
            let first = TimeBucket.start(ofSampleAt: span.from, width: width)
            let lastChanged = TimeBucket.start(ofSampleAt: min(span.to, readyEnd), width: width)
            // Far enough to find the next bucket with samples after the last one that changed.
            let end = min(readyEnd, lastChanged + width + Schema.chunkWindow)
            let samples = try rawSamples(db: db, seriesID: span.seriesID, from: first + 1, to: end + 1)
            // The last finite value before the first bucket: buckets roll up oldest first.
            var previous = try Double.fetchOne(previousStatement, arguments: [span.seriesID, first])
            var start = samples.startIndex
            var hours = Set<Int64>()
            while start < samples.endIndex {
                let bucket = TimeBucket.start(ofSampleAt: samples[start].timestamp, width: width)
                let stop = samples[start...].firstIndex { $0.timestamp > bucket + width } ?? samples.endIndex
                let rollup = RollupBucket.aggregate(bucket: bucket, samples: Array(samples[start..<stop]), previous: previous,
                                                    cumulative: cumulative)
                try upsert.execute(arguments: [span.seriesID, bucket, rollup.min, rollup.max, rollup.sum, rollup.count, rollup.last,
                                               rollup.increase])
                hours.insert(bucket - bucket.modulo(Schema.hour))
                rolled += 1
                if let last = rollup.last { previous = last }
                start = stop
                if bucket > lastChanged { break }
            }
            for hour in hours { try markHour.execute(arguments: [hour, span.seriesID]) }
        }
        return rolled
    }

    private func rollUpHours(readyBefore: Int64) async throws(StoreError) -> Int {
        var total = 0
        while true {
            let done: Int
            do {
                done = try await pool.write { db in try self.rollUpHourChunk(readyBefore: readyBefore, db: db) }
            } catch {
                throw .database("rollup rollups_1h: \(error)")
            }
            if done == 0 { return total }
            total += done
        }
    }

    /// Rolls up to `rollupChunk` pending series of the oldest ready hour from its minutes.
    private func rollUpHourChunk(readyBefore: Int64, db: Database) throws -> Int {
        let width = Schema.hour
        guard let bucket = try Int64.fetchOne(db, sql: """
            SELECT bucket FROM rollup_pending WHERE resolution = ? AND bucket <= ? ORDER BY bucket LIMIT 1
            """, arguments: [width, readyBefore]) else { return 0 }
        let seriesIDs = try Int64.fetchAll(db, sql: """
            SELECT series_id FROM rollup_pending WHERE resolution = ? AND bucket = ? LIMIT \(SampleStore.rollupChunk)
            """, arguments: [width, bucket])
        let upsert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO rollups_1h (series_id, bucket, min, max, sum, count, last, increase)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let unmark = try db.cachedStatement(sql: "DELETE FROM rollup_pending WHERE resolution = ? AND bucket = ? AND series_id = ?")
        // The hour's samples changed: its ledger is rewritten too.
        try db.execute(sql: "INSERT OR IGNORE INTO ledger_pending (hour) VALUES (?)", arguments: [bucket])
        for id in seriesIDs {
            let rollup = RollupBucket.combine(bucket: bucket, try rollups(db: db, .minute, seriesID: id, from: bucket, to: bucket + width))
            try upsert.execute(arguments: [id, bucket, rollup.min, rollup.max, rollup.sum, rollup.count, rollup.last, rollup.increase])
            try unmark.execute(arguments: [width, bucket, id])
        }
        return seriesIDs.count
    }
}
