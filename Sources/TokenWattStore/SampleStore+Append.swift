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
        // Serialised before the transaction, so the writer holds it no longer than it must.
        let forwarded = configuration.forwardLog ? ForwardRow(batches.flatMap { $0 }) : nil
        do {
            outcome = try await pool.write { db in
                let outcome = try self.insert(batches, db: db)
                try forwarded?.insert(db: db)
                return outcome
            }
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

    /// One head row per series, batch and minute: the batch's new samples of that series in
    /// that minute, XOR-encoded.
    private func insert(_ batches: [[TimeSeries]], db: Database) throws
        -> (results: [AppendResult], newSeries: [(Int64, LabelSet)], latest: [Int64: Sample]) {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        // Bound directly through the C API below, so prepared apart from GRDB's statement cache,
        // whose statements track their own arguments.
        let headStatement = try db.makeStatement(sql: "INSERT INTO head (slot, series_id, first_ts, data) VALUES (?, ?, ?, ?)")
        let pendingStatement = try db.makeStatement(
            sql: "INSERT OR IGNORE INTO rollup_pending (resolution, bucket, series_id) VALUES (\(Schema.minute), ?, ?)")
        guard let connection = db.sqliteConnection else { throw StoreError.database("connection closed") }
        let insertHead = headStatement.sqliteStatement
        let insertPending = pendingStatement.sqliteStatement
        defer {
            sqlite3_reset(insertHead)
            sqlite3_reset(insertPending)
        }
        func step(_ statement: OpaquePointer) throws {
            let code = sqlite3_step(statement)
            sqlite3_reset(statement)
            guard code == SQLITE_DONE else {
                throw StoreError.database(String(cString: sqlite3_errmsg(connection)))
            }
        }

        var staged: [LabelSet: Int64] = [:]
        var newSeries: [(Int64, LabelSet)] = []
        var latest: [Int64: Sample] = [:]
        var lateSamples = false
        let compactedBefore = compaction.withLock { $0.compactedBefore }
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
                let newest = latest[id] ?? index.latest(of: id)
                let fresh = try newSamples(series.samples, seriesID: id, after: newest?.timestamp, db: db)
                result.duplicates += series.samples.count - fresh.count
                guard let first = fresh.first, let last = fresh.last else { continue }
                result.stored += fresh.count
                if last.timestamp > newest?.timestamp ?? .min { latest[id] = last }
                if first.timestamp < compactedBefore { lateSamples = true }

                // One row per minute: the head is keyed by minute first (see Schema).
                for run in HeadRow.minuteRuns(fresh) {
                    let data = XORChunk.encode(fresh[run.range])
                    sqlite3_bind_int64(insertHead, 1, run.slot)
                    sqlite3_bind_int64(insertHead, 2, id)
                    sqlite3_bind_int64(insertHead, 3, fresh[run.range.lowerBound].timestamp)
                    _ = data.withUnsafeBytes { sqlite3_bind_blob(insertHead, 4, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
                    try step(insertHead)
                    // A run's samples lie in one minute of the head; a sample on the minute's
                    // first millisecond belongs to the rollup bucket before (see TimeBucket).
                    let buckets = Set([fresh[run.range.lowerBound], fresh[run.range.upperBound - 1]].map {
                        TimeBucket.start(ofSampleAt: $0.timestamp, width: Schema.minute)
                    })
                    for bucket in buckets {
                        sqlite3_bind_int64(insertPending, 1, bucket)
                        sqlite3_bind_int64(insertPending, 2, id)
                        try step(insertPending)
                    }
                }
            }
            results.append(result)
        }
        if lateSamples { compaction.withLock { $0.lateSamples = true } }
        return (results, newSeries, latest)
    }

    /// The samples not stored yet, in timestamp order, each timestamp once (the first wins).
    /// In-order samples (all after the series' newest) need no lookup; older ones are checked
    /// against what the head and the chunks hold, including rows of this transaction.
    private func newSamples(_ samples: [Sample], seriesID: Int64, after newest: Int64?, db: Database) throws -> [Sample] {
        var ordered = samples
        if !zip(samples, samples.dropFirst()).allSatisfy({ $0.timestamp < $1.timestamp }) {
            // A stable sort keeps the first of equal timestamps first.
            let sorted = samples.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
            ordered = sorted.indices.filter { $0 == 0 || sorted[$0 - 1].timestamp != sorted[$0].timestamp }.map { sorted[$0] }
        }
        guard let newest, let first = ordered.first, first.timestamp <= newest else { return ordered }
        let stored = Set(try rawSamples(db: db, seriesID: seriesID, from: first.timestamp, to: min(ordered.last!.timestamp, newest) + 1).map(\.timestamp))
        return ordered.filter { !stored.contains($0.timestamp) }
    }
}

