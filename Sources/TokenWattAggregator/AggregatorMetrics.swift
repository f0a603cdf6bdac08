import Synchronization
import TokenWattCore
import TokenWattStore

/// The aggregator's own `tokenwatt_aggregator_*` metrics.
final class AggregatorMetrics: Sendable {
    /// Why a push was refused; the `reason` label of the rejected-requests counter.
    enum RejectReason: String, CaseIterable, Sendable {
        case unauthorized, unsupportedMediaType = "unsupported_media_type", tooLarge = "too_large"
        case invalid, saturated, shuttingDown = "shutting_down", storageError = "storage_error"
    }

    /// Upper bounds of the commit-duration histogram, in seconds.
    static let commitBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private struct State {
        var requests = 0
        var samples = 0
        var duplicates = 0
        var rejected: [RejectReason: Int] = [:]
        var commitBucketCounts = [Int](repeating: 0, count: AggregatorMetrics.commitBuckets.count)
        var commitCount = 0
        var commitSum = 0.0
    }

    private let state = Mutex(State())

    func ingested(_ stored: Int, duplicates: Int) {
        state.withLock {
            $0.requests += 1
            $0.samples += stored
            $0.duplicates += duplicates
        }
    }

    func rejected(_ reason: RejectReason) {
        state.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    func committed(seconds: Double) {
        state.withLock { state in
            for (index, bound) in AggregatorMetrics.commitBuckets.enumerated() where seconds <= bound {
                state.commitBucketCounts[index] += 1
            }
            state.commitCount += 1
            state.commitSum += seconds
        }
    }

    func families(store: SampleStore, queuedSamples: Int) -> [MetricFamily] {
        let state = state.withLock { $0 }
        func counter(_ name: String, _ help: String, _ samples: [ExpositionSample]) -> MetricFamily {
            MetricFamily(name: name, type: .counter, help: help, samples: samples)
        }
        func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: name, type: .gauge, help: help, samples: [ExpositionSample(name: name, value: value)])
        }
        var commitSamples = zip(AggregatorMetrics.commitBuckets, state.commitBucketCounts).map { bound, count in
            ExpositionSample(name: "tokenwatt_aggregator_commit_duration_seconds_bucket",
                             labels: [Label("le", ExpositionWriter.formatValue(bound))], value: Double(count))
        }
        commitSamples += [
            ExpositionSample(name: "tokenwatt_aggregator_commit_duration_seconds_bucket", labels: [Label("le", "+Inf")], value: Double(state.commitCount)),
            ExpositionSample(name: "tokenwatt_aggregator_commit_duration_seconds_sum", value: state.commitSum),
            ExpositionSample(name: "tokenwatt_aggregator_commit_duration_seconds_count", value: Double(state.commitCount)),
        ]
        return [
            counter("tokenwatt_aggregator_requests", "Remote-write requests stored.",
                    [ExpositionSample(name: "tokenwatt_aggregator_requests_total", value: Double(state.requests))]),
            counter("tokenwatt_aggregator_samples", "Samples stored from remote-write requests.",
                    [ExpositionSample(name: "tokenwatt_aggregator_samples_total", value: Double(state.samples))]),
            counter("tokenwatt_aggregator_duplicate_samples", "Samples received again (same series and timestamp) and kept once.",
                    [ExpositionSample(name: "tokenwatt_aggregator_duplicate_samples_total", value: Double(state.duplicates))]),
            counter("tokenwatt_aggregator_rejected_requests", "Remote-write requests refused, by reason.",
                    RejectReason.allCases.map { reason in
                        ExpositionSample(name: "tokenwatt_aggregator_rejected_requests_total", labels: [Label("reason", reason.rawValue)],
                                         value: Double(state.rejected[reason] ?? 0))
                    }),
            MetricFamily(name: "tokenwatt_aggregator_commit_duration_seconds", type: .histogram,
                         help: "Duration of each group commit to SQLite.", samples: commitSamples),
            counter("tokenwatt_aggregator_compacted_samples", "Raw samples moved from the head table into compressed chunks.",
                    [ExpositionSample(name: "tokenwatt_aggregator_compacted_samples_total", value: Double(store.compactedSamples))]),
            gauge("tokenwatt_aggregator_series", "Distinct series stored.", Double(store.seriesCount)),
            gauge("tokenwatt_aggregator_queued_samples", "Samples waiting for the writer.", Double(queuedSamples)),
            gauge("tokenwatt_aggregator_database_size_bytes", "Size of the SQLite database, WAL included.", Double(store.databaseBytes)),
        ]
    }
}
