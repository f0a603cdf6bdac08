import Foundation
import GRDB

extension SampleStore {
    /// Series handled per retention transaction, so ingest commits interleave.
    static let retentionChunk = 1_000

    /// Deletes raw samples (head rows and chunks), minute rollups and hour rollups older than their retention, and
    /// pending rollups of buckets whose raw samples are gone. Returns the rows deleted.
    @discardableResult
    public func enforceRetention(now: Int64) async throws(StoreError) -> Int {
        let rawCutoff = now - configuration.rawRetentionMs
        let cutoffs: [(table: String, column: String, before: Int64)] = [
            ("head", "last_ts", rawCutoff),
            // A chunk goes once its whole window is past the raw retention.
            ("chunks", "window_start", rawCutoff - Schema.chunkWindow),
            (RollupResolution.minute.table, "bucket", now - configuration.minuteRollupRetentionMs),
            (RollupResolution.hour.table, "bucket", now - configuration.hourRollupRetentionMs),
        ]
        let ids = index.allIDs
        var deleted = 0
        do {
            // Deleting per series follows the (series_id, time) primary key: seeks, no table scan.
            for start in stride(from: 0, to: ids.count, by: SampleStore.retentionChunk) {
                let chunk = Array(ids[start..<min(start + SampleStore.retentionChunk, ids.count)])
                deleted += try await pool.write { db in
                    var rows = 0
                    for cutoff in cutoffs {
                        let statement = try db.cachedStatement(sql: "DELETE FROM \(cutoff.table) WHERE series_id = ? AND \(cutoff.column) < ?")
                        for id in chunk {
                            try statement.execute(arguments: [id, cutoff.before])
                            rows += db.changesCount
                        }
                    }
                    for id in chunk { try self.trimHead(seriesID: id, before: rawCutoff, db: db) }
                    return rows
                }
            }
            deleted += try await pool.write { db in
                try db.execute(sql: "DELETE FROM rollup_pending WHERE resolution = ? AND bucket < ?",
                               arguments: [RollupResolution.minute.rawValue, now - self.configuration.rawRetentionMs])
                return db.changesCount
            }
        } catch {
            throw .database("retention: \(error)")
        }
        if deleted > 0 { logger.info("retention deleted old rows", metadata: ["rows": "\(deleted)"]) }
        return deleted
    }

    /// Rewrites the head rows that straddle the cutoff without their samples before it.
    private func trimHead(seriesID id: Int64, before cutoff: Int64, db: Database) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT first_ts, data FROM head WHERE series_id = ? AND first_ts < ?", arguments: [id, cutoff])
        for row in rows {
            let kept = try XORChunk.decode([UInt8](row[1] as Data)).filter { $0.timestamp >= cutoff }
            try db.execute(sql: "DELETE FROM head WHERE series_id = ? AND first_ts = ?", arguments: [id, row[0] as Int64])
            try HeadRow.insert(kept, seriesID: id, db: db)
        }
    }
}
