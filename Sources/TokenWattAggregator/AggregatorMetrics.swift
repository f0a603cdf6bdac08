import Synchronization
import TokenWattCore
import TokenWattService
import TokenWattStore

/// The aggregator's own `tokenwatt_aggregator_*` metrics.
final class AggregatorMetrics: Sendable {
    /// Why a push was refused; the `reason` label of the rejected-requests counter.
    enum RejectReason: String, CaseIterable, Sendable {
        case unauthorized, unsupportedMediaType = "unsupported_media_type", tooLarge = "too_large"
        case invalid, saturated, shuttingDown = "shutting_down", storageError = "storage_error"
        case overLimit = "limit", seriesLimit = "series_limit", reservedName = "reserved_name"
        case totalSeriesLimit = "total_series_limit", headMemory = "head_memory"
    }

    private struct State {
        var requests = 0
        var samples = 0
        var duplicates = 0
        var rejected: [RejectReason: Int] = [:]
        var commits = Histogram()
        var lastPushMs: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    /// Nodes listed in the config: they have an `up` series before their first push.
    private let knownNodes: [String]
    /// A node is up while its last push is younger than this.
    private let agentUpWindowMs: Int64

    /// The HTTP server's connections, for those refused past the per-client limit.
    private let connections: ConnectionCounter

    init(connections: ConnectionCounter = ConnectionCounter(), knownNodes: [String] = [], agentUpWindowMs: Int64 = 30_000) {
        self.connections = connections
        self.knownNodes = knownNodes
        self.agentUpWindowMs = agentUpWindowMs
    }

    func pushed(node: String, at milliseconds: Int64) {
        state.withLock { $0.lastPushMs[node] = max($0.lastPushMs[node] ?? .min, milliseconds) }
    }

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
        state.withLock { $0.commits.observe(seconds) }
    }

    /// Every node listed or heard from, its last stored push, and whether it is up: pushing
    /// on time (`tokenwatt_agent_up`).
    func agents(now: Int64) -> [(node: String, lastPushMs: Int64?, up: Bool)] {
        let lastPushMs = state.withLock { $0.lastPushMs }
        return Set(knownNodes).union(lastPushMs.keys).sorted().map { node in
            (node, lastPushMs[node], lastPushMs[node].map { now - $0 <= agentUpWindowMs } ?? false)
        }
    }

    func families(samples: any SampleReading, databaseBytes: Int64, queuedSamples: Int, now: Int64) -> [MetricFamily] {
        let state = state.withLock { $0 }
        let agents = agents(now: now)
        func counter(_ name: String, _ help: String, _ samples: [ExpositionSample]) -> MetricFamily {
            MetricFamily(name: name, type: .counter, help: help, samples: samples)
        }
        func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: name, type: .gauge, help: help, samples: [ExpositionSample(name: name, value: value)])
        }
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
            counter("tokenwatt_aggregator_refused_connections", "Connections closed at once: their client held web.max_connections_per_client already.",
                    [ExpositionSample(name: "tokenwatt_aggregator_refused_connections_total", value: Double(connections.refused))]),
            MetricFamily(name: "tokenwatt_aggregator_commit_duration_seconds", type: .histogram,
                         help: "Duration of each group commit to SQLite.",
                         samples: state.commits.samples("tokenwatt_aggregator_commit_duration_seconds")),
            counter("tokenwatt_aggregator_compacted_samples", "Raw samples flushed from the in-memory head into compressed chunks.",
                    [ExpositionSample(name: "tokenwatt_aggregator_compacted_samples_total", value: Double(samples.compactedSamples))]),
            gauge("tokenwatt_aggregator_series", "Distinct series stored.", Double(samples.seriesCount)),
            gauge("tokenwatt_aggregator_head_series", "Series with samples in the in-memory head.", Double(samples.headSeries)),
            gauge("tokenwatt_aggregator_head_samples", "Samples in the in-memory head (and its write-ahead log).", Double(samples.headSamples)),
            gauge("tokenwatt_aggregator_head_bytes", "Memory the head's samples take (storage.max_head_bytes bounds it).", Double(samples.headBytes)),
            gauge("tokenwatt_aggregator_queued_samples", "Samples waiting for the writer.", Double(queuedSamples)),
            gauge("tokenwatt_aggregator_database_size_bytes", "Size of the SQLite database, WAL included.", Double(databaseBytes)),
            MetricFamily(name: "tokenwatt_agent_last_push_timestamp_seconds", type: .gauge, help: "When the node's agent last pushed samples that were stored.",
                         samples: agents.compactMap { agent in
                             agent.lastPushMs.map { ExpositionSample(name: "tokenwatt_agent_last_push_timestamp_seconds", labels: [Label("node", agent.node)], value: Double($0) / 1000) }
                         }),
            MetricFamily(name: "tokenwatt_agent_up", type: .gauge, help: "1 while the node's agent pushes on time, 0 once it has missed the configured number of pushes.",
                         samples: agents.map { agent in
                             ExpositionSample(name: "tokenwatt_agent_up", labels: [Label("node", agent.node)], value: agent.up ? 1 : 0)
                         }),
        ]
    }
}

extension AggregatorMetrics {
    /// The aggregator's own figures as a source of `/metrics`, with the stores they read.
    struct Source: MetricsSource {
        let metrics: AggregatorMetrics
        let samples: any SampleReading
        let database: StoreDatabase
        let writer: SampleWriter
        let now: @Sendable () -> Int64

        func families() -> [MetricFamily] {
            metrics.families(samples: samples, databaseBytes: database.bytes, queuedSamples: writer.queuedSamples, now: now())
        }
    }
}
