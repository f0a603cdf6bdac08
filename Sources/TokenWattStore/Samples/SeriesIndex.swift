import Synchronization
import TokenWattCore

/// The in-memory copy of the `series` table plus each series' latest sample.
///
/// Concurrency: all state sits behind one mutex, held only for dictionary work, never across
/// I/O or `await`. Only the store's writer adds series, after the transaction that inserted
/// them committed; readers (exposition, queries) take snapshots.
final class SeriesIndex: Sendable {
    /// What the index holds of one series.
    private struct Entry {
        let labels: LabelSet
        /// Its text as its exposition lines begin, made once when it is added.
        let text: [UInt8]
        /// Its newest sample; a timestamp of `Int64.min` for none (ingest takes none before the
        /// epoch): an optional's extra byte would take the entry from 32 to 40 bytes, in a table
        /// of a million.
        private var newest = Sample(timestamp: .min, value: 0)

        init(labels: LabelSet, text: [UInt8]) {
            self.labels = labels
            self.text = text
        }

        var latest: Sample? { newest.timestamp == .min ? nil : newest }

        mutating func noteLatest(_ sample: Sample) {
            if sample.timestamp >= newest.timestamp { newest = sample }
        }
    }

    private struct State {
        var idByLabels: [LabelSet: Int64] = [:]
        var entries = SeriesTable<Entry>()
        var idsByName: [String: [Int64]] = [:]
        /// Names whose `idsByName` entry is no longer in the order of the series' text.
        var unsortedNames: Set<String> = []
        var newestTimestamp: Int64?
        /// Series by their `node` label, for the per-node series limit.
        var countByNode: [String: Int] = [:]
        /// One copy of each label name and value too long to be stored inside a `String`
        /// (over 15 bytes): metric names, node names and the like repeat across many series.
        var strings: Set<String> = []

        func latest(of id: Int64) -> Sample? {
            entries[id]?.latest
        }

        mutating func intern(_ string: String) -> String {
            guard string.utf8.count > 15 else { return string }
            if let stored = strings.firstIndex(of: string) { return strings[stored] }
            strings.insert(string)
            return string
        }
    }

    /// Bytes an entry takes in the table, a slot of `SeriesTable` (`SeriesMemoryTests` holds it to 32).
    static var entryStride: Int { MemoryLayout<Entry?>.stride }

    private let state = Mutex(State())
    /// The number of series, read without the lock (every push checks the series limit).
    private let publishedCount = Atomic<Int>(0)

    var count: Int { publishedCount.load(ordering: .relaxed) }

    /// The newest timestamp of any sample stored.
    var newestTimestamp: Int64? { state.withLock { $0.newestTimestamp } }

    func id(of labels: LabelSet) -> Int64? {
        state.withLock { $0.idByLabels[labels] }
    }

    /// The ids of many label sets, under one lock.
    func ids(of labels: [LabelSet]) -> [Int64?] {
        state.withLock { state in labels.map { state.idByLabels[$0] } }
    }

    func add(id: Int64, labels given: LabelSet) {
        let name = given.metricName ?? ""
        let text = ExpositionWriter.seriesText(name: name, labels: given.withoutMetricName)
        state.withLock { state in
            let labels = LabelSet(trusted: given.labels.map { Label(state.intern($0.name), state.intern($0.value)) })
            state.idByLabels[labels] = id
            state.entries[id] = Entry(labels: labels, text: text)
            state.idsByName[name, default: []].append(id)
            state.unsortedNames.insert(name)
            state.countByNode[labels["node"] ?? "", default: 0] += 1
            publishedCount.store(state.entries.count, ordering: .relaxed)
        }
    }

    func count(node: String) -> Int {
        state.withLock { $0.countByNode[node] ?? 0 }
    }

    /// How many of `labels` (distinct) the index does not hold.
    func unknown(_ labels: [LabelSet]) -> Int {
        state.withLock { state in Set(labels.filter { state.idByLabels[$0] == nil }).count }
    }

    /// Keeps the newest sample of each series (by timestamp).
    func noteLatest(_ samples: some Sequence<(Int64, Sample)>) {
        state.withLock { state in
            var newest = state.newestTimestamp ?? .min
            for (id, sample) in samples {
                // Changed in place, its arrays untouched.
                guard state.entries[id] != nil else { continue }
                state.entries[id]!.noteLatest(sample)
                newest = max(newest, sample.timestamp)
            }
            if newest > .min { state.newestTimestamp = newest }
        }
    }

    func latest(of id: Int64) -> Sample? {
        state.withLock { $0.latest(of: id) }
    }

    /// The latest sample of each series, under one lock.
    func latest(of ids: [Int64]) -> [Sample?] {
        state.withLock { state in ids.map { state.latest(of: $0) } }
    }

    /// Matching runs on a copy of the candidates, outside the lock: a slow selector holds up
    /// no push and no scrape.
    func matching(_ selector: SeriesSelector) -> [(id: Int64, labels: LabelSet)] {
        let candidates = state.withLock { state -> [(id: Int64, labels: LabelSet)] in
            let ids = selector.metricName.map { state.idsByName[$0] ?? [] } ?? state.entries.ids
            return ids.compactMap { id in state.entries[id].map { (id, $0.labels) } }
        }
        return candidates.filter { selector.matches($0.labels) }.sorted { $0.id < $1.id }
    }

    /// Series whose latest sample is newer than `since` and not a stale marker, by name and
    /// then by their text: the order of an exposition. Series sort once after they are added,
    /// not on every call.
    func live(since: Int64) -> [LiveSeries] {
        state.withLock { state in
            for name in state.unsortedNames {
                let entries = state.entries
                state.idsByName[name] = state.idsByName[name]!.map { (entries[$0]!.text, $0) }
                    .sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
            }
            state.unsortedNames = []
            var live: [LiveSeries] = []
            live.reserveCapacity(state.entries.count)
            for name in state.idsByName.keys.sorted() {
                for id in state.idsByName[name]! {
                    guard let entry = state.entries[id], let sample = entry.latest, sample.timestamp > since, !sample.isStaleMarker else { continue }
                    live.append(LiveSeries(name: name, text: entry.text, labels: entry.labels, sample: sample))
                }
            }
            return live
        }
    }

    /// The latest sample of each series the selector matches, where it is newer than `since`
    /// and not a stale marker.
    func latest(matching selector: SeriesSelector, since: Int64) -> [(labels: LabelSet, sample: Sample)] {
        let candidates = state.withLock { state -> [(labels: LabelSet, sample: Sample)] in
            let ids = selector.metricName.map { state.idsByName[$0] ?? [] } ?? state.entries.ids
            return ids.compactMap { id in
                guard let entry = state.entries[id], let sample = entry.latest, sample.timestamp > since, !sample.isStaleMarker else { return nil }
                return (entry.labels, sample)
            }
        }
        return candidates.filter { selector.matches($0.labels) }
    }

    var allIDs: [Int64] { state.withLock { $0.entries.ids } }

    func labels(of id: Int64) -> LabelSet? { state.withLock { $0.entries[id]?.labels } }
}

/// A series heard from recently, with what the exposition needs to write it.
public struct LiveSeries: Sendable {
    /// The metric name.
    public let name: String
    /// `name{label="value",...}` as its sample lines begin.
    public let text: [UInt8]
    public let labels: LabelSet
    /// Its latest sample.
    public let sample: Sample
}
