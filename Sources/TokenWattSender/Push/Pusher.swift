import Foundation
import Logging
import ServiceLifecycle
import TokenWattCore
import TokenWattService

/// Sends the spool to the aggregator with remote write 1.0 through a `BatchShipper`: a batch
/// leaves the spool only once the aggregator accepted it, or refused it alone (400, 413),
/// counted as `rejected`. Every other answer (401, 404, 5xx, ...) and every network error keeps
/// the batches and retries with backoff, so a wrong URL or a rotated token loses nothing until
/// the spool's own bounds. After an outage the backlog drains oldest first, a bounded number
/// of requests per second, each also carrying the newest batch.
public final class Pusher: Service, Sendable {
    public struct Settings: Sendable {
        /// The aggregator's write URL (`RemoteWriteCodec.writeURL` of what the operator gave).
        public var url: String
        public var token: String?
        /// Most bytes (serialised, before snappy) in one request.
        public var maxRequestBytes = 1 << 20
        /// Requests per second while a backlog drains.
        public var drainRequestsPerSecond = 10.0
        public var minBackoff: Duration = .milliseconds(500)
        public var maxBackoff: Duration = .seconds(60)
        public var requestTimeout: Duration = .seconds(30)
        /// Who pushes: its `User-Agent`.
        public var program: SenderProgram

        public init(url: String, token: String?, program: SenderProgram = .agent) {
            self.url = url
            self.token = token
            self.program = program
        }
    }

    /// What a push to `url` with `token` sends and how its answer reads (also `--once`'s check).
    package static func shipping(url: String, token: String?, program: SenderProgram = .agent) -> BatchShipper.Settings {
        let credential = token == nil
            ? "a push without a token (set aggregator.token_file or --token-file to the token the aggregator lists for this node)"
            : "the token in aggregator.token_file (--token-file); it must be the one the aggregator lists for this node"
        return BatchShipper.Settings(
            context: SendContext(url: url, purpose: "push to the aggregator", credential: credential,
                                 urlHint: "give the aggregator's base URL (http://host:9470) or its write URL (.../api/v1/write)"),
            headers: RemoteWriteCodec.requestHeaders(userAgent: program.rawValue, token: token))
    }

    public let shipper: BatchShipper
    private let queue: SpoolQueue

    public init(spool: Spool, settings: Settings, client: OutboundClient, logger: Logger) {
        queue = SpoolQueue(spool: spool, maxRequestBytes: settings.maxRequestBytes)
        var shipping = Pusher.shipping(url: settings.url, token: settings.token, program: settings.program)
        shipping.timeout = settings.requestTimeout
        shipping.minBackoff = settings.minBackoff
        shipping.maxBackoff = settings.maxBackoff
        shipping.spacing = .milliseconds(Int(1000 / settings.drainRequestsPerSecond))
        shipper = BatchShipper(queue: queue, client: client, settings: shipping, logger: logger)
    }

    public var status: BatchShipper.Status { shipper.status }

    /// Tells the pusher a batch is waiting.
    public func notify() {
        queue.wakeUp.continuation.yield()
    }

    public func run() async throws {
        await shipper.run()
    }
}

/// The spool as a shipper's queue: the newest batch and then the oldest in each request.
private struct SpoolQueue: BatchQueue {
    let spool: Spool
    let maxRequestBytes: Int
    let wakeUp = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    func nextBatches() async throws -> [RemoteWriteBatch] {
        try spool.nextBatches(maxBytes: maxRequestBytes)
    }

    func waitForMore() async {
        for await _ in wakeUp.stream { break }
    }

    func accepted(_ batches: [RemoteWriteBatch]) async throws {
        try spool.remove(batches)
    }

    func refused(_ batch: RemoteWriteBatch, reason: String) async throws {
        try spool.remove([batch], dropped: .rejected)
    }

    /// The round held in memory goes to the file while the push is retried.
    func failed(_ batches: [RemoteWriteBatch]) async throws {
        try spool.persistHeld()
    }
}
