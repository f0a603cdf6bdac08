import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattCore

/// Runs each collector on its own schedule, with its own deadline, so that a slow or failing
/// source never holds up the others; keeps each one's latest samples and reports
/// `tokenwatt_collector_up{collector}` and `tokenwatt_collector_duration_seconds{collector}`.
/// A collector that goes down is logged once, with its reason and the fix `fix` names.
public final class CollectorScheduler: Service, Sendable {
    /// The outcome of one collector's latest run.
    struct Outcome: Sendable {
        var samples: [ExpositionSample] = []
        var error: CollectorError?
        var seconds: Double = 0
    }

    private let collectors: Mutex<[any Collector]>
    /// Collectors whose loops `run()` has yet to start: the first ones, then those added.
    private let pending: (stream: AsyncStream<any Collector>, continuation: AsyncStream<any Collector>.Continuation)
    private let interval: Duration
    private let logger: Logger
    private let outcomes = Mutex<[String: Outcome]>([:])
    /// Called after every run with the collector's samples and the time (ms) they were taken.
    private let onCollect: @Sendable (_ collector: String, _ samples: [ExpositionSample], _ timestamp: Int64) async -> Void
    /// What to do about a collector that is down, for its log line.
    private let fix: @Sendable (_ collector: String, _ error: CollectorError) -> String?

    public init(collectors: [any Collector], interval: Duration, logger: Logger,
                fix: @escaping @Sendable (_ collector: String, _ error: CollectorError) -> String? = { _, _ in nil },
                onCollect: @escaping @Sendable (String, [ExpositionSample], Int64) async -> Void = { _, _, _ in }) {
        self.collectors = Mutex(collectors)
        pending = AsyncStream.makeStream()
        for collector in collectors { pending.continuation.yield(collector) }
        self.interval = interval
        self.logger = logger
        self.fix = fix
        self.onCollect = onCollect
    }

    /// Adds a collector found while running (an inference server that came up); its runs start
    /// one period later.
    public func add(_ collector: any Collector) {
        collectors.withLock { $0.append(collector) }
        pending.continuation.yield(collector)
    }

    /// Names of the collectors, in the order they were added.
    public var collectorNames: [String] { collectors.withLock { $0.map(\.name) } }

    /// Runs every collector once, all at the same time, and returns what they found.
    public func collectOnce() async -> [ExpositionSample] {
        await withTaskGroup(of: Void.self) { group in
            for collector in collectors.withLock({ $0 }) {
                group.addTask { await self.run(collector) }
            }
        }
        return snapshot()
    }

    /// Each collector's loop, until a graceful shutdown. The first runs come one period after
    /// the start: `collectOnce()` has done the round before.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await collector in pending.stream {
                    group.addTask { await self.loop(collector) }
                }
            } onGracefulShutdown: {
                self.pending.continuation.finish()
            }
        }
    }

    private func loop(_ collector: any Collector) async {
        let period = collector.interval ?? interval
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            next = next.advanced(by: period)
            // A run longer than the period skips the ticks it missed.
            while next < clock.now { next = next.advanced(by: period) }
            let wakeUp = next
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(until: wakeUp, clock: clock) }) != nil else { break }
            await run(collector)
        }
    }

    /// The latest samples of every collector, then each collector's up and duration.
    public func snapshot() -> [ExpositionSample] {
        let outcomes = outcomes.withLock { $0 }
        var samples: [ExpositionSample] = []
        for collector in collectors.withLock({ $0 }) {
            guard let outcome = outcomes[collector.name] else { continue }
            samples += outcome.samples + CollectorScheduler.health(of: collector.name, outcome)
        }
        return samples
    }

    /// `tokenwatt_collector_up` and `tokenwatt_collector_duration_seconds` of one run.
    private static func health(of collector: String, _ outcome: Outcome) -> [ExpositionSample] {
        let label = [Label("collector", collector)]
        return [
            MetricDescriptor.collectorUp.sample(label, outcome.error == nil ? 1 : 0),
            MetricDescriptor.collectorDurationSeconds.sample(label, outcome.seconds),
        ]
    }

    /// The reason each collector that is down gave, by collector name.
    public func failures() -> [String: CollectorError] {
        outcomes.withLock { $0.compactMapValues(\.error) }
    }

    private func run(_ collector: any Collector) async {
        let clock = ContinuousClock()
        let started = clock.now
        let timestamp = TimeBounds.nowMilliseconds()
        let result = await CollectorScheduler.withDeadline(collector.timeout) { () async throws(CollectorError) in try await collector.collect() }
        let outcome: Outcome
        switch result {
        case .success(let samples): outcome = Outcome(samples: samples, error: nil, seconds: started.duration(to: clock.now).seconds)
        case .failure(let error): outcome = Outcome(samples: [], error: error, seconds: started.duration(to: clock.now).seconds)
        }
        let previous = outcomes.withLock { outcomes in
            defer { outcomes[collector.name] = outcome }
            return outcomes[collector.name]
        }
        // Said once each time it changes, not on every run.
        if outcome.error != previous?.error {
            if let error = outcome.error {
                var metadata: Logger.Metadata = ["collector": "\(collector.name)", "reason": "\(error)"]
                if let fix = fix(collector.name, error) { metadata["fix"] = "\(fix)" }
                if case .noData = error {
                    logger.info("collector has no data", metadata: metadata)
                } else {
                    logger.warning("collector failed", metadata: metadata)
                }
            } else if previous != nil {
                logger.info("collector recovered", metadata: ["collector": "\(collector.name)"])
            }
        }
        // Series the collector reported last time and not now (a lost GPU, a failed run) end
        // with Prometheus's stale marker, so the aggregator stops showing their last values.
        let current = Set(outcome.samples.map(SeriesKey.init))
        let vanished = (previous?.samples ?? []).filter { !current.contains(SeriesKey($0)) }
            .map { ExpositionSample(name: $0.name, labels: $0.labels, value: Sample.staleMarker) }
        await onCollect(collector.name, outcome.samples + vanished + CollectorScheduler.health(of: collector.name, outcome), timestamp)
    }

    /// The operation's result, or a failure once `timeout` has passed. An operation that
    /// overruns is left to finish in the background (a blocked read cannot be interrupted);
    /// collectors that call blocking sources guard against piling up behind it.
    static func withDeadline(_ timeout: Duration, _ operation: @escaping @Sendable () async throws(CollectorError) -> [ExpositionSample])
        async -> Result<[ExpositionSample], CollectorError> {
        await withCheckedContinuation { continuation in
            let resumed = Mutex(false)
            let finish: @Sendable (Result<[ExpositionSample], CollectorError>) -> Void = { result in
                if resumed.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: result) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { finish(.failure(.failed("did not finish within \(timeout)"))) }
            }
            Task {
                do throws(CollectorError) {
                    finish(.success(try await operation()))
                } catch {
                    finish(.failure(error))
                }
                timer.cancel()
            }
        }
    }
}

/// A series' identity: its name and labels, without the value.
private struct SeriesKey: Hashable {
    let name: String
    let labels: [Label]

    init(_ sample: ExpositionSample) {
        name = sample.name
        labels = sample.labels
    }
}
