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
        case totalSeriesLimit = "total_series_limit", headMemory = "head_memory", forbidden
    }

    private struct State {
        var requests = 0
        var samples = 0
        var duplicates = 0
        var rejected: [RejectReason: Int] = [:]
        var rejectedOTLPPoints = 0
        var commits = Histogram()
        var lastPushMs: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    /// Nodes and gateways listed in the config: they have an `up` series before their first push.
    private let knownNodes: [String]
    /// The senders that are gateways, not nodes: the fleet leaves them out.
    private let gateways: Set<String>
    /// A node is up while its last push is younger than this.
    private let agentUpWindowMs: Int64

    /// The HTTP server's connections: open, and closed to make room.
    private let connections: ClientConnections

    init(connections: ClientConnections = ClientConnections(), knownNodes: [String] = [], gateways: Set<String> = [], agentUpWindowMs: Int64 = 30_000) {
        self.connections = connections
        self.knownNodes = knownNodes
        self.gateways = gateways
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

    /// Data points an OTLP export's partial success rejected.
    func rejectedOTLPPoints(_ points: Int) {
        state.withLock { $0.rejectedOTLPPoints += points }
    }

    func committed(seconds: Double) {
        state.withLock { $0.commits.observe(seconds) }
    }

    /// Whether a sender is a gateway (configured, or the local one without a credential).
    func isGateway(_ sender: String) -> Bool {
        gateways.contains(sender)
    }

    /// Every sender listed or heard from (nodes and gateways), its last stored push, and whether
    /// it is up: pushing on time (`tokenwatt_agent_up`).
    func agents(now: Int64) -> [(node: String, lastPushMs: Int64?, up: Bool)] {
        let lastPushMs = state.withLock { $0.lastPushMs }
        return Set(knownNodes).union(lastPushMs.keys).sorted().map { node in
            (node, lastPushMs[node], lastPushMs[node].map { now - $0 <= agentUpWindowMs } ?? false)
        }
    }

    func families(samples: any SampleReading, databaseBytes: Int64, queuedSamples: Int, now: Int64) -> [MetricFamily] {
        let state = state.withLock { $0 }
        let agents = agents(now: now)
        let held = connections.held
        func single(_ metric: MetricDescriptor, _ value: some BinaryInteger) -> MetricFamily {
            metric.family([metric.sample(Double(value))])
        }
        return [
            single(.aggregatorRequests, state.requests),
            single(.aggregatorSamples, state.samples),
            single(.aggregatorDuplicateSamples, state.duplicates),
            MetricDescriptor.aggregatorRejectedRequests.family(RejectReason.allCases.map { reason in
                MetricDescriptor.aggregatorRejectedRequests.sample([Label("reason", reason.rawValue)], Double(state.rejected[reason] ?? 0))
            }),
            single(.aggregatorRejectedOTLPPoints, state.rejectedOTLPPoints),
            single(.aggregatorEvictedConnections, connections.evicted),
            MetricDescriptor.aggregatorConnections.family([
                MetricDescriptor.aggregatorConnections.sample([Label("credential", "yes")], Double(held.identified)),
                MetricDescriptor.aggregatorConnections.sample([Label("credential", "no")], Double(held.unidentified)),
            ]),
            MetricDescriptor.aggregatorCommitDurationSeconds.family(state.commits.samples(MetricDescriptor.aggregatorCommitDurationSeconds.name)),
            single(.aggregatorCompactedSamples, samples.compactedSamples),
            single(.aggregatorSeries, samples.seriesCount),
            single(.aggregatorHeadSeries, samples.headSeries),
            single(.aggregatorHeadSamples, samples.headSamples),
            single(.aggregatorHeadBytes, samples.headBytes),
            single(.aggregatorQueuedSamples, queuedSamples),
            single(.aggregatorDatabaseSizeBytes, databaseBytes),
            MetricDescriptor.agentLastPushTimestampSeconds.family(agents.compactMap { agent in
                agent.lastPushMs.map { MetricDescriptor.agentLastPushTimestampSeconds.sample([Label("node", agent.node)], Double($0) / 1000) }
            }),
            MetricDescriptor.agentUp.family(agents.map { agent in
                MetricDescriptor.agentUp.sample([Label("node", agent.node)], agent.up ? 1 : 0)
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
