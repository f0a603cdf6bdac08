import Foundation
import GRDB
import TokenWattCore

/// What the compactor knows between rounds; only touched inside writer transactions.
struct CompactionState {
    /// No sample at or after this time is in a chunk: the boundary of the last compaction, or
    /// the end of the newest window compacted since. Head samples before it are late arrivals.
    var chunkedBefore: Int64 = .min
    /// A late sample reached the head since the last compaction: its window needs a merge.
    var lateSamples = false
}

extension SampleStore {
    /// Series compacted per transaction, so ingest commits interleave.
    static let compactionChunk = 500

    /// Raw samples moved from the head into chunks since the store opened.
    public var compactedSamples: Int { compactedSampleCount.load(ordering: .relaxed) }

    /// The start of the window that holds `timestamp`.
    static func chunkWindow(of timestamp: Int64) -> Int64 {
        timestamp - timestamp.modulo(Schema.chunkWindow)
    }

    /// Folds head samples of every window that ended at least `Schema.chunkGrace` before the
    /// newest sample (never later than `now`) into compressed chunks, then gives the freed pages
    /// back to the file system. Returns how many samples moved.
    @discardableResult
    public func compact(now: Int64) async throws(StoreError) -> Int {
        guard let newest = index.newestTimestamp else { return 0 }
        let boundary = SampleStore.chunkWindow(of: min(newest, now) - Schema.chunkGrace)
        let due = compaction.withLock { state in
            state.lateSamples || boundary > state.chunkedBefore
        }
        guard due else { return 0 }
        let ids = index.allIDs
        var moved = 0
        do {
            compaction.withLock { $0.lateSamples = false }
            for start in stride(from: 0, to: ids.count, by: SampleStore.compactionChunk) {
                let chunk = ids[start..<min(start + SampleStore.compactionChunk, ids.count)]
                moved += try await pool.write { db in
                    try chunk.reduce(0) { total, id in total + (try self.compact(seriesID: id, before: boundary, db: db)) }
                }
            }
            compaction.withLock { $0.chunkedBefore = max($0.chunkedBefore, boundary) }
            try await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") }
        } catch {
            compaction.withLock { $0.lateSamples = true }  // try again next round
            throw .database("compaction: \(error)")
        }
        compactedSampleCount.add(moved, ordering: .relaxed)
        if moved > 0 { logger.debug("compacted head samples into chunks", metadata: ["samples": "\(moved)", "before": "\(boundary)"]) }
        return moved
    }

    private func compact(seriesID id: Int64, before boundary: Int64, db: Database) throws -> Int {
        let rows = try Data.fetchAll(db, sql: "SELECT data FROM head WHERE series_id = ? AND first_ts < ?", arguments: [id, boundary])
        guard !rows.isEmpty else { return 0 }
        let all = try rows.flatMap { try XORChunk.decode([UInt8]($0)) }.sorted { $0.timestamp < $1.timestamp }
        let old = all.prefix { $0.timestamp < boundary }
        let kept = all[old.endIndex...]
        try db.execute(sql: "DELETE FROM head WHERE series_id = ? AND first_ts < ?", arguments: [id, boundary])
        // A row that straddled the boundary leaves its newer samples in the head, as one row.
        try HeadRow.insert(Array(kept), seriesID: id, db: db)
        let existing = try db.cachedStatement(sql: "SELECT data FROM chunks WHERE series_id = ? AND window_start = ?")
        let store = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO chunks (series_id, window_start, first_ts, last_ts, count, data) VALUES (?, ?, ?, ?, ?, ?)
            """)
        var start = old.startIndex
        while start < old.endIndex {
            let window = SampleStore.chunkWindow(of: old[start].timestamp)
            let end = old[start...].firstIndex { $0.timestamp >= window + Schema.chunkWindow } ?? old.endIndex
            var samples = Array(old[start..<end])
            if let data = try Data.fetchOne(existing, arguments: [id, window]) {
                // Head and chunk never share a timestamp (see the insert path), so a sort merges them.
                samples = (try XORChunk.decode([UInt8](data)) + samples).sorted { $0.timestamp < $1.timestamp }
            }
            try store.execute(arguments: [id, window, samples.first!.timestamp, samples.last!.timestamp, samples.count,
                                          Data(XORChunk.encode(samples))])
            compaction.withLock { $0.chunkedBefore = max($0.chunkedBefore, window + Schema.chunkWindow) }
            start = end
        }
        return old.count
    }

    /// Samples of one series' chunks with `from <= ts < to`, in timestamp order.
    func chunkSamples(db: Database, seriesID: Int64, from: Int64, to: Int64) throws -> [Sample] {
        let statement = try db.cachedStatement(sql: """
            SELECT data FROM chunks WHERE series_id = ? AND window_start > ? AND window_start < ? AND last_ts >= ?
            ORDER BY window_start
            """)
        let blobs = try Data.fetchAll(statement, arguments: [seriesID, from.subtractingClamped(Schema.chunkWindow), to, from])
        return try blobs.flatMap { try XORChunk.decode([UInt8]($0)).filter { $0.timestamp >= from && $0.timestamp < to } }
    }
}

extension Int64 {
    /// `self - other`, stopping at `Int64.min` instead of trapping.
    func subtractingClamped(_ other: Int64) -> Int64 {
        let (result, overflow) = subtractingReportingOverflow(other)
        return overflow ? .min : result
    }
}
