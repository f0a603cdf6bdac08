import Synchronization
import TokenWattCore

/// The in-memory copy of the `series` table plus each series' latest sample.
///
/// Concurrency: all state sits behind one mutex, held only for dictionary work, never across
/// I/O or `await`. Only the store's writer adds series, after the transaction that inserted
/// them committed; readers (exposition, queries) take snapshots.
final class SeriesIndex: Sendable {
    private struct State {
        var idByLabels: [LabelSet: Int64] = [:]
        var labelsByID: [Int64: LabelSet] = [:]
        var idsByName: [String: [Int64]] = [:]
        /// Each series' text as its exposition lines begin, made once when it is added.
        var textByID: [Int64: [UInt8]] = [:]
        /// Names whose `idsByName` entry is no longer in the order of the series' text.
        var unsortedNames: Set<String> = []
        var latest: [Int64: Sample] = [:]
        var newestTimestamp: Int64?
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.labelsByID.count } }

    /// The newest timestamp of any sample stored.
    var newestTimestamp: Int64? { state.withLock { $0.newestTimestamp } }

    func id(of labels: LabelSet) -> Int64? {
        state.withLock { $0.idByLabels[labels] }
    }

    func add(id: Int64, labels: LabelSet) {
        state.withLock { state in
            state.idByLabels[labels] = id
            state.labelsByID[id] = labels
            let name = labels.metricName ?? ""
            state.idsByName[name, default: []].append(id)
            state.textByID[id] = ExpositionWriter.seriesText(name: name, labels: labels.withoutMetricName)
            state.unsortedNames.insert(name)
        }
    }

    /// Keeps the newest sample of each series (by timestamp).
    func noteLatest(_ samples: [Int64: Sample]) {
        state.withLock { state in
            for (id, sample) in samples where sample.timestamp >= (state.latest[id]?.timestamp ?? .min) {
                state.latest[id] = sample
                state.newestTimestamp = max(state.newestTimestamp ?? .min, sample.timestamp)
            }
        }
    }

    func latest(of id: Int64) -> Sample? {
        state.withLock { $0.latest[id] }
    }

    func matching(_ selector: SeriesSelector) -> [(id: Int64, labels: LabelSet)] {
        state.withLock { state in
            let candidates: [Int64]
            if let name = selector.metricName {
                candidates = state.idsByName[name] ?? []
            } else {
                candidates = Array(state.labelsByID.keys)
            }
            return candidates.compactMap { id in
                guard let labels = state.labelsByID[id], selector.matches(labels) else { return nil }
                return (id, labels)
            }.sorted { $0.id < $1.id }
        }
    }

    /// Series whose latest sample is newer than `since` and not a stale marker, by name and
    /// then by their text: the order of an exposition. Series sort once after they are added,
    /// not on every call.
    func live(since: Int64) -> [LiveSeries] {
        state.withLock { state in
            for name in state.unsortedNames {
                let textByID = state.textByID
                state.idsByName[name] = state.idsByName[name]!.map { (textByID[$0]!, $0) }
                    .sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
            }
            state.unsortedNames = []
            var live: [LiveSeries] = []
            for name in state.idsByName.keys.sorted() {
                for id in state.idsByName[name]! {
                    guard let sample = state.latest[id], sample.timestamp > since, !sample.isStaleMarker else { continue }
                    live.append(LiveSeries(name: name, text: state.textByID[id]!, labels: state.labelsByID[id]!, sample: sample))
                }
            }
            return live
        }
    }

    var allIDs: [Int64] { state.withLock { Array($0.labelsByID.keys) } }

    func labels(of id: Int64) -> LabelSet? { state.withLock { $0.labelsByID[id] } }
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
