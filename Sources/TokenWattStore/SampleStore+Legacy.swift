import Foundation
import GRDB
import TokenWattCore

extension SampleStore {
    /// Moves the rows of the `head` table, where versions before the in-memory head kept fresh
    /// samples (see Schema), into chunks, in one transaction. A database of this version never
    /// writes that table, so after the first start it is empty and this reads nothing.
    func foldLegacyHead() throws {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM head)") == true else { return }
            var samplesBySeries: [Int64: [Sample]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT series_id, data FROM head")
            while let row = try rows.next() {
                samplesBySeries[row[0], default: []] += try XORChunk.decode([UInt8](row[1] as Data))
            }
            let existing = try db.makeStatement(sql: "SELECT data FROM chunks WHERE series_id = ? AND window_start = ?")
            let store = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO chunks (series_id, window_start, first_ts, last_ts, count, data) VALUES (?, ?, ?, ?, ?, ?)
                """)
            var moved = 0
            for (id, unordered) in samplesBySeries {
                let samples = unordered.sorted { $0.timestamp < $1.timestamp }
                moved += samples.count
                var start = samples.startIndex
                while start < samples.endIndex {
                    let window = SampleStore.chunkWindow(of: samples[start].timestamp)
                    let end = samples[start...].firstIndex { $0.timestamp >= window + Schema.chunkWindow } ?? samples.endIndex
                    var merged = Array(samples[start..<end])
                    if let data = try Data.fetchOne(existing, arguments: [id, window]) {
                        merged = Sample.merged(try XORChunk.decode([UInt8](data)), merged)
                    }
                    try store.execute(arguments: [id, window, merged.first!.timestamp, merged.last!.timestamp, merged.count,
                                                  Data(XORChunk.encode(merged))])
                    start = end
                }
            }
            try db.execute(sql: "DELETE FROM head")
            logger.info("moved the head rows of an earlier version into chunks", metadata: ["samples": "\(moved)"])
        }
    }

    /// Moves what versions before rollup chunks kept in `rollups_1m` (a row per series and
    /// minute) into `rollups_1m_chunks`, and writes the rollups they left pending in
    /// `rollup_pending`, in one transaction. Afterwards both tables are empty for good.
    func foldLegacyRollups() throws {
        try pool.write { db in
            var moved = 0
            let rows = try Row.fetchCursor(db, sql: """
                SELECT series_id, bucket, min, max, sum, last, count, increase FROM rollups_1m ORDER BY series_id, bucket
                """)
            let store = try db.makeStatement(sql: "INSERT OR REPLACE INTO rollups_1m_chunks (series_id, window_start, data) VALUES (?, ?, ?)")
            var run: (id: Int64, window: Int64, buckets: [RollupBucket])?
            func flush() throws {
                guard let run else { return }
                try store.execute(arguments: [run.id, run.window, Data(RollupChunk.encode(run.buckets))])
                moved += run.buckets.count
            }
            while let row = try rows.next() {
                let bucket = RollupBucket(bucket: row[1], min: row[2], max: row[3], sum: row[4], last: row[5], count: row[6], increase: row[7])
                let id: Int64 = row[0], window = SampleStore.chunkWindow(of: bucket.bucket)
                if run?.id != id || run?.window != window {
                    try flush()
                    run = (id, window, [])
                }
                run!.buckets.append(bucket)
            }
            try flush()
            try db.execute(sql: "DELETE FROM rollups_1m")
            let pending = try Row.fetchAll(db, sql: "SELECT series_id, min(bucket), max(bucket + resolution) FROM rollup_pending GROUP BY series_id")
            let boundary = head.flushedBefore
            for row in pending {
                let span = Head.Dirty(seriesID: row[0], from: (row[1] as Int64) + 1, to: row[2])
                _ = try writeRollups(span, previousBoundary: .min, boundary: boundary, db: db)
            }
            try db.execute(sql: "DELETE FROM rollup_pending")
            if moved + pending.count > 0 {
                logger.info("moved the minute rollups of an earlier version into chunks", metadata: [
                    "buckets": "\(moved)", "pending_series": "\(pending.count)",
                ])
            }
        }
    }
}
