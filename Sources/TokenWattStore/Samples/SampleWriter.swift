import Logging
import ServiceLifecycle
import Synchronization
import TokenWattCore

/// The single writer in front of the store: callers hand it batches and wait until they are
/// committed; it commits everything waiting in one transaction (group commit).
///
/// The queue is bounded by samples: when full, `write` fails at once with `.saturated`, so
/// memory stays bounded under overload and the HTTP layer answers "retry later". On graceful
/// shutdown it refuses new batches, commits the ones already queued, then returns.
public final class SampleWriter: Service, Sendable {
    private struct Waiting {
        let batch: PreparedBatch
        let samples: Int
        let continuation: CheckedContinuation<AppendResult, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var queuedSamples = 0
        var wakeUp: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let store: SampleStore
    private let state = Mutex(State())
    private let logger: Logger
    /// Called after each commit with its duration in seconds and the batches' results.
    private let onCommit: @Sendable (Double, [AppendResult]) -> Void

    public init(store: SampleStore, logger: Logger, onCommit: @escaping @Sendable (Double, [AppendResult]) -> Void = { _, _ in }) {
        self.store = store
        self.logger = logger
        self.onCommit = onCommit
    }

    /// Samples queued and not yet committed.
    public var queuedSamples: Int { state.withLock { $0.queuedSamples } }

    /// Whether a batch of `samples` would be accepted now.
    public func hasRoom(for samples: Int) -> Bool {
        state.withLock { $0.queuedSamples + samples <= store.configuration.maxPendingSamples }
    }

    /// Queues a batch and returns once it is committed. The batch is prepared (ids looked up,
    /// samples encoded) in the caller's task, in parallel with other pushes.
    public func write(_ batch: [TimeSeries]) async throws -> AppendResult {
        try await write(prepared: store.prepare(batch))
    }

    /// Prepares a batch whose series come by labels or by id for `write(prepared:)`, in the
    /// caller's task: ids looked up, samples encoded, in parallel with other pushes.
    public func prepare(_ batch: [IncomingSeries]) -> PreparedBatch {
        store.prepare(batch)
    }

    /// Queues a prepared batch and returns once it is committed.
    public func write(prepared: PreparedBatch) async throws -> AppendResult {
        let samples = prepared.sampleCount
        return try await withCheckedThrowingContinuation { continuation in
            let refusal: StoreError? = state.withLock { state in
                if state.closed { return .shuttingDown }
                // A batch larger than the whole queue is still taken when the queue is empty.
                if state.queuedSamples > 0 && state.queuedSamples + samples > store.configuration.maxPendingSamples {
                    return .saturated(pendingSamples: state.queuedSamples)
                }
                state.queue.append(Waiting(batch: prepared, samples: samples, continuation: continuation))
                state.queuedSamples += samples
                let wakeUp = state.wakeUp
                state.wakeUp = nil
                wakeUp?.resume()
                return nil
            }
            if let refusal { continuation.resume(throwing: refusal) }
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            // A group's samples go into the head while the next group commits: the commit
            // waits on the disk, the head takes CPU.
            var applying: Task<Void, Never>?
            var pending: CommittedGroup?
            while let group = await nextGroup() {
                let committed = await commit(group, pending: pending)
                await applying?.value
                pending = committed?.0
                if let committed {
                    applying = Task { self.apply(committed, to: group) }
                } else {
                    applying = nil
                }
            }
            await applying?.value
        } onGracefulShutdown: {
            self.state.withLock { state in
                state.closed = true
                state.wakeUp?.resume()
                state.wakeUp = nil
            }
        }
        logger.info("writer stopped; every queued batch committed")
    }

    /// Waits for work and takes up to `maxSamplesPerCommit` samples of it; nil once closed and empty.
    private func nextGroup() async -> [Waiting]? {
        while true {
            let taken: [Waiting]? = state.withLock { state in
                guard !state.queue.isEmpty else { return state.closed ? [] : nil }
                var count = 0
                var samples = 0
                for waiting in state.queue {
                    if count > 0 && samples + waiting.samples > store.configuration.maxSamplesPerCommit { break }
                    samples += waiting.samples
                    count += 1
                }
                let group = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                state.queuedSamples -= samples
                return group
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        if !state.queue.isEmpty || state.closed { return true }
                        state.wakeUp = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                // Cancelled (another service failed): stop taking work once the queue is drained.
                self.state.withLock { state in
                    state.closed = true
                    state.wakeUp?.resume()
                    state.wakeUp = nil
                }
            }
        }
    }

    /// Commits a group; on failure, fails its batches and returns nil.
    private func commit(_ group: [Waiting], pending: CommittedGroup?) async -> (CommittedGroup, ContinuousClock.Instant)? {
        let began = ContinuousClock.now
        do {
            return (try await store.commit(group.map(\.batch), pending: pending), began)
        } catch {
            logger.error("commit failed; the batches were not stored", metadata: ["error": "\(error)", "batches": "\(group.count)"])
            for waiting in group { waiting.continuation.resume(throwing: error) }
            return nil
        }
    }

    /// Puts a committed group's samples into the head and answers its batches.
    private func apply(_ committed: (group: CommittedGroup, began: ContinuousClock.Instant), to waiting: [Waiting]) {
        let results = store.apply(committed.group)
        onCommit(committed.began.duration(to: .now).seconds, results)
        for (waiting, result) in zip(waiting, results) { waiting.continuation.resume(returning: result) }
    }
}
