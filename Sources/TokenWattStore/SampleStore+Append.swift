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
    /// Appends several batches as one group commit and returns once it is durable: the series
    /// they introduce and one log row with their new samples are committed in one transaction,
    /// then the samples join the head. Either every batch is stored or, on error, none is.
    public func append(_ batches: [[TimeSeries]]) async throws(StoreError) -> [AppendResult] {
        // Serialised before the transaction, so the writer holds it no longer than it must.
        let forwarded = configuration.forwardLog ? ForwardRow(batches.flatMap { $0 }) : nil
        let staged: StagedGroup
        do {
            staged = try await pool.write { db in
                var staged = try self.stage(batches, db: db)
                if !staged.record.series.isEmpty { staged.walID = try staged.record.insert(db: db) }
                try forwarded?.insert(db: db)
                return staged
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("append: \(error)")
        }
        // Only now that the transaction committed do the new series and samples become visible.
        for (id, labels) in staged.newSeries { index.add(id: id, labels: labels) }
        apply(staged.record, walID: staged.walID)
        return staged.results
    }

    /// What a group commit writes: its new series, the log record of its new samples, and
    /// what each batch did.
    struct StagedGroup {
        var results: [AppendResult] = []
        var newSeries: [(Int64, LabelSet)] = []
        var record = WALRecord(series: [])
        var walID: Int64?
    }

    /// Interns the batches' series and finds their new samples.
    private func stage(_ batches: [[TimeSeries]], db: Database) throws -> StagedGroup {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        var group = StagedGroup()
        group.results.reserveCapacity(batches.count)
        var staged: [LabelSet: Int64] = [:]
        // New samples per series, in the order series first appear.
        var fresh: [Int64: [Sample]] = [:]
        var order: [Int64] = []
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
                    group.newSeries.append((id, series.labels))
                    result.newSeries += 1
                }
                let earlier = fresh[id] ?? []
                let new = try newSamples(series.samples, seriesID: id, alsoStored: earlier, db: db)
                result.duplicates += series.samples.count - new.count
                result.stored += new.count
                guard !new.isEmpty else { continue }
                if earlier.isEmpty { order.append(id) }
                fresh[id] = earlier.isEmpty ? new : Sample.merged(earlier, new)
            }
            group.results.append(result)
        }
        group.record.series = order.map { ($0, fresh[$0]!) }
        return group
    }

    /// Adds a committed log record's samples to the head and the index.
    func apply(_ record: WALRecord, walID: Int64?) {
        var latest: [Int64: Sample] = [:]
        for (id, samples) in record.series {
            head.append(samples, seriesID: id)
            if let last = samples.last { latest[id] = last }
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
        var stored = Set(head.samples(seriesID: seriesID, from: first.timestamp, to: to).map(\.timestamp))
        stored.formUnion(alsoStored.map(\.timestamp))
        if first.timestamp < head.flushedBefore {
            stored.formUnion(try chunkSamples(db: db, seriesID: seriesID, from: first.timestamp, to: to).map(\.timestamp))
        }
        return ordered.filter { !stored.contains($0.timestamp) }
    }
}
