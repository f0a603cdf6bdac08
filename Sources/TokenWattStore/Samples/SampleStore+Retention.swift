import Foundation
import GRDB

extension SampleStore {
    /// Series handled per retention transaction, so ingest commits interleave.
    static let retentionBatch = 1_000

    /// Deletes raw samples (head windows and chunks), minute rollups and hour rollups older than
    /// their retention; the 1-minute rollups of raw chunks are written as they go, where minute
    /// rollups are kept longer. Returns the rows and head samples deleted.
    @discardableResult
    public func enforceRetention(now: Int64) async throws(StoreError) -> Int {
        let rawCutoff = now - configuration.rawRetentionMs
        // A chunk goes once its whole window is past the raw retention; minute rollups go a whole
        // window at a time, as the chunks.
        let chunksBefore = rawCutoff - Schema.chunkWindow
        let minutesBefore = now - configuration.minuteRollupRetentionMs - Schema.chunkWindow
        let perSeries: [(table: String, column: String, before: Int64)] = [
            ("chunks", "window_start", chunksBefore),
            ("rollups_1m_chunks", "window_start", minutesBefore),
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
                    // Minute rollups of what goes, where they are kept longer than raw samples.
                    if minutesBefore < chunksBefore {
                        for id in batch {
                            try self.rollUpExpiringWindows(seriesID: id, before: chunksBefore, keepFrom: minutesBefore, db: db)
                        }
                    }
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
