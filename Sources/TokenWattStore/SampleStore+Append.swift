import GRDB
import GRDBSQLite
import TokenWattCore

/// What one appended batch did.
public struct AppendResult: Sendable, Equatable {
    /// Samples newly stored.
    public var stored = 0
    /// Samples already present (same series and timestamp), left as they were.
    public var duplicates = 0
    /// Series seen for the first time.
    public var newSeries = 0
}

extension SampleStore {
    /// Appends several batches in one transaction (group commit) and returns once it is
    /// committed. Either every batch is stored or, on error, none is.
    public func append(_ batches: [[TimeSeries]]) async throws(StoreError) -> [AppendResult] {
        let outcome: (results: [AppendResult], newSeries: [(Int64, LabelSet)], latest: [Int64: Sample])
        do {
            outcome = try await pool.write { db in try self.insert(batches, db: db) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("append: \(error)")
        }
        // Only now that the transaction committed do the new series and values become visible.
        for (id, labels) in outcome.newSeries { index.add(id: id, labels: labels) }
        index.noteLatest(outcome.latest)
        return outcome.results
    }

    private func insert(_ batches: [[TimeSeries]], db: Database) throws
        -> (results: [AppendResult], newSeries: [(Int64, LabelSet)], latest: [Int64: Sample]) {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        let sampleStatement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?, ?, ?)")
        let pendingStatement = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO rollup_pending (resolution, bucket, series_id) VALUES (\(Schema.minute), ?, ?)")
        guard let connection = db.sqliteConnection else { throw StoreError.database("connection closed") }
        let insertSample = sampleStatement.sqliteStatement
        let insertPending = pendingStatement.sqliteStatement
        defer {
            sqlite3_reset(insertSample)
            sqlite3_reset(insertPending)
        }
        func step(_ statement: OpaquePointer) throws {
            let code = sqlite3_step(statement)
            sqlite3_reset(statement)
            guard code == SQLITE_DONE else {
                throw StoreError.database(String(cString: sqlite3_errmsg(connection)))
            }
        }

        // Samples older than this may already sit in a chunk, where INSERT OR IGNORE cannot see them.
        let chunkedBefore = compaction.withLock { $0.chunkedBefore }
        var chunkTimestamps: [ChunkKey: Set<Int64>] = [:]
        func isInChunk(_ id: Int64, _ timestamp: Int64) throws -> Bool {
            let key = ChunkKey(seriesID: id, window: SampleStore.chunkWindow(of: timestamp))
            if chunkTimestamps[key] == nil {
                let samples = try chunkSamples(db: db, seriesID: id, from: key.window, to: key.window + Schema.chunkWindow)
                chunkTimestamps[key] = Set(samples.map(\.timestamp))
            }
            return chunkTimestamps[key]!.contains(timestamp)
        }
        var lateSamples = false

        var staged: [LabelSet: Int64] = [:]
        var newSeries: [(Int64, LabelSet)] = []
        var latest: [Int64: Sample] = [:]
        var results: [AppendResult] = []
        results.reserveCapacity(batches.count)
        for batch in batches {
            var result = AppendResult()
            for series in batch where !series.samples.isEmpty {
                let id: Int64
                if let known = index.id(of: series.labels) ?? staged[series.labels] {
                    id = known
                } else {
                    try insertSeries.execute(arguments: [series.labels.metricName ?? "", LabelsJSON.encode(series.labels)])
                    id = db.lastInsertedRowID
                    staged[series.labels] = id
                    newSeries.append((id, series.labels))
                    result.newSeries += 1
                }
                var lastBucket = Int64.min
                var newest = latest[id]
                for sample in series.samples {
                    if sample.timestamp < chunkedBefore {
                        if try isInChunk(id, sample.timestamp) {
                            result.duplicates += 1
                            continue
                        }
                        lateSamples = true
                    }
                    sqlite3_bind_int64(insertSample, 1, id)
                    sqlite3_bind_int64(insertSample, 2, sample.timestamp)
                    SampleValue.bind(sample.value, to: insertSample, at: 3)
                    try step(insertSample)
                    guard sqlite3_changes(connection) > 0 else {
                        result.duplicates += 1
                        continue
                    }
                    result.stored += 1
                    if sample.timestamp >= (newest?.timestamp ?? .min) { newest = sample }
                    let bucket = sample.timestamp - sample.timestamp.modulo(Schema.minute)
                    if bucket != lastBucket {
                        sqlite3_bind_int64(insertPending, 1, bucket)
                        sqlite3_bind_int64(insertPending, 2, id)
                        try step(insertPending)
                        lastBucket = bucket
                    }
                }
                latest[id] = newest
            }
            results.append(result)
        }
        if lateSamples { compaction.withLock { $0.lateSamples = true } }
        return (results, newSeries, latest)
    }
}

/// One series' chunk window.
private struct ChunkKey: Hashable {
    var seriesID: Int64
    var window: Int64
}

extension Int64 {
    /// The remainder in 0..<divisor, also for negative values.
    func modulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
