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
            state.idsByName[labels.metricName ?? "", default: []].append(id)
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

    /// Series whose latest sample is newer than `since` and not a stale marker.
    func live(since: Int64) -> [(labels: LabelSet, sample: Sample)] {
        state.withLock { state in
            state.latest.compactMap { id, sample in
                guard sample.timestamp > since, !sample.isStaleMarker, let labels = state.labelsByID[id] else { return nil }
                return (labels, sample)
            }
        }
    }

    var allIDs: [Int64] { state.withLock { Array($0.labelsByID.keys) } }

    func labels(of id: Int64) -> LabelSet? { state.withLock { $0.labelsByID[id] } }
}
