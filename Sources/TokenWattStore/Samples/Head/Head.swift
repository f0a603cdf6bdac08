import Synchronization
import TokenWattCore

/// The fresh raw samples, in memory: per series and chunk window, a Gorilla chunk appended in
/// place. Every sample here is also in the write-ahead log (`wal`), so a crash loses none; a
/// flush writes whole windows into `chunks` and lets the log go (see Schema).
///
/// Concurrency: one mutex, held for dictionary and bit work only, never across I/O. The writer
/// appends after its log row committed; readers copy a series' windows and decode them outside
/// the lock.
final class Head: Sendable {
    fileprivate struct State {
        var series = SeriesTable<HeadSeries>()
        var samples = 0
        /// Memory its windows take (see `HeadWindow.bytes`).
        var bytes = 0
        /// Windows before this were flushed (or are being flushed): a sample there may be on disk too.
        var flushedBefore: Int64 = .min
        /// No window starts before this (it may be lower than the oldest window, never higher).
        var oldestWindow: Int64 = .max
        /// A sample at or before `flushedBefore` came since the last flush: flushed windows
        /// or their rollups change.
        var lateSamples = false
        /// Hours that gained samples since the cost ledger was last told, and the hours of the
        /// last span noted (nearly every series of every append notes the same two).
        var changedHours: Set<Int64> = []
        var lastChangedSpan: ClosedRange<Int64>?
    }

    /// A window as it was when taken, to be flushed or checkpointed.
    struct TakenWindow {
        let seriesID: Int64
        let window: HeadWindow

        var start: Int64 { window.start }
        var count: Int { window.count }
    }

    /// A series with samples added since its rollups were last written: their time span, and
    /// the last finite value before its head's windows when the head knows it.
    struct Dirty: Equatable {
        let seriesID: Int64
        let from: Int64
        let to: Int64
        var lastFinite: Double?
    }

    private let state = Mutex(State())
    /// Copies of the state's sizes, read without the lock: every push checks the memory limit,
    /// and would otherwise wait behind a group being appended.
    private let publishedSamples = Atomic<Int>(0)
    private let publishedSeries = Atomic<Int>(0)
    private let publishedBytes = Atomic<Int>(0)

    var sampleCount: Int { publishedSamples.load(ordering: .relaxed) }
    var seriesCount: Int { publishedSeries.load(ordering: .relaxed) }
    /// Memory its samples take: the chunks' bits, the out-of-order samples, and a fixed cost
    /// per window.
    var bytes: Int { publishedBytes.load(ordering: .relaxed) }

    /// Series (and windows) a flush handles per hold of the lock: at a million series one walk
    /// held it for tens of milliseconds, and every push waited behind it.
    private let flushSlice: Int

    init(flushSlice: Int = 10_000) {
        self.flushSlice = flushSlice
    }

    /// Called under the lock after the sizes changed.
    private func publishSizes(_ state: borrowing State) {
        publishedSamples.store(state.samples, ordering: .relaxed)
        publishedSeries.store(state.series.count, ordering: .relaxed)
        publishedBytes.store(state.bytes, ordering: .relaxed)
    }

    var flushedBefore: Int64 { state.withLock { $0.flushedBefore } }

    /// Adds a log record's new samples (per series in timestamp order, none stored before),
    /// under one lock.
    func append(_ entries: [WALRecord.Entry]) {
        state.withLock { state in
            for entry in entries {
                guard let first = entry.samples.first, let last = entry.samples.last else { continue }
                state.bytes += state.series[entry.id, default: HeadSeries()].add(entry.samples)
                state.oldestWindow = min(state.oldestWindow, SampleStore.chunkWindow(of: first.timestamp))
                state.samples += entry.samples.count
                state.noteChanged(from: first.timestamp, to: last.timestamp)
            }
            publishSizes(state)
        }
    }

    /// The earliest sample of a series added since its rollups were written, if any.
    func dirtyFrom(seriesID: Int64) -> Int64? {
        state.withLock { state in state.series[seriesID].flatMap { $0.dirtyFrom == .max ? nil : $0.dirtyFrom } }
    }

    /// The samples of one series with `from <= ts < to`, in timestamp order.
    func samples(seriesID: Int64, from: Int64, to: Int64) -> [Sample] {
        let windows = state.withLock { state in
            state.series[seriesID]?.windows.filter { $0.start < to && $0.start + Schema.chunkWindow > from } ?? []
        }
        return windows.flatMap { $0.samples.filter { $0.timestamp >= from && $0.timestamp < to } }
    }

    /// Whether a flush up to `boundary` has anything to do.
    func hasWindows(before boundary: Int64) -> Bool {
        state.withLock { $0.lateSamples || (boundary > $0.flushedBefore && $0.oldestWindow < boundary) }
    }

    /// Sets where flushed windows end, on opening the store.
    func noteFlushed(before boundary: Int64) {
        state.withLock { $0.flushedBefore = max($0.flushedBefore, boundary) }
    }

    /// Every window that starts before `boundary`, to be written to disk, and the dirty spans
    /// whose rollups lie there (a sample at `boundary` itself is in the bucket before it); from
    /// now on a sample before `boundary` may be on disk. The spans' marks move past `boundary`.
    /// The series are walked a slice at a time; a sample that comes meanwhile is either in a
    /// window taken later in the walk or, before `boundary`, a late sample for the next flush.
    func windowsToFlush(before boundary: Int64) -> (windows: [TakenWindow], spans: [Dirty]) {
        let ids = state.withLock { state in
            state.flushedBefore = max(state.flushedBefore, boundary)
            state.lateSamples = false
            // Appends from now on lower it again; the walk adds the windows it leaves.
            state.oldestWindow = .max
            return state.series.ids
        }
        var windows: [TakenWindow] = []
        var spans: [Dirty] = []
        var oldestWindow = Int64.max
        for start in stride(from: 0, to: ids.count, by: flushSlice) {
            state.withLock { state in
                for id in ids[start..<min(start + flushSlice, ids.count)] {
                    guard let series = state.series[id] else { continue }
                    for window in series.windows {
                        if window.start < boundary {
                            windows.append(TakenWindow(seriesID: id, window: window))
                        } else {
                            oldestWindow = min(oldestWindow, window.start)
                        }
                    }
                    if series.dirtyFrom <= boundary {
                        spans.append(Dirty(seriesID: id, from: series.dirtyFrom, to: series.dirtyTo, lastFinite: series.lastFinite))
                        state.series[id]!.markRolledUp(through: boundary)
                    }
                }
            }
        }
        state.withLock { $0.oldestWindow = min($0.oldestWindow, oldestWindow) }
        return (windows, spans)
    }

    /// Every window, as it is now, for a checkpoint; the series are walked a slice at a time.
    func allWindows() -> [TakenWindow] {
        let ids = state.withLock { $0.series.ids }
        var windows: [TakenWindow] = []
        for start in stride(from: 0, to: ids.count, by: flushSlice) {
            state.withLock { state in
                for id in ids[start..<min(start + flushSlice, ids.count)] {
                    for window in state.series[id]?.windows ?? [] { windows.append(TakenWindow(seriesID: id, window: window)) }
                }
            }
        }
        return windows
    }

    /// Notes each series' last finite value up to the flushed boundary, for its next rollups.
    func noteLastFinite(_ values: [Int64: Double?]) {
        state.withLock { state in
            for (id, value) in values where state.series[id] != nil {
                state.series[id]!.lastFinite = value
            }
        }
    }

    /// Lets go of flushed windows, each only if it still holds what was flushed (a late sample
    /// that came meanwhile keeps it for the next flush).
    func remove(flushed windows: [TakenWindow]) {
        for start in stride(from: 0, to: windows.count, by: flushSlice) {
            remove(flushed: windows[start..<min(start + flushSlice, windows.count)])
        }
    }

    private func remove(flushed windows: ArraySlice<TakenWindow>) {
        state.withLock { state in
            for flushed in windows {
                guard let index = state.series[flushed.seriesID]?.windows.firstIndex(where: { $0.start == flushed.start }) else { continue }
                // Read and changed in place: a copy of the series would copy its windows.
                let removed = state.series[flushed.seriesID]!.windows.remove(at: index)
                guard removed.count == flushed.count else {
                    state.series[flushed.seriesID]!.windows.insert(removed, at: index)
                    state.oldestWindow = min(state.oldestWindow, flushed.start)
                    continue
                }
                state.bytes -= removed.bytes
                state.samples -= flushed.count
                if let series = state.series[flushed.seriesID], series.windows.isEmpty && series.dirtyFrom == .max {
                    state.series[flushed.seriesID] = nil
                }
            }
            publishSizes(state)
        }
    }

    /// Drops windows that end before `cutoff` (raw retention, which drops chunks alike);
    /// returns how many samples they held.
    func drop(windowsEndingBefore cutoff: Int64) -> Int {
        state.withLock { state in
            let before = state.samples
            let expired = state.series.ids.filter { id in state.series[id]!.windows.contains { $0.start + Schema.chunkWindow < cutoff } }
            for id in expired {
                state.series[id]!.windows.removeAll { window in
                    guard window.start + Schema.chunkWindow < cutoff else { return false }
                    state.bytes -= window.bytes
                    state.samples -= window.count
                    return true
                }
            }
            publishSizes(state)
            return before - state.samples
        }
    }

    /// Takes the hours that gained samples and ended by `closedBy`.
    func takeChangedHours(endedBy closedBy: Int64) -> [Int64] {
        state.withLock { state in
            let closed = state.changedHours.filter { $0 + Milliseconds.hour <= closedBy }
            state.changedHours.subtract(closed)
            if !closed.isEmpty { state.lastChangedSpan = nil }
            return closed.sorted()
        }
    }

    /// Gives back hours the ledger could not be told about.
    func noteChangedHours(_ hours: [Int64]) {
        state.withLock { $0.changedHours.formUnion(hours) }
    }

    /// Marks spans dirty again: a flush that failed, samples replayed from the log that a flush
    /// had already written (their rollups may not have been), pending rollups of an earlier version.
    func markDirty(_ spans: [Dirty]) {
        state.withLock { state in
            for span in spans {
                state.series[span.seriesID, default: HeadSeries()].markDirty(from: span.from, to: span.to)
                state.noteChanged(from: span.from, to: span.to)
            }
        }
    }
}

extension Head.State {
    /// Notes samples from `from` to `to` for the next flush and the cost ledger.
    fileprivate mutating func noteChanged(from: Int64, to: Int64) {
        // A sample on the boundary itself is in the last bucket of the window before it.
        if from <= flushedBefore { lateSamples = true }
        // Their hours by the one rule of buckets (a sample on an hour's start closes the hour
        // before), and the hour after, whose first step starts at the last of them.
        let first = TimeBucket.start(ofSampleAt: from, width: Milliseconds.hour)
        let last = TimeBucket.start(ofSampleAt: to, width: Milliseconds.hour) + Milliseconds.hour
        guard lastChangedSpan != first...last else { return }
        for hour in stride(from: first, through: last, by: Int(Milliseconds.hour)) { changedHours.insert(hour) }
        lastChangedSpan = first...last
    }
}

/// One series in the head: its windows, oldest first, and what its rollups have not seen.
struct HeadSeries {
    var windows: [HeadWindow] = []
    /// Earliest and latest timestamp added since its rollups were written (`.max` and `.min` when none).
    var dirtyFrom: Int64 = .max
    var dirtyTo: Int64 = .min
    /// The last finite value at or before the last flushed boundary; nil until a flush (or a
    /// restart) found it.
    var lastFinite: Double? {
        get { lastFiniteOrNaN.isNaN ? nil : lastFiniteOrNaN }
        set { lastFiniteOrNaN = newValue ?? .nan }
    }
    /// NaN for none (a finite value is never NaN): an optional's extra byte would take the
    /// series from 32 to 40 bytes, in a table of a million.
    private var lastFiniteOrNaN = Double.nan

    mutating func markDirty(from: Int64, to: Int64) {
        dirtyFrom = min(dirtyFrom, from)
        dirtyTo = max(dirtyTo, to)
    }

    /// Its rollups are written up to `boundary`: what lies after stays dirty.
    mutating func markRolledUp(through boundary: Int64) {
        if dirtyTo > boundary {
            dirtyFrom = boundary + 1
        } else {
            dirtyFrom = .max
            dirtyTo = .min
        }
    }

    /// Adds samples in timestamp order; returns the bytes they took. The window is looked up
    /// once per run of samples that fall in it (a push's samples nearly always share one).
    mutating func add(_ samples: [Sample]) -> Int {
        guard let first = samples.first, let last = samples.last else { return 0 }
        markDirty(from: first.timestamp, to: last.timestamp)
        var added = 0
        var current: (index: Int, start: Int64, bytesBefore: Int)?
        for sample in samples {
            let start = SampleStore.chunkWindow(of: sample.timestamp)
            if current?.start != start {
                if let current { added += windows[current.index].bytes - current.bytesBefore }
                let (index, isNew) = window(starting: start)
                current = (index, start, isNew ? 0 : windows[index].bytes)
            }
            windows[current!.index].add(sample)
        }
        if let current { added += windows[current.index].bytes - current.bytesBefore }
        return added
    }

    /// The index of the window that starts at `start`, added (empty) when there was none.
    private mutating func window(starting start: Int64) -> (index: Int, isNew: Bool) {
        if let index = windows.lastIndex(where: { $0.start == start }) { return (index, false) }
        let index = windows.firstIndex { $0.start > start } ?? windows.endIndex
        windows.insert(HeadWindow(start: start), at: index)
        return (index, true)
    }
}

/// One series' samples of one chunk window.
struct HeadWindow {
    let start: Int64
    /// Samples that came in timestamp order, appended in place.
    var chunk = XORAppender(reservingBytes: 16)
    /// Samples older than the chunk's newest when they came, in timestamp order.
    var outOfOrder: [Sample] = []

    var count: Int { chunk.count + outOfOrder.count }
    var firstTimestamp: Int64 { min(chunk.count > 0 ? chunk.firstTimestamp : .max, outOfOrder.first?.timestamp ?? .max) }
    var lastTimestamp: Int64 { max(chunk.last?.timestamp ?? .min, outOfOrder.last?.timestamp ?? .min) }
    var bytes: Int {
        chunk.body.byteCount + outOfOrder.count * MemoryLayout<Sample>.stride + MemoryLayout<HeadWindow>.stride
    }

    mutating func add(_ sample: Sample) {
        guard let last = chunk.last, sample.timestamp <= last.timestamp else {
            chunk.append(sample)
            return
        }
        var low = 0, high = outOfOrder.count
        while low < high {
            let middle = (low + high) / 2
            if outOfOrder[middle].timestamp < sample.timestamp { low = middle + 1 } else { high = middle }
        }
        outOfOrder.insert(sample, at: low)
    }

    /// Its samples in timestamp order.
    var samples: [Sample] {
        let inOrder = chunk.decoded()
        guard !outOfOrder.isEmpty else { return inOrder }
        return Sample.merged(inOrder, outOfOrder)
    }

    /// The window as an `XORChunk`, when its own bits hold all of it (nothing came out of order).
    var inOrderBits: [UInt8]? {
        outOfOrder.isEmpty ? chunk.encoded : nil
    }
}

extension Array where Element == Sample {
    /// Each timestamp after the one before.
    var isInTimestampOrder: Bool {
        zip(self, dropFirst()).allSatisfy { $0.timestamp < $1.timestamp }
    }
}

extension Sample {
    /// Two runs in timestamp order merged into one; of equal timestamps, the first run's sample.
    static func merged(_ first: [Sample], _ second: [Sample]) -> [Sample] {
        var merged: [Sample] = []
        merged.reserveCapacity(first.count + second.count)
        var i = 0, j = 0
        while i < first.count || j < second.count {
            if j == second.count || (i < first.count && first[i].timestamp <= second[j].timestamp) {
                if j < second.count && first[i].timestamp == second[j].timestamp { j += 1 }
                merged.append(first[i])
                i += 1
            } else {
                merged.append(second[j])
                j += 1
            }
        }
        return merged
    }
}
