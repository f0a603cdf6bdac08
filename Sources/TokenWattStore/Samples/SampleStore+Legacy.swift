import Foundation
import GRDB
import TokenWattCore

extension SampleStore {
    /// Moves the rows where earlier versions kept raw samples into chunks, in one transaction:
    /// v1's `samples` (a row per sample, NaN as the text 'NaN', the stale marker as NULL),
    /// which the v2 migration leaves in place, and the `head` rows of v2–v8. A database of this
    /// version never writes either table, so after the first start this reads nothing.
    func foldLegacyHead() throws {
        try pool.write { db in
            var samplesBySeries: [Int64: [Sample]] = [:]
            if try db.tableExists("samples") {
                let rows = try Row.fetchCursor(db, sql: "SELECT series_id, ts, value FROM samples")
                while let row = try rows.next() {
                    let value: Double = switch (row[2] as DatabaseValue).storage {
                    case .null: Sample.staleMarker
                    case .double(let double): double
                    case .int64(let int): Double(int)
                    default: .nan
                    }
                    samplesBySeries[row[0], default: []].append(Sample(timestamp: row[1], value: value))
                }
            }
            let rows = try Row.fetchCursor(db, sql: "SELECT series_id, data FROM head")
            while let row = try rows.next() {
                samplesBySeries[row[0], default: []] += try XORChunk.decode([UInt8](row[1] as Data))
            }
            guard !samplesBySeries.isEmpty else { return }
            var moved = 0
            for (id, unordered) in samplesBySeries {
                let samples = unordered.sorted { $0.timestamp < $1.timestamp }
                moved += samples.count
                var start = samples.startIndex
                while start < samples.endIndex {
                    let window = SampleStore.chunkWindow(of: samples[start].timestamp)
                    let end = samples[start...].firstIndex { $0.timestamp >= window + Schema.chunkWindow } ?? samples.endIndex
                    try mergeIntoChunk(Array(samples[start..<end]), seriesID: id, window: window, db: db)
                    start = end
                }
            }
            if try db.tableExists("samples") { try db.execute(sql: "DROP TABLE samples") }
            try db.execute(sql: "DELETE FROM head")
            logger.info("moved the raw samples of an earlier version into chunks", metadata: ["samples": "\(moved)"])
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
            let store = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO rollups_1m_chunks (series_id, window_start, data, format) VALUES (?, ?, ?, \(StoredChunk.framed))
                """)
            var run: (id: Int64, window: Int64, buckets: [RollupBucket])?
            func flush() throws {
                guard let run else { return }
                try store.execute(arguments: [run.id, run.window, StoredChunk.frame(RollupChunk.encode(run.buckets), as: .rollups)])
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
