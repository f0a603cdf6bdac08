import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import TokenWattCore

/// Sends the spool to the aggregator with remote write 1.0, and removes what it accepted.
///
/// 2xx: the batches leave the spool. 5xx, 429 and network errors: retried with exponential
/// backoff and jitter, waiting at least what `Retry-After` asks. Any other 4xx: the request can
/// never be accepted; a request of several batches is then split to find the one to blame, which
/// is dropped with an error log and counted. After an outage the backlog drains oldest first, a
/// bounded number of requests per second, each also carrying the newest batch.
public final class Pusher: Service, Sendable {
    public struct Settings: Sendable {
        public var url: String
        public var token: String?
        /// Most bytes (serialised, before snappy) in one request.
        public var maxRequestBytes = 1 << 20
        /// Requests per second while a backlog drains.
        public var drainRequestsPerSecond = 10.0
        public var minBackoff: Duration = .milliseconds(500)
        public var maxBackoff: Duration = .seconds(60)
        public var requestTimeout: Duration = .seconds(30)

        public init(url: String, token: String?) {
            self.url = url
            self.token = token
        }
    }

    /// What the agent's own metrics and systemd status report about pushing.
    public struct Status: Sendable {
        public var lastSuccessMs: Int64?
        public var requests: [String: Int] = [:]  // by result: success, retry, rejected
    }

    enum Outcome: Equatable {
        case accepted
        case rejected(String)
        case retry(String, after: Duration?)
    }

    private let spool: Spool
    private let settings: Settings
    private let client: HTTPClient
    private let logger: Logger
    private let status = Mutex(Status())
    private let wakeUp: AsyncStream<Void>
    private let wakeUpContinuation: AsyncStream<Void>.Continuation

    /// An HTTP client for pushes: a refused connection fails at once (this type backs off
    /// itself) instead of being retried inside the client until the request's deadline.
    public static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public init(spool: Spool, settings: Settings, client: HTTPClient, logger: Logger) {
        self.spool = spool
        self.settings = settings
        self.client = client
        self.logger = logger
        (wakeUp, wakeUpContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public var currentStatus: Status { status.withLock { $0 } }

    /// Tells the pusher a batch is waiting.
    public func notify() {
        wakeUpContinuation.yield()
    }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batches: [Spool.Batch]
            do {
                batches = try spool.nextBatches(maxBytes: settings.maxRequestBytes)
            } catch {
                logger.error("cannot read the spool", metadata: ["error": "\(error)"])
                try? await pause(settings.maxBackoff)
                continue
            }
            if batches.isEmpty {
                // Waits for the next batch (or the shutdown).
                await cancelWhenGracefulShutdown { [wakeUp] in
                    for await _ in wakeUp { break }
                }
                continue
            }
            // A push in flight at shutdown is abandoned: its batches stay in the spool and go
            // out after the restart (the aggregator stores a sample once).
            let outcome = await cancelWhenGracefulShutdown { await self.deliver(batches) }
            switch outcome {
            case .accepted, .rejected:
                if failures > 0 { logger.info("push recovered", metadata: ["failed_attempts": "\(failures)"]) }
                failures = 0
                if spool.depth.batches > 0 { try? await pause(.milliseconds(Int(1000 / settings.drainRequestsPerSecond))) }
            case .retry(let reason, let retryAfter):
                failures += 1
                let delay = Backoff.delay(failures: failures, minimum: settings.minBackoff, maximum: settings.maxBackoff, retryAfter: retryAfter)
                // Once per outage at warning level; each further attempt at debug level.
                logger.log(level: failures == 1 ? .warning : .debug, "push failed, will retry",
                           metadata: ["reason": "\(reason)", "retry_in": "\(delay)", "spooled_batches": "\(spool.depth.batches)"])
                try? await pause(delay)
            }
        }
    }

    /// Sends batches; on a rejection of several, sends each alone to drop only the bad one.
    func deliver(_ batches: [Spool.Batch]) async -> Outcome {
        let outcome = await send(batches)
        switch outcome {
        case .accepted:
            remove(batches, dropped: nil)
        case .rejected(let reason) where batches.count == 1:
            logger.error("aggregator rejected a batch; dropping it", metadata: ["reason": "\(reason)", "samples": "\(batches[0].samples)"])
            remove(batches, dropped: .rejected)
        case .rejected:
            for batch in batches {
                if case .retry(let reason, let after) = await deliver([batch]) { return .retry(reason, after: after) }
            }
        case .retry:
            break
        }
        return outcome
    }

    private func remove(_ batches: [Spool.Batch], dropped reason: Spool.DropReason?) {
        do {
            try spool.remove(batches, dropped: reason)
        } catch {
            // They stay and are sent again: the aggregator stores a sample once.
            logger.error("cannot remove pushed batches from the spool", metadata: ["error": "\(error)"])
        }
    }

    private func send(_ batches: [Spool.Batch]) async -> Outcome {
        var request = HTTPClientRequest(url: settings.url)
        request.method = .POST
        for (name, value) in RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-agent", token: settings.token) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: Snappy.compress(batches.flatMap(\.body))))
        let outcome: Outcome
        do {
            let response = try await client.execute(request, timeout: .init(settings.requestTimeout))
            let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
                .split(separator: "\n").first.map(String.init) ?? ""
            let code = Int(response.status.code)
            if (200..<300).contains(code) {
                outcome = .accepted
            } else if code == 429 || code >= 500 {
                outcome = .retry("HTTP \(code): \(text)", after: response.headers.first(name: "Retry-After").flatMap(Backoff.retryAfter))
            } else {
                outcome = .rejected("HTTP \(code): \(text)")
            }
        } catch {
            outcome = .retry("\(error)", after: nil)
        }
        status.withLock { status in
            switch outcome {
            case .accepted:
                status.lastSuccessMs = Int64(Date().timeIntervalSince1970 * 1000)
                status.requests["success", default: 0] += 1
            case .rejected: status.requests["rejected", default: 0] += 1
            case .retry: status.requests["retry", default: 0] += 1
            }
        }
        return outcome
    }

    private func pause(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }
}
