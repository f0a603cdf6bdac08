import Foundation
import GRDB
import TokenWattCore

/// What the compactor knows between rounds.
struct CompactionState {
    /// Compaction has covered, or is covering, every head sample before this time; a sample
    /// that arrives before it is late and needs another round.
    var compactedBefore: Int64 = .min
    /// A late sample reached the head since the last round began.
    var lateSamples = false
}

extension SampleStore {
    /// Series compacted per transaction (a range of ids), so ingest commits interleave.
    static let compactionBatch = 1_000

    /// Raw samples moved from the head into chunks since the store opened.
    public var compactedSamples: Int { compactedSampleCount.load(ordering: .relaxed) }

    /// The start of the window that holds `timestamp`.
    static func chunkWindow(of timestamp: Int64) -> Int64 {
        timestamp - timestamp.modulo(Schema.chunkWindow)
    }

    /// Folds the head's samples of every window that ended at least `Schema.chunkGrace` before
    /// the newest sample (never later than `now`) into compressed chunks, then gives the freed
    /// pages back to the file system. Returns how many samples moved.
    @discardableResult
    public func compact(now: Int64) async throws(StoreError) -> Int {
        guard let newest = index.newestTimestamp else { return 0 }
        let boundary = SampleStore.chunkWindow(of: min(newest, now) - Schema.chunkGrace)
        let due = compaction.withLock { state in
            guard state.lateSamples || boundary > state.compactedBefore else { return false }
            state.lateSamples = false
            state.compactedBefore = max(state.compactedBefore, boundary)
            return true
        }
        guard due else { return 0 }
        var moved = 0
        do {
            let minutes = try await pool.read { db in try self.headMinutes(db: db, before: Schema.slot(of: boundary)) }
            let ids = index.allIDs.sorted()
            for start in stride(from: 0, to: ids.count, by: SampleStore.compactionBatch) where !minutes.isEmpty {
                let range = ids[start]...ids[min(start + SampleStore.compactionBatch, ids.count) - 1]
                moved += try await pool.write { db in try self.compact(series: range, minutes: minutes, db: db) }
            }
            if moved > 0 { try await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") } }
        } catch {
            compaction.withLock { $0.lateSamples = true }  // the next round tries again
            throw .database("compaction: \(error)")
        }
        compactedSampleCount.add(moved, ordering: .relaxed)
        if moved > 0 { logger.debug("compacted head samples into chunks", metadata: ["samples": "\(moved)", "before": "\(boundary)"]) }
        return moved
    }

    /// The head's non-empty minutes before `slot`, skipping empty ones with one seek each.
    private func headMinutes(db: Database, before slot: Int64) throws -> [Int64] {
        try Int64.fetchAll(db, sql: """
            WITH RECURSIVE minutes(slot) AS (
                SELECT (SELECT min(slot) FROM head)
                UNION ALL
                SELECT (SELECT min(slot) FROM head WHERE slot > minutes.slot) FROM minutes WHERE minutes.slot < ?
            )
            SELECT slot FROM minutes WHERE slot < ?
            """, arguments: [slot, slot])
    }

    /// Moves the head rows of a range of series in the given minutes into their chunks.
    private func compact(series range: ClosedRange<Int64>, minutes: [Int64], db: Database) throws -> Int {
        let select = try db.cachedStatement(sql: "SELECT series_id, data FROM head WHERE slot = ? AND series_id BETWEEN ? AND ?")
        let delete = try db.cachedStatement(sql: "DELETE FROM head WHERE slot = ? AND series_id BETWEEN ? AND ?")
        var samplesBySeries: [Int64: [Sample]] = [:]
        for minute in minutes {
            let rows = try Row.fetchCursor(select, arguments: [minute, range.lowerBound, range.upperBound])
            while let row = try rows.next() {
                samplesBySeries[row[0], default: []] += try XORChunk.decode([UInt8](row[1] as Data))
            }
            try delete.execute(arguments: [minute, range.lowerBound, range.upperBound])
        }
        let existing = try db.cachedStatement(sql: "SELECT data FROM chunks WHERE series_id = ? AND window_start = ?")
        let store = try db.cachedStatement(sql: """
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
                    // Head and chunk never share a timestamp (see the insert path), so a sort merges them.
                    merged = (try XORChunk.decode([UInt8](data)) + merged).sorted { $0.timestamp < $1.timestamp }
                }
                try store.execute(arguments: [id, window, merged.first!.timestamp, merged.last!.timestamp, merged.count,
                                              Data(XORChunk.encode(merged))])
                start = end
            }
        }
        return moved
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
