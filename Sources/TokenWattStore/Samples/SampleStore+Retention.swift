import Foundation
import GRDB

extension SampleStore {
    /// Series handled per retention transaction, so ingest commits interleave.
    static let retentionBatch = 1_000

    /// Deletes raw samples (head windows and chunks), minute rollups and hour rollups older than
    /// their retention. Returns the rows and head samples deleted.
    @discardableResult
    public func enforceRetention(now: Int64) async throws(StoreError) -> Int {
        let rawCutoff = now - configuration.rawRetentionMs
        let perSeries: [(table: String, column: String, before: Int64)] = [
            // A chunk goes once its whole window is past the raw retention.
            ("chunks", "window_start", rawCutoff - Schema.chunkWindow),
            // Minute rollups go a whole window at a time, as the chunks.
            ("rollups_1m_chunks", "window_start", now - configuration.minuteRollupRetentionMs - Schema.chunkWindow),
            ("rollups_1h", "bucket", now - configuration.hourRollupRetentionMs),
        ]
        let ids = index.allIDs
        var deleted = 0
        do {
            // The head keeps whole windows too (late samples of an old window wait there for a flush).
            deleted += head.drop(windowsEndingBefore: rawCutoff)
            // The others are keyed by series: one seek per series, no table scan.
            for start in stride(from: 0, to: ids.count, by: SampleStore.retentionBatch) {
                let batch = ids[start..<min(start + SampleStore.retentionBatch, ids.count)]
                deleted += try await pool.write { db in
                    var rows = 0
                    for cutoff in perSeries {
                        let statement = try db.cachedStatement(sql: "DELETE FROM \(cutoff.table) WHERE series_id = ? AND \(cutoff.column) < ?")
                        for id in batch {
                            try statement.execute(arguments: [id, cutoff.before])
                            rows += db.changesCount
                        }
                    }
                    return rows
                }
            }
        } catch {
            throw .database("retention: \(error)")
        }
        if deleted > 0 { logger.info("retention deleted old rows", metadata: ["rows": "\(deleted)"]) }
        return deleted
    }
}
