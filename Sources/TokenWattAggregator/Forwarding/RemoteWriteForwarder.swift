import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattService
import TokenWattStore

/// Forwards what the aggregator stores, and its cost and budget series, to each target with
/// remote write 1.0, from the database's forwarding log: every stored batch is logged in the
/// transaction that stores it, and each target has its own cursor and `BatchShipper`, the
/// cursor moved only after a 2xx. Any fault but a refusal of the payload (5xx, 429, 401, 404,
/// network) is waited out with backoff, the log holding what the target has not taken; a
/// request it refuses (400, 413) is split so that only the rows to blame are dropped, counted.
/// Rows every target has passed are deleted.
public final class RemoteWriteForwarder: Service, MetricsSource, Sendable {
    /// Most bytes (before snappy) per request.
    static let maxRequestBytes = 4 << 20
    static let minBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(60)

    private let log: any ForwardLog
    let targets: [ForwardTarget]
    private let client: OutboundClient
    /// What the aggregator computes rather than stores (cost and budget series): logged for
    /// forwarding every snapshot interval.
    private let snapshotSources: [any MetricsSource]
    private let snapshotIntervalMs: Int64
    private let logger: Logger
    fileprivate let now: @Sendable () -> Int64
    private let counts = Mutex<[String: [String: Int]]>([:])
    /// Each target's shipper, for its error counts.
    private let shippers = Mutex<[String: BatchShipper]>([:])
    /// Failed reads of a target's cursor, by target: forwarding waits for the cursor rather
    /// than start the log again from its first row.
    private let cursorErrors = Mutex<[String: Int]>([:])

    init(log: any ForwardLog, targets: [ForwardTarget], client: OutboundClient, snapshotSources: [any MetricsSource],
         snapshotIntervalMs: Int64, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.log = log
        self.targets = targets
        self.client = client
        self.snapshotSources = snapshotSources
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

    /// Where forwarding to `target` resumes, read again with backoff until it can be (nil only
    /// at shutdown): starting from the log's first row instead would send the receiver
    /// everything again.
    private func cursor(of target: ForwardTarget) async -> Int64? {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                return try await log.cursor(target: target.name)
            } catch {
                failures += 1
                cursorErrors.withLock { $0[target.name, default: 0] += 1 }
                logger.error("forwarding cursor not read: forwarding waits for it", metadata: ["target": "\(target.name)", "error": "\(error)"])
                let delay = Backoff.delay(failures: failures, minimum: RemoteWriteForwarder.minBackoff, maximum: RemoteWriteForwarder.maxBackoff, retryAfter: nil)
                guard await PeriodicWork.pause(delay) else { return nil }
            }
        }
        return nil
    }

    /// `tokenwatt_forward_samples_total{target, result=sent|dropped}`, failed requests by
    /// reason, failed cursor reads, and each target's backlog.
    func families() async throws -> [MetricFamily] {
        guard !targets.isEmpty else { return [] }
        let counts = counts.withLock { $0 }
        let errors = shippers.withLock { $0.mapValues(\.status.errors) }
        var backlog: [ExpositionSample] = [], age: [ExpositionSample] = []
        for target in targets {
            let waiting = try await log.backlog(after: try await log.cursor(target: target.name))
            backlog.append(MetricDescriptor.forwardBacklogSamples.sample([Label("target", target.name)], Double(waiting.samples)))
            age.append(MetricDescriptor.forwardBacklogAgeSeconds.sample([Label("target", target.name)], waiting.oldestMs.map { Double(max(0, now() - $0)) / 1000 } ?? 0))
        }
        let cursorErrors = cursorErrors.withLock { $0 }
        return [
            MetricDescriptor.forwardSamples.family(targets.flatMap { target in
                ["sent", "dropped"].map { result in
                    MetricDescriptor.forwardSamples.sample([Label("result", result), Label("target", target.name)], Double(counts[target.name]?[result] ?? 0))
                }
            }),
            MetricDescriptor.forwardErrors.family(targets.flatMap { target in
                SendFailure.Reason.allCases.map { reason in
                    MetricDescriptor.forwardErrors.sample([Label("reason", reason.rawValue), Label("target", target.name)], Double(errors[target.name]?[reason] ?? 0))
                }
            }),
            MetricDescriptor.forwardCursorErrors.family(targets.map { target in
                MetricDescriptor.forwardCursorErrors.sample([Label("target", target.name)], Double(cursorErrors[target.name] ?? 0))
            }),
            MetricDescriptor.forwardBacklogSamples.family(backlog),
            MetricDescriptor.forwardBacklogAgeSeconds.family(age),
        ]
    }

    /// The cost and budget series, logged for forwarding every snapshot interval.
    private func snapshots() async {
        await PeriodicWork.run(every: .milliseconds(snapshotIntervalMs), waitFirst: true) {
            do {
                let families = try await snapshotSources.families()
                let timestamp = now()
                let series = families.flatMap(\.samples).compactMap { sample -> TimeSeries? in
                    guard let labels = try? LabelSet(validating: [Label(LabelSet.metricNameLabel, sample.name)] + sample.labels) else { return nil }
                    return TimeSeries(labels: labels, samples: [Sample(timestamp: timestamp, value: sample.value)])
                }
                try await log.append(series)
            } catch {
                logger.error("cost and budget series not logged for forwarding", metadata: ["error": "\(error)"])
            }
        }
    }

    private func forward(to target: ForwardTarget) async {
        guard let cursor = await cursor(of: target) else { return }
        let queue = ForwardQueue(forwarder: self, target: target, cursor: cursor)
        var settings = BatchShipper.Settings(
            context: SendContext(url: target.url, purpose: "forwarding to \(target.name)",
                                 credential: target.token == nil ? "requests without a token" : "the token of remote_write \(target.name)",
                                 urlHint: "check remote_write's url for \(target.name)"),
            headers: RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-aggregator", token: target.token, v2: target.sendsV2)
                + target.headers.map { ($0.key, $0.value) })
        if target.sendsV2 {
            settings.encode = { try RemoteWriteCodec.reencodeV2($0) }
        }
        settings.minBackoff = RemoteWriteForwarder.minBackoff
        settings.maxBackoff = RemoteWriteForwarder.maxBackoff
        // A target with its own CA or client certificate gets a client of its own. Its files
        // loaded when the config was read; should they fail now, the shared client (the
        // system's roots) refuses the receiver rather than trusting it.
        var own: HTTPClient?
        do {
            own = try target.tls.map(OutboundClient.makeHTTPClient(tls:))
        } catch {
            logger.error("remote_write tls_config not loaded", metadata: ["target": "\(target.name)", "error": "\(error)"])
        }
        let shipper = BatchShipper(queue: queue, client: own.map(OutboundClient.init(http:)) ?? client, settings: settings, logger: logger)
        shippers.withLock { $0[target.name] = shipper }
        await shipper.run()
        try? await own?.shutdown()
    }

    fileprivate func move(_ target: ForwardTarget, to id: Int64, sent: Int = 0, dropped: Int = 0, reason: String? = nil) async throws {
        try await log.advanceCursor(target: target.name, to: id, targets: targets.map(\.name))
        counts.withLock {
            $0[target.name, default: [:]]["sent", default: 0] += sent
            $0[target.name, default: [:]]["dropped", default: 0] += dropped
        }
        if dropped > 0 { logger.error("forwarding dropped samples", metadata: ["target": "\(target.name)", "samples": "\(dropped)", "reason": "\(reason ?? "")"]) }
    }

    fileprivate func batches(after cursor: Int64) async throws -> [RemoteWriteBatch] {
        try await log.batches(after: cursor, maxBytes: RemoteWriteForwarder.maxRequestBytes)
    }
}

/// One target's place in the forwarding log, as its shipper's queue: rows past the target's
/// age bound are dropped, counted, never sent; the cursor moves after each accepted request.
private final class ForwardQueue: BatchQueue {
    let forwarder: RemoteWriteForwarder
    let target: ForwardTarget
    private let cursor: Mutex<Int64>

    init(forwarder: RemoteWriteForwarder, target: ForwardTarget, cursor: Int64) {
        self.forwarder = forwarder
        self.target = target
        self.cursor = Mutex(cursor)
    }

    func nextBatches() async throws -> [RemoteWriteBatch] {
        var batches = try await forwarder.batches(after: cursor.withLock { $0 })
        let expired = batches.prefix { forwarder.now() - $0.createdMs > target.maxAgeMs }
        if let last = expired.last {
            try await advance(to: last.id, dropped: expired.reduce(0) { $0 + $1.samples }, reason: "older than max_age")
            batches.removeFirst(expired.count)
        }
        return batches
    }

    func waitForMore() async {
        try? await Task.sleep(for: .milliseconds(250))
    }

    func accepted(_ batches: [RemoteWriteBatch]) async throws {
        guard let last = batches.last else { return }
        try await advance(to: last.id, sent: batches.reduce(0) { $0 + $1.samples })
    }

    func refused(_ batch: RemoteWriteBatch, reason: String) async throws {
        try await advance(to: batch.id, dropped: batch.samples, reason: reason)
    }

    /// Moves the target's cursor in the database, then here.
    private func advance(to id: Int64, sent: Int = 0, dropped: Int = 0, reason: String? = nil) async throws {
        try await forwarder.move(target, to: id, sent: sent, dropped: dropped, reason: reason)
        cursor.withLock { $0 = id }
    }
}
