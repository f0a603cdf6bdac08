import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattCore

/// Runs each collector on its own schedule, with its own deadline, so that a slow or failing
/// source never holds up the others. Collectors that share a period run as one round: one
/// wake-up and one deadline timer a round, not one per collector. Keeps each one's latest
/// samples and reports `tokenwatt_collector_up{collector}` and
/// `tokenwatt_collector_duration_seconds{collector}`. A collector that goes down is logged
/// once, with its reason and the fix `fix` names.
public final class CollectorScheduler: Service, Sendable {
    /// The outcome of one collector's latest run.
    struct Outcome: Sendable {
        var samples: [ExpositionSample] = []
        var error: CollectorError?
        var seconds: Double = 0
    }

    private let collectors: Mutex<[any Collector]>
    /// The collectors of each period's round, as `run()` has started them.
    private let rounds = Mutex<[Duration: [any Collector]]>([:])
    /// Collectors whose run has not ended nor passed its deadline: a round leaves them out, so
    /// a slow one skips its own ticks and holds up nothing else.
    private let busy = Mutex<Set<String>>([])
    /// Collectors `run()` has yet to put in their round: the first ones, then those added.
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

    /// Adds a collector found while running (an inference server that came up); it runs in the
    /// next round of its period.
    public func add(_ collector: any Collector) {
        collectors.withLock { $0.append(collector) }
        pending.continuation.yield(collector)
    }

    /// Names of the collectors, in the order they were added.
    public var collectorNames: [String] { collectors.withLock { $0.map(\.name) } }

    /// Runs every collector once, all at the same time, and returns what they found.
    public func collectOnce() async -> [ExpositionSample] {
        await runRound(collectors.withLock { $0 })
        return snapshot()
    }

    /// Each period's rounds, until a graceful shutdown. The first rounds come one period after
    /// the start: `collectOnce()` has done the round before.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await collector in pending.stream {
                    let period = collector.interval ?? interval
                    let isNew = rounds.withLock { rounds in
                        defer { rounds[period, default: []].append(collector) }
                        return rounds[period] == nil
                    }
                    if isNew { group.addTask { await self.loop(period: period) } }
                }
            } onGracefulShutdown: {
                self.pending.continuation.finish()
            }
        }
    }

    /// A period's ticks. Each round runs beside the next tick (a busy collector sits out), and
    /// the loop returns only once its rounds have ended: a stop waits for their samples.
    private func loop(period: Duration) async {
        let clock = ContinuousClock()
        var next = clock.now
        await withDiscardingTaskGroup { running in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                next = next.advanced(by: period)
                // A tick missed (a machine too busy to wake on time) is skipped, not caught up.
                while next < clock.now { next = next.advanced(by: period) }
                let wakeUp = next
                guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(until: wakeUp, clock: clock) }) != nil else { break }
                let round = rounds.withLock { $0[period] ?? [] }
                running.addTask { await self.runRound(round) }
            }
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

    /// Runs collectors at the same time (those not busy with an earlier run), each recorded as
    /// it finishes or at its deadline.
    private func runRound(_ collectors: [any Collector]) async {
        let round = busy.withLock { busy in
            let idle = collectors.filter { !busy.contains($0.name) }
            busy.formUnion(idle.map(\.name))
            return idle
        }
        let clock = ContinuousClock()
        let started = clock.now
        let timestamp = TimeBounds.nowMilliseconds()
        await CollectorScheduler.withDeadlines(round.map { collector in
            (collector.timeout, { () async throws(CollectorError) in try await collector.collect() })
        }) { index, result in
            await self.record(round[index], result, seconds: started.duration(to: clock.now).seconds, timestamp: timestamp)
            _ = self.busy.withLock { $0.remove(round[index].name) }
        }
    }

    private func record(_ collector: any Collector, _ result: Result<[ExpositionSample], CollectorError>, seconds: Double, timestamp: Int64) async {
        let outcome: Outcome
        switch result {
        case .success(let samples): outcome = Outcome(samples: samples, error: nil, seconds: seconds)
        case .failure(let error): outcome = Outcome(samples: [], error: error, seconds: seconds)
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

    /// Runs the operations at the same time and hands each one's result to `done` (by its
    /// index) as it finishes, or a failure once its timeout has passed; returns when every one
    /// is handed. One timer serves them all, waking at each distinct deadline. An operation
    /// that overruns is left to finish in the background (a blocked read cannot be
    /// interrupted); collectors that call blocking sources guard against piling up behind it.
    static func withDeadlines(_ operations: [(timeout: Duration, run: @Sendable () async throws(CollectorError) -> [ExpositionSample])],
                              done: @escaping @Sendable (Int, Result<[ExpositionSample], CollectorError>) async -> Void) async {
        guard !operations.isEmpty else { return }
        let unclaimed = Mutex(Set(operations.indices))
        let unfinished = Mutex(operations.count)
        let timer = Mutex<Task<Void, Never>?>(nil)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Hands a result once: the first of its finishing and its deadline claims it.
            let hand: @Sendable (Int, Result<[ExpositionSample], CollectorError>) async -> Void = { index, result in
                guard unclaimed.withLock({ $0.remove(index) != nil }) else { return }
                await done(index, result)
                let last = unfinished.withLock { count -> Bool in
                    count -= 1
                    return count == 0
                }
                if last {
                    timer.withLock { $0?.cancel() }
                    continuation.resume()
                }
            }
            timer.withLock { timer in
                timer = Task {
                    let clock = ContinuousClock()
                    let started = clock.now
                    for timeout in Set(operations.map(\.timeout)).sorted() {
                        guard (try? await Task.sleep(until: started.advanced(by: timeout), clock: clock)) != nil else { return }
                        for index in operations.indices where operations[index].timeout == timeout {
                            await hand(index, .failure(.failed("did not finish within \(timeout)")))
                        }
                    }
                }
            }
            for (index, operation) in operations.enumerated() {
                Task {
                    do throws(CollectorError) {
                        await hand(index, .success(try await operation.run()))
                    } catch {
                        await hand(index, .failure(error))
                    }
                }
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
