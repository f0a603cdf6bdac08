import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattCore

/// Where a `BatchShipper`'s batches come from and what becomes of them: the agent's spool, or
/// one forwarding target's place in the aggregator's forwarding log.
public protocol BatchQueue: Sendable {
    /// The batches of the next request, in the order to send; empty when nothing waits.
    func nextBatches() async throws -> [RemoteWriteBatch]
    /// Returns when there may be more (or after a while).
    func waitForMore() async
    /// The receiver accepted these: they leave the queue.
    func accepted(_ batches: [RemoteWriteBatch]) async throws
    /// The receiver refused this batch on its own (400, 413): it is dropped, counted.
    func refused(_ batch: RemoteWriteBatch, reason: String) async throws
    /// A request of these batches failed (they stay queued and are retried after a backoff).
    func failed(_ batches: [RemoteWriteBatch]) async throws
}

extension BatchQueue {
    public func failed(_ batches: [RemoteWriteBatch]) async throws {}
}

/// Ships a queue's batches with remote write (1.0, or 2.0 where a forwarding target asks for
/// it through `Settings.encode`), the one loop behind the agent's pusher and
/// each of the aggregator's forwarding targets. A batch leaves its queue only when the receiver
/// accepted it, or refused it alone (`SendOutcome`); a request of several refused batches is
/// split to find the ones to blame. Every other fault keeps the batches and retries with
/// exponential backoff and jitter, at least what `Retry-After` asks, logging once per change of
/// cause (with the fix) and counting each failure by reason.
public final class BatchShipper: Sendable {
    public struct Settings: Sendable {
        public var context: SendContext
        public var headers: [(String, String)]
        public var timeout: Duration = .seconds(30)
        public var minBackoff: Duration = .milliseconds(500)
        public var maxBackoff: Duration = .seconds(60)
        /// The least time between two requests (paces a backlog's drain); zero for none.
        public var spacing: Duration = .zero
        /// The request's message from the batches' serialised 1.0 `WriteRequest`, before snappy:
        /// as it is, or re-encoded for 2.0. A message that cannot be re-encoded (a damaged row)
        /// throws, and is refused as a receiver would refuse it.
        public var encode: @Sendable ([UInt8]) throws -> [UInt8] = { $0 }

        public init(context: SendContext, headers: [(String, String)]) {
            self.context = context
            self.headers = headers
        }
    }

    /// What the owner's metrics, readiness and status line report.
    public struct Status: Sendable {
        public var lastSuccessMs: Int64?
        /// Requests by result: `success`, `retry`, `rejected`.
        public var requests: [String: Int] = [:]
        /// Failed requests by `SendFailure.Reason`.
        public var errors: [SendFailure.Reason: Int] = [:]
        /// The fault now in the way; nil while requests succeed.
        public var failing: SendFailure?
    }

    private let queue: any BatchQueue
    private let client: OutboundClient
    public let settings: Settings
    private let logger: Logger
    private let state = Mutex(Status())

    public init(queue: any BatchQueue, client: OutboundClient, settings: Settings, logger: Logger) {
        self.queue = queue
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    public var status: Status { state.withLock { $0 } }

    /// Ships until cancelled or the graceful shutdown. A request in flight then is abandoned:
    /// its batches stay queued and go out later (receivers store a sample once).
    public func run() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batches: [RemoteWriteBatch]
            do {
                batches = try await queue.nextBatches()
            } catch {
                logger.error("cannot read the batches to send", metadata: ["url": "\(settings.context.url)", "error": "\(error)"])
                await PeriodicWork.pause(settings.maxBackoff)
                continue
            }
            if batches.isEmpty {
                await cancelWhenGracefulShutdown { await self.queue.waitForMore() }
                continue
            }
            let outcome = await cancelWhenGracefulShutdown { await self.ship(batches) }
            if case .failed(let failure) = outcome {
                failures += 1
                await PeriodicWork.pause(Backoff.delay(failures: failures, minimum: settings.minBackoff, maximum: settings.maxBackoff,
                                               retryAfter: failure.retryAfter))
            } else {
                failures = 0
                if settings.spacing > .zero { await PeriodicWork.pause(settings.spacing) }
            }
        }
    }

    /// Sends batches as one request; when they are refused and more than one, each alone, so
    /// that only a batch refused on its own is dropped. Returns the first request's outcome, or
    /// the failure that stopped the split (so the caller backs off).
    @discardableResult
    public func ship(_ batches: [RemoteWriteBatch]) async -> SendOutcome {
        let outcome = await send(batches)
        do {
            switch outcome {
            case .accepted:
                try await queue.accepted(batches)
            case .refused(let reason) where batches.count == 1:
                logger.error("receiver refused a batch; dropping it",
                             metadata: ["url": "\(settings.context.url)", "reason": "\(reason)", "samples": "\(batches[0].samples)"])
                try await queue.refused(batches[0], reason: reason)
            case .refused:
                for batch in batches {
                    // The rest waits for the next round, in order.
                    let alone = await ship([batch])
                    if case .failed = alone { return alone }
                }
            case .failed:
                try await queue.failed(batches)
            }
        } catch {
            // They stay queued and are sent again: the receiver stores a sample once.
            logger.error("cannot update the queue after a request", metadata: ["url": "\(settings.context.url)", "error": "\(error)"])
        }
        return outcome
    }

    private func send(_ batches: [RemoteWriteBatch]) async -> SendOutcome {
        let outcome: SendOutcome
        do {
            let body = Snappy.compress(try settings.encode(batches.flatMap(\.body)))
            outcome = await client.post(body, headers: settings.headers, timeout: settings.timeout, context: settings.context)
        } catch {
            outcome = .refused("cannot encode the request: \(error)")
        }
        let (changed, recovered) = state.withLock { status -> (changed: SendFailure?, recovered: Bool) in
            let wasFailing = status.failing != nil
            switch outcome {
            case .accepted, .refused:
                status.requests[outcome == .accepted ? "success" : "rejected", default: 0] += 1
                if outcome == .accepted { status.lastSuccessMs = TimeBounds.nowMilliseconds() }
                status.failing = nil
                return (nil, wasFailing)
            case .failed(let failure):
                status.requests["retry", default: 0] += 1
                status.errors[failure.reason, default: 0] += 1
                let changed = status.failing?.reason != failure.reason || status.failing?.status != failure.status
                status.failing = failure
                return (changed ? failure : nil, false)
            }
        }
        if let changed {
            // Once per change of cause; the same fault again is only counted.
            let transient: Set<SendFailure.Reason> = [.network, .timeout, .throttled, .serverError]
            logger.log(level: transient.contains(changed.reason) ? .warning : .error, "\(settings.context.purpose) failing: \(changed.message)",
                       metadata: ["reason": "\(changed.reason.rawValue)", "url": "\(settings.context.url)"])
        } else if recovered {
            logger.info("\(settings.context.purpose) recovered", metadata: ["url": "\(settings.context.url)"])
        }
        return outcome
    }
}
