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

/// A batch made ready for the writer by the task that hands it over, in parallel with other
/// pushes, so the single writer does less: each series' id when it is known, and its samples
/// as the log's chunk when they are in timestamp order (the usual case, which the writer then
/// logs as they are).
public struct PreparedBatch: Sendable {
    struct Entry: Sendable {
        let series: TimeSeries
        let id: Int64?
        let chunk: [UInt8]?
    }

    let entries: [Entry]
    /// Samples in the batch.
    public let sampleCount: Int
    /// The batch as a serialised `WriteRequest`, when the forwarding log keeps it.
    let forwarded: ForwardRow?
}

extension SampleStore {
    /// Prepares a batch for `append`; cheap enough to run in each pusher's task.
    public func prepare(_ batch: [TimeSeries]) -> PreparedBatch {
        var samples = 0
        let entries = batch.compactMap { series -> PreparedBatch.Entry? in
            guard !series.samples.isEmpty else { return nil }
            samples += series.samples.count
            let ordered = zip(series.samples, series.samples.dropFirst()).allSatisfy { $0.timestamp < $1.timestamp }
            return PreparedBatch.Entry(series: series, id: index.id(of: series.labels), chunk: ordered ? XORChunk.encode(series.samples) : nil)
        }
        return PreparedBatch(entries: entries, sampleCount: samples, forwarded: configuration.forwardLog ? ForwardRow(batch) : nil)
    }

    /// Appends several batches as one group commit (see `append(prepared:)`).
    public func append(_ batches: [[TimeSeries]]) async throws(StoreError) -> [AppendResult] {
        try await append(prepared: batches.map(prepare))
    }

    /// Appends several batches as one group commit and returns once it is durable and in the
    /// head (see `commit` and `apply`). Either every batch is stored or, on error, none is.
    public func append(prepared batches: [PreparedBatch]) async throws(StoreError) -> [AppendResult] {
        apply(try await commit(batches))
    }

    /// Commits several batches as one group: the series they introduce and one log row with
    /// their new samples, in one transaction; once it returns, the batches are durable and
    /// their series known. `pending` is the group committed before whose samples are not in
    /// the head yet (`apply` runs while the next group commits): its samples count as stored.
    public func commit(_ batches: [PreparedBatch], pending: CommittedGroup? = nil) async throws(StoreError) -> CommittedGroup {
        let forwarded = batches.compactMap(\.forwarded)
        let pendingSamples = pending.map { Dictionary($0.record.series.map { ($0.id, $0.samples) }, uniquingKeysWith: { $1 }) } ?? [:]
        let group: CommittedGroup
        do {
            group = try await pool.write { db in
                var group = try self.stage(batches, pending: pendingSamples, db: db)
                if !group.record.series.isEmpty { group.walID = try group.record.insert(db: db) }
                for row in forwarded { try row.insert(db: db) }
                return group
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("append: \(error)")
        }
        // Only now that the transaction committed do the new series become visible.
        for (id, labels) in group.newSeries { index.add(id: id, labels: labels) }
        return group
    }

    /// Adds a committed group's samples to the head; returns what each batch did.
    public func apply(_ group: CommittedGroup) -> [AppendResult] {
        apply(group.record, walID: group.walID)
        return group.results
    }
}

/// What a group commit wrote: its new series, the log record of its new samples, and what
/// each batch did.
public struct CommittedGroup: Sendable {
    var results: [AppendResult] = []
    var newSeries: [(Int64, LabelSet)] = []
    var record = WALRecord(series: [])
    var walID: Int64?
}

extension SampleStore {
    /// Interns the batches' series and finds their new samples.
    private func stage(_ batches: [PreparedBatch], pending: [Int64: [Sample]], db: Database) throws -> CommittedGroup {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        var group = CommittedGroup()
        group.results.reserveCapacity(batches.count)
        var staged: [LabelSet: Int64] = [:]
        // New samples per series, in the order series first appear.
        var fresh: [Int64: WALRecord.Entry] = [:]
        var order: [Int64] = []
        for batch in batches {
            var result = AppendResult()
            for entry in batch.entries {
                let series = entry.series
                let id: Int64
                if let known = entry.id ?? index.id(of: series.labels) ?? staged[series.labels] {
                    id = known
                } else {
                    try insertSeries.execute(arguments: [series.labels.metricName ?? "", LabelsJSON.encode(series.labels)])
                    id = db.lastInsertedRowID
                    staged[series.labels] = id
                    group.newSeries.append((id, series.labels))
                    result.newSeries += 1
                }
                let earlier = fresh[id]?.samples ?? []
                let stored = pending[id].map { earlier.isEmpty ? $0 : Sample.merged(earlier, $0) } ?? earlier
                let new = try newSamples(series.samples, seriesID: id, alsoStored: stored, db: db)
                result.duplicates += series.samples.count - new.count
                result.stored += new.count
                guard !new.isEmpty else { continue }
                if earlier.isEmpty {
                    order.append(id)
                    // All new and in order: the pusher's chunk is the log's.
                    fresh[id] = WALRecord.Entry(id: id, samples: new, chunk: new.count == series.samples.count ? entry.chunk : nil)
                } else {
                    fresh[id] = WALRecord.Entry(id: id, samples: Sample.merged(earlier, new))
                }
            }
            group.results.append(result)
        }
        group.record.series = order.map { fresh[$0]! }
        return group
    }

    /// Adds a committed log record's samples to the head and the index.
    func apply(_ record: WALRecord, walID: Int64?) {
        var latest: [Int64: Sample] = [:]
        for entry in record.series {
            head.append(entry.samples, seriesID: entry.id)
            if let last = entry.samples.last { latest[entry.id] = last }
        }
        index.noteLatest(latest)
        if let walID { appliedWAL.store(walID, ordering: .releasing) }
    }

    /// The samples not stored yet, in timestamp order, each timestamp once (the first wins).
    /// In-order samples (all after the series' newest) need no lookup; older ones are checked
    /// against the head, the chunks when they fall in a flushed window, and `alsoStored`.
    func newSamples(_ samples: [Sample], seriesID: Int64, alsoStored: [Sample], db: Database) throws -> [Sample] {
        var ordered = samples
        if !zip(samples, samples.dropFirst()).allSatisfy({ $0.timestamp < $1.timestamp }) {
            // A stable sort keeps the first of equal timestamps first.
            let sorted = samples.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
            ordered = sorted.indices.filter { $0 == 0 || sorted[$0 - 1].timestamp != sorted[$0].timestamp }.map { sorted[$0] }
        }
        let newest = max(index.latest(of: seriesID)?.timestamp ?? .min, alsoStored.last?.timestamp ?? .min)
        guard let first = ordered.first, first.timestamp <= newest else { return ordered }
        let to = min(ordered.last!.timestamp, newest) + 1
        // Only a window that was flushed may have samples on disk.
        let readable = first.timestamp < head.flushedBefore
            ? try rawSamples(db: db, seriesID: seriesID, from: first.timestamp, to: to)
            : head.samples(seriesID: seriesID, from: first.timestamp, to: to)
        var stored = Set(readable.map(\.timestamp))
        stored.formUnion(alsoStored.map(\.timestamp))
        return ordered.filter { !stored.contains($0.timestamp) }
    }
}
