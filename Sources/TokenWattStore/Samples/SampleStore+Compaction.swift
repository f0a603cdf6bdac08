import Foundation
import GRDB
import TokenWattCore

extension SampleStore {
    /// Windows written per flush transaction, so ingest commits interleave.
    static let flushBatch = 5_000
    /// Series whose rollups are written per transaction.
    static let rollupBatch = 2_000

    /// Raw samples moved from the head into chunks since the store opened.
    public var compactedSamples: Int { compactedSampleCount.load(ordering: .relaxed) }

    /// The start of the window that holds `timestamp`.
    static func chunkWindow(of timestamp: Int64) -> Int64 {
        TimeBucket.current(at: timestamp, width: Schema.chunkWindow)
    }

    /// Writes the head's windows that ended at least `Schema.chunkGrace` before the newest sample
    /// (never later than `now`) into chunks, merged with what a chunk already holds (late
    /// samples), then the rollups of every window whose buckets changed, lets go of the log rows
    /// this made redundant, then of the windows. Returns how many samples moved.
    @discardableResult
    public func compact(now: Int64) async throws(StoreError) -> Int {
        guard let newest = index.newestTimestamp else { return 0 }
        let boundary = SampleStore.chunkWindow(of: min(newest, now) - Schema.chunkGrace)
        guard head.hasWindows(before: boundary) else { return 0 }
        // Every log row up to here is in the head, so in the windows taken or in later ones.
        let applied = appliedWAL.load(ordering: .acquiring)
        let previouslyFlushed = head.flushedBefore
        let (windows, spans) = head.windowsToFlush(before: boundary)
        var moved = 0
        do {
            for start in stride(from: 0, to: windows.count, by: SampleStore.flushBatch) {
                let batch = windows[start..<min(start + SampleStore.flushBatch, windows.count)]
                moved += try await pool.write { db in try self.write(batch, mayExist: previouslyFlushed, db: db) }
            }
            // Rollups read the chunks just written, and the head, which still holds the windows.
            for start in stride(from: 0, to: spans.count, by: SampleStore.rollupBatch) {
                let batch = spans[start..<min(start + SampleStore.rollupBatch, spans.count)]
                let lastFinite = try await pool.write { db in
                    try batch.reduce(into: [Int64: Double?]()) { lastFinite, span in
                        lastFinite.updateValue(try self.writeRollups(span, previousBoundary: previouslyFlushed, boundary: boundary, db: db),
                                               forKey: span.seriesID)
                    }
                }
                head.noteLastFinite(lastFinite)
            }
            // Only now are the log rows of the flushed windows redundant.
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM wal WHERE id <= ? AND max_ts < ?", arguments: [applied, boundary])
            }
            try await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") }
        } catch {
            head.markDirty(spans)  // the next round tries again
            throw .database("compaction: \(error)")
        }
        head.remove(flushed: windows)
        compactedSampleCount.add(moved, ordering: .relaxed)
        if moved > 0 { logger.debug("flushed head windows into chunks", metadata: ["samples": "\(moved)", "before": "\(boundary)"]) }
        return moved
    }

    /// Writes flushed windows as chunks. A window before `mayExist` may already have a chunk
    /// (late samples after its flush): the two are merged.
    private func write(_ windows: ArraySlice<Head.TakenWindow>, mayExist: Int64, db: Database) throws -> Int {
        var moved = 0
        for flushed in windows {
            let window = flushed.window
            if flushed.start < mayExist {
                try mergeIntoChunk(window.samples, seriesID: flushed.seriesID, window: flushed.start, db: db)
            } else {
                try storeChunk(window.samples, seriesID: flushed.seriesID, window: flushed.start, xor: window.inOrderBits, db: db)
            }
            moved += flushed.count
        }
        return moved
    }

    /// Stores samples (in timestamp order) of one series' window as its chunk, merged with what
    /// the chunk already holds, which was stored first and wins over an equal timestamp.
    func mergeIntoChunk(_ samples: [Sample], seriesID: Int64, window: Int64, db: Database) throws {
        let merged = try chunkSamples(db: db, seriesID: seriesID, window: window).map { Sample.merged($0, samples) } ?? samples
        try storeChunk(merged, seriesID: seriesID, window: window, db: db)
    }

    /// Writes one series' samples of one window (in timestamp order) as its chunk, framed in
    /// the shorter encoding (`StoredChunk`); `xor`: their Gorilla bits, when the head has them.
    private func storeChunk(_ samples: [Sample], seriesID: Int64, window: Int64, xor: [UInt8]? = nil, db: Database) throws {
        guard let first = samples.first, let last = samples.last else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO chunks (series_id, window_start, first_ts, last_ts, count, data, format)
            VALUES (?, ?, ?, ?, ?, ?, \(StoredChunk.framed))
            """)
        try statement.execute(arguments: [seriesID, window, first.timestamp, last.timestamp, samples.count,
                                          StoredChunk.frame(samples: samples, xor: xor)])
    }

    /// Samples of one series' chunks with `from <= ts < to`, in timestamp order.
    func chunkSamples(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [Sample] {
        let statement = try db.cachedStatement(sql: """
            SELECT data, format, series_id, window_start FROM chunks WHERE series_id = ? AND window_start > ? AND window_start < ? AND last_ts >= ?
            ORDER BY window_start
            """)
        let rows = try Row.fetchAll(statement, arguments: [seriesID, from.subtractingClamped(Schema.chunkWindow), to, from])
        return try rows.flatMap { try SampleStore.samples(ofChunk: $0).filter { $0.timestamp >= from && $0.timestamp < to } }
    }

    /// The samples of one series' chunk of one window, if it has one.
    func chunkSamples(db: Database, seriesID: Int64, window: Int64) throws -> [Sample]? {
        let statement = try db.cachedStatement(sql: "SELECT data, format, series_id, window_start FROM chunks WHERE series_id = ? AND window_start = ?")
        return try Row.fetchOne(statement, arguments: [seriesID, window]).map { try SampleStore.samples(ofChunk: $0) }
    }

    /// The samples of a `chunks` (or `head_chunks`) row read as `data, format, series_id, window_start`.
    static func samples(ofChunk row: Row, in table: String = "chunks") throws -> [Sample] {
        try StoredChunk.decode(row, in: table, bare: .xor, StoredChunk.samples)
    }
}

extension Int64 {
    /// `self + other`, stopping at `Int64.max` instead of trapping.
    func addingClamped(_ other: Int64) -> Int64 {
        let (result, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : result
    }

    /// `self - other`, stopping at `Int64.min` instead of trapping.
    func subtractingClamped(_ other: Int64) -> Int64 {
        let (result, overflow) = subtractingReportingOverflow(other)
        return overflow ? .min : result
    }
}
