import Foundation
import GRDB
import TokenWattCore

/// Checkpoints of the head (see Schema): its windows packed on disk in place of the log rows
/// that brought their samples, as Prometheus checkpoints its log. A log row holds one group
/// commit's few samples per series, 4–5 bytes a sample; a window's chunk holds a whole window,
/// under half a byte a sample when its values are decimals.
extension SampleStore {
    /// Log bytes since the last checkpoint past which maintenance writes the next, unless that
    /// checkpoint was larger, or the head has more series than a 64th of the log's bytes: the
    /// head is then rewritten at most once per its own size of log, and a head of many short
    /// windows (two million series a minute into a window) is not rewritten row by row every
    /// few seconds.
    static let checkpointLogBytes = 16 << 20
    static let checkpointLogBytesPerSeries = 64
    /// Windows written per checkpoint transaction, so ingest commits interleave.
    static let checkpointBatch = 5_000

    /// Whether the log has grown enough since the last checkpoint for the next.
    public var needsCheckpoint: Bool {
        logBytesSinceCheckpoint.load(ordering: .relaxed) > max(SampleStore.checkpointLogBytes, checkpointBytes.load(ordering: .relaxed),
                                                               head.seriesCount * SampleStore.checkpointLogBytesPerSeries)
    }

    /// Writes every head window as a chunk under a new generation, then makes it the
    /// checkpoint and deletes the log rows it holds, in one transaction; the previous
    /// generation goes after. Nothing to do when no log row came since the last checkpoint (it
    /// may still hold windows a flush wrote since: replay reads those once). Maintenance calls
    /// it between flushes, never during one (a flush deletes log rows too); a clean stop calls
    /// it last. Returns the samples it wrote.
    @discardableResult
    public func checkpointHead() async throws(StoreError) -> Int {
        // Every log row up to here is in the head, so in the windows taken below; a row after it
        // may be too, and is replayed after the checkpoint, each sample once.
        let applied = appliedWAL.load(ordering: .acquiring)
        let logBytes = logBytesSinceCheckpoint.load(ordering: .relaxed)
        guard logBytes > 0 else { return 0 }
        let generation = checkpointGeneration.load(ordering: .relaxed) + 1
        let windows = head.allWindows()
        var samples = 0
        var bytes = 0
        do {
            for start in stride(from: 0, to: windows.count, by: SampleStore.checkpointBatch) {
                let batch = windows[start..<min(start + SampleStore.checkpointBatch, windows.count)]
                let rows = batch.map { ($0, StoredChunk.frame(samples: $0.window.samples, xor: $0.window.inOrderBits)) }
                try await pool.write { db in
                    let insert = try db.cachedStatement(sql: "INSERT INTO head_chunks (generation, series_id, window_start, data) VALUES (?, ?, ?, ?)")
                    for (taken, data) in rows { try insert.execute(arguments: [generation, taken.seriesID, taken.start, data]) }
                }
                samples += batch.reduce(0) { $0 + $1.count }
                bytes += rows.reduce(0) { $0 + $1.1.count }
            }
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO head_checkpoint (id, generation, wal_id) VALUES (1, ?, ?)", arguments: [generation, applied])
                try db.execute(sql: "DELETE FROM wal WHERE id <= ?", arguments: [applied])
            }
            checkpointGeneration.store(generation, ordering: .relaxed)
            checkpointBytes.store(bytes, ordering: .relaxed)
            logBytesSinceCheckpoint.subtract(logBytes, ordering: .relaxed)
            try await deleteHeadChunks(otherThan: generation)
            try await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") }
        } catch {
            throw .database("checkpoint of the head: \(error)")
        }
        logger.debug("checkpoint of the head", metadata: ["windows": "\(windows.count)", "samples": "\(samples)", "bytes": "\(bytes)"])
        return samples
    }

    /// Deletes the windows of every generation but `generation`, a batch at a time: those of the
    /// checkpoint before, or of one a crash left half written.
    private func deleteHeadChunks(otherThan generation: Int64) async throws {
        while try await pool.write({ db in
            try db.execute(sql: """
                DELETE FROM head_chunks WHERE rowid IN
                  (SELECT rowid FROM head_chunks WHERE generation <> ? LIMIT \(SampleStore.checkpointBatch))
                """, arguments: [generation])
            return db.changesCount > 0
        }) {}
    }

    /// On opening: replays the checkpoint's windows into the head, a batch of windows at a time,
    /// and drops any other generation's. Returns the log row it holds everything up to (0
    /// without a checkpoint), its windows and the samples they added.
    func replayCheckpoint() throws -> (walID: Int64, windows: Int, samples: Int) {
        let checkpoint = try pool.read { db in try Row.fetchOne(db, sql: "SELECT generation, wal_id FROM head_checkpoint WHERE id = 1") }
        let generation: Int64 = checkpoint?[0] ?? 0
        let walID: Int64 = checkpoint?[1] ?? 0
        checkpointGeneration.store(generation, ordering: .relaxed)
        var windows = 0
        var samples = 0
        var bytes = 0
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT data, 1, series_id, window_start FROM head_chunks WHERE generation = ? ORDER BY series_id, window_start", arguments: [generation])
            var record = WALRecord(series: [])
            while let row = try rows.next() {
                let data: Data = row[0]
                bytes += data.count
                record.series.append(WALRecord.Entry(id: row[2], samples: try SampleStore.samples(ofChunk: row, in: "head_chunks")))
                windows += 1
                if record.series.count == SampleStore.checkpointBatch {
                    samples += try replay(record, walID: walID, db: db)
                    record.series = []
                }
            }
            samples += try replay(record, walID: walID, db: db)
        }
        checkpointBytes.store(bytes, ordering: .relaxed)
        try pool.write { db in
            try db.execute(sql: "DELETE FROM head_chunks WHERE generation <> ?", arguments: [generation])
        }
        return (walID, windows, samples)
    }
}
