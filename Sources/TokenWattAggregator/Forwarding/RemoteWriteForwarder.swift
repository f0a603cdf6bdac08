import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TokenWattCore
import TokenWattStore

/// A remote-write receiver the aggregator forwards to (`remote_write:` in the config):
/// Prometheus, Mimir, Thanos Receive, VictoriaMetrics.
public struct ForwardTarget: Sendable {
    public var name: String
    public var url: String
    public var token: String?
    public var headers: [String: String] = [:]
    /// Rows waiting longer than this are dropped, counted, so an endless outage cannot fill the disk.
    public var maxAgeMs: Int64 = 7 * 86_400_000
}

/// Forwards what the aggregator stores, and its cost and budget series, to each target with
/// remote write 1.0, from the database's forwarding log: every stored batch is logged in the
/// transaction that stores it, and each target has its own cursor, moved only after a 2xx. A
/// receiver's outage (5xx, 429, network) is waited out with backoff, the log holding what it
/// has not taken; a request it refuses (another 4xx) is split so that only the rows to blame
/// are dropped, counted. Rows every target has passed are deleted.
public final class RemoteWriteForwarder: Service, Sendable {
    /// Most bytes (before snappy) per request.
    static let maxRequestBytes = 4 << 20
    static let minBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(60)

    private let store: SampleStore
    let targets: [ForwardTarget]
    private let client: HTTPClient
    private let costs: CostEngine
    private let budgets: BudgetEngine
    private let delivery: DeliveryWorker
    private let snapshotIntervalMs: Int64
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let counts = Mutex<[String: [String: Int]]>([:])

    init(store: SampleStore, targets: [ForwardTarget], client: HTTPClient, costs: CostEngine, budgets: BudgetEngine, delivery: DeliveryWorker,
         snapshotIntervalMs: Int64, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.targets = targets
        self.client = client
        self.costs = costs
        self.budgets = budgets
        self.delivery = delivery
        self.snapshotIntervalMs = snapshotIntervalMs
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        guard !targets.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.snapshots() }
            for target in targets { group.addTask { await self.forward(to: target) } }
        }
    }

    /// `tokenwatt_forward_samples_total{target, result=sent|dropped}` and each target's backlog.
    func families() async throws -> [MetricFamily] {
        guard !targets.isEmpty else { return [] }
        let counts = counts.withLock { $0 }
        var backlog: [ExpositionSample] = [], age: [ExpositionSample] = []
        for target in targets {
            let waiting = try await store.forwardBacklog(after: try await store.forwardCursor(target: target.name))
            backlog.append(ExpositionSample(name: "tokenwatt_forward_backlog_samples", labels: [Label("target", target.name)], value: Double(waiting.samples)))
            age.append(ExpositionSample(name: "tokenwatt_forward_backlog_age_seconds", labels: [Label("target", target.name)],
                                        value: waiting.oldestMs.map { Double(max(0, now() - $0)) / 1000 } ?? 0))
        }
        return [
            MetricFamily(name: "tokenwatt_forward_samples", type: .counter, help: "Samples forwarded with remote write, by target and result.",
                         samples: targets.flatMap { target in
                             ["sent", "dropped"].map { result in
                                 ExpositionSample(name: "tokenwatt_forward_samples_total", labels: [Label("result", result), Label("target", target.name)],
                                                  value: Double(counts[target.name]?[result] ?? 0))
                             }
                         }),
            MetricFamily(name: "tokenwatt_forward_backlog_samples", type: .gauge, help: "Samples logged and not yet accepted by the target.", samples: backlog),
            MetricFamily(name: "tokenwatt_forward_backlog_age_seconds", type: .gauge, help: "Age of the oldest sample the target has not accepted.", samples: age),
        ]
    }

    /// The cost and budget series, logged for forwarding every snapshot interval.
    private func snapshots() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(self.snapshotIntervalMs)) }) != nil else { return }
            do {
                let families = try await costs.families() + AlertsHandler.families(budgets: budgets, delivery: delivery)
                let timestamp = now()
                let series = families.flatMap(\.samples).compactMap { sample -> TimeSeries? in
                    guard let labels = try? LabelSet(validating: [Label(LabelSet.metricNameLabel, sample.name)] + sample.labels) else { return nil }
                    return TimeSeries(labels: labels, samples: [Sample(timestamp: timestamp, value: sample.value)])
                }
                try await store.appendForwardOnly(series)
            } catch {
                logger.error("cost and budget series not logged for forwarding", metadata: ["error": "\(error)"])
            }
        }
    }

    private func forward(to target: ForwardTarget) async {
        var failures = 0
        var cursor = (try? await store.forwardCursor(target: target.name)) ?? 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                var batches = try await store.forwardBatches(after: cursor, maxBytes: RemoteWriteForwarder.maxRequestBytes)
                // Past the age bound: dropped, counted, never sent.
                let expired = batches.prefix { now() - $0.createdMs > target.maxAgeMs }
                if let last = expired.last {
                    try await move(target, to: last.id, &cursor, dropped: expired.reduce(0) { $0 + $1.samples }, reason: "older than max_age")
                    batches.removeFirst(expired.count)
                }
                if batches.isEmpty {
                    try await pause(.milliseconds(250))
                    continue
                }
                switch await send(batches, to: target) {
                case .accepted:
                    failures = 0
                    try await move(target, to: batches.last!.id, &cursor, sent: batches.reduce(0) { $0 + $1.samples })
                case .rejected(let reason):
                    // One at a time, so that only the rows the receiver refuses are dropped.
                    rows: for batch in batches {
                        switch await send([batch], to: target) {
                        case .accepted: try await move(target, to: batch.id, &cursor, sent: batch.samples)
                        case .rejected(let reason): try await move(target, to: batch.id, &cursor, dropped: batch.samples, reason: reason)
                        case .retry: break rows  // the rest waits for the next round, in order
                        }
                    }
                    logger.warning("remote-write target refused a request", metadata: ["target": "\(target.name)", "reason": "\(reason)"])
                case .retry(let reason, let retryAfter):
                    failures += 1
                    if failures == 1 { logger.warning("remote-write target unavailable; holding its backlog", metadata: ["target": "\(target.name)", "reason": "\(reason)"]) }
                    try await pause(Backoff.delay(failures: failures, minimum: RemoteWriteForwarder.minBackoff,
                                                  maximum: RemoteWriteForwarder.maxBackoff, retryAfter: retryAfter))
                }
            } catch {
                logger.error("forwarding failed", metadata: ["target": "\(target.name)", "error": "\(error)"])
                try? await pause(.seconds(1))
            }
        }
    }

    private func move(_ target: ForwardTarget, to id: Int64, _ cursor: inout Int64, sent: Int = 0, dropped: Int = 0, reason: String? = nil) async throws {
        try await store.advanceForwardCursor(target: target.name, to: id, targets: targets.map(\.name))
        cursor = id
        counts.withLock {
            $0[target.name, default: [:]]["sent", default: 0] += sent
            $0[target.name, default: [:]]["dropped", default: 0] += dropped
        }
        if dropped > 0 { logger.error("forwarding dropped samples", metadata: ["target": "\(target.name)", "samples": "\(dropped)", "reason": "\(reason ?? "")"]) }
    }

    private func pause(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    private enum Outcome {
        case accepted
        case rejected(String)
        case retry(String, retryAfter: Duration?)
    }

    /// The rows' bodies concatenate into one `WriteRequest` (repeated fields append).
    private func send(_ batches: [ForwardBatch], to target: ForwardTarget) async -> Outcome {
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        for (name, value) in RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-aggregator", token: target.token) + target.headers.map({ ($0.key, $0.value) }) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: Snappy.compress(batches.flatMap(\.body))))
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
            let code = response.status.code
            if (200..<300).contains(code) { return .accepted }
            let reason = "HTTP \(code): \(text.prefix(200))"
            if code == 429 || code >= 500 { return .retry(reason, retryAfter: response.headers.first(name: "Retry-After").flatMap(Backoff.retryAfter)) }
            return .rejected(reason)
        } catch {
            return .retry("\(error)", retryAfter: nil)
        }
    }
}
