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

/// A pushed series on its way to the writer: its labels, or its id when the pusher already
/// knows the series (`RemoteWriteHandler` knows a node's series from its earlier pushes).
public struct IncomingSeries: Sendable {
    public enum Identity: Sendable {
        case labels(LabelSet)
        case id(Int64)

        public var id: Int64? {
            if case .id(let id) = self { id } else { nil }
        }

        public var labels: LabelSet? {
            if case .labels(let labels) = self { labels } else { nil }
        }
    }

    public var identity: Identity
    public var samples: [Sample]

    public init(_ series: TimeSeries) {
        identity = .labels(series.labels)
        samples = series.samples
    }

    public init(id: Int64, samples: [Sample]) {
        identity = .id(id)
        self.samples = samples
    }
}

/// A batch made ready for the writer by the task that hands it over, in parallel with other
/// pushes, so the single writer does less: each series' id when it is known, and its samples
/// as the log's chunk when they are in timestamp order (the usual case, which the writer then
/// logs as they are). The chunks share one buffer: a push of a hundred series allocates once.
public struct PreparedBatch: Sendable {
    struct Entry: Sendable {
        /// `.id` when the series was known as the batch was prepared; the writer looks the
        /// others up again (another group may have added them since) or adds them.
        let identity: IncomingSeries.Identity
        let samples: [Sample]
        let chunk: ArraySlice<UInt8>?
    }

    let entries: [Entry]
    /// The id of each series of the batch as it was given: nil for a series not stored yet
    /// (the commit adds it) and for one without samples.
    public let ids: [Int64?]
    /// Samples in the batch.
    public let sampleCount: Int
    /// The batch as a serialised `WriteRequest`, when the forwarding log keeps it.
    let forwarded: ForwardRow?
}

extension SampleStore {
    /// Prepares a batch for `append`; cheap enough to run in each pusher's task.
    public func prepare(_ batch: [TimeSeries]) -> PreparedBatch {
        prepare(batch.map(IncomingSeries.init))
    }

    /// Prepares a batch whose series come by labels or by id (ids the store gave).
    public func prepare(_ batch: [IncomingSeries]) -> PreparedBatch {
        // Series given by labels that the index knows go on by id.
        var found = index.ids(of: batch.compactMap(\.identity.labels)).makeIterator()
        let resolved = batch.map { one in
            guard one.identity.labels != nil, let id = found.next()! else { return one }
            return IncomingSeries(id: id, samples: one.samples)
        }
        let series = resolved.filter { !$0.samples.isEmpty }
        var chunks: [UInt8] = []
        chunks.reserveCapacity(series.count * 24)
        var ranges: [Range<Int>?] = []
        ranges.reserveCapacity(series.count)
        var samples = 0
        for one in series {
            samples += one.samples.count
            guard one.samples.isInTimestampOrder else {
                ranges.append(nil)
                continue
            }
            let start = chunks.count
            XORChunk.encode(one.samples, appendingTo: &chunks)
            ranges.append(start..<chunks.count)
        }
        // Sliced once the buffer is whole: a slice taken earlier would make the next append copy it.
        let entries = series.indices.map { PreparedBatch.Entry(identity: series[$0].identity, samples: series[$0].samples, chunk: ranges[$0].map { chunks[$0] }) }
        return PreparedBatch(entries: entries, ids: resolved.map { $0.samples.isEmpty ? nil : $0.identity.id }, sampleCount: samples,
                             forwarded: configuration.forwardLog ? forwardRow(series) : nil)
    }

    /// The forwarding log's row of a batch: series given by id get their labels from the index.
    private func forwardRow(_ series: [IncomingSeries]) -> ForwardRow {
        ForwardRow(series.compactMap { one in
            switch one.identity {
            case .labels(let labels): TimeSeries(labels: labels, samples: one.samples)
            case .id(let id): index.labels(of: id).map { TimeSeries(labels: $0, samples: one.samples) }
            }
        })
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
        let group: CommittedGroup
        do {
            group = try await pool.write { db in
                var group = try self.stage(batches, pending: pending, db: db)
                if !group.record.series.isEmpty { (group.walID, group.logBytes) = try group.record.insert(db: db) }
                for row in forwarded { try row.insert(db: db) }
                return group
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("append: \(error)")
        }
        logBytesSinceCheckpoint.add(group.logBytes, ordering: .relaxed)
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
    /// Where each series is in `record.series`.
    var positions: [Int64: Int] = [:]
    var walID: Int64?
    /// The bytes of its log row.
    var logBytes = 0

    /// The samples the group logged for a series.
    func samples(of id: Int64) -> [Sample]? {
        positions[id].map { record.series[$0].samples }
    }
}

extension SampleStore {
    /// Interns the batches' series and finds their new samples.
    private func stage(_ batches: [PreparedBatch], pending: CommittedGroup?, db: Database) throws -> CommittedGroup {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        var group = CommittedGroup()
        group.results.reserveCapacity(batches.count)
        // The newest sample of each series known when prepared, read under one lock, in the
        // order of the entries.
        let latestOfKnown = index.latest(of: batches.flatMap { $0.entries.compactMap(\.identity.id) })
        var nextKnown = 0
        var staged: [LabelSet: Int64] = [:]
        // New samples per series, in the order series first appear.
        var entries: [WALRecord.Entry] = []
        let seriesCount = batches.reduce(0) { $0 + $1.entries.count }
        entries.reserveCapacity(seriesCount)
        group.positions.reserveCapacity(seriesCount)
        for batch in batches {
            var result = AppendResult()
            for entry in batch.entries {
                let id: Int64
                let newest: Sample?
                switch entry.identity {
                case .id(let known):
                    id = known
                    newest = latestOfKnown[nextKnown]
                    nextKnown += 1
                case .labels(let labels):
                    if let known = index.id(of: labels) ?? staged[labels] {
                        id = known
                    } else {
                        try insertSeries.execute(arguments: [labels.metricName ?? "", LabelsJSON.encode(labels)])
                        id = db.lastInsertedRowID
                        staged[labels] = id
                        group.newSeries.append((id, labels))
                        result.newSeries += 1
                    }
                    newest = index.latest(of: id)
                }
                let position = group.positions[id]
                let earlier = position.map { entries[$0].samples } ?? []
                let stored = pending?.samples(of: id).map { earlier.isEmpty ? $0 : Sample.merged(earlier, $0) } ?? earlier
                let new = try newSamples(entry.samples, knownInOrder: entry.chunk != nil, seriesID: id, latest: newest, alsoStored: stored, db: db)
                result.duplicates += entry.samples.count - new.count
                result.stored += new.count
                guard !new.isEmpty else { continue }
                if let position {
                    entries[position] = WALRecord.Entry(id: id, samples: Sample.merged(earlier, new))
                } else {
                    group.positions[id] = entries.count
                    // All new and in order: the pusher's chunk is the log's.
                    entries.append(WALRecord.Entry(id: id, samples: new, chunk: new.count == entry.samples.count ? entry.chunk : nil))
                }
            }
            group.results.append(result)
        }
        group.record.series = entries
        return group
    }

    /// Adds a committed log record's samples to the head and the index.
    func apply(_ record: WALRecord, walID: Int64?) {
        head.append(record.series)
        index.noteLatest(record.series.compactMap { entry in entry.samples.last.map { (entry.id, $0) } })
        if let walID { appliedWAL.store(walID, ordering: .releasing) }
    }

    /// The samples not stored yet, in timestamp order, each timestamp once (the first wins).
    /// In-order samples (all after the series' newest) need no lookup; older ones are checked
    /// against the head, the chunks when they fall in a flushed window, and `alsoStored`.
    /// `knownInOrder`: the caller checked the order already (a prepared batch that has its chunk).
    func newSamples(_ samples: [Sample], knownInOrder: Bool = false, seriesID: Int64, latest: Sample?, alsoStored: [Sample],
                    db: Database) throws -> [Sample] {
        var ordered = samples
        if !knownInOrder && !samples.isInTimestampOrder {
            // A stable sort keeps the first of equal timestamps first.
            let sorted = samples.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
            ordered = sorted.indices.filter { $0 == 0 || sorted[$0 - 1].timestamp != sorted[$0].timestamp }.map { sorted[$0] }
        }
        let newest = max(latest?.timestamp ?? .min, alsoStored.last?.timestamp ?? .min)
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
