import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import TokenWattCore
import TokenWattService

/// The agent, assembled: collectors on their schedules, each run's samples written to the
/// spool and pushed to the aggregator, and the HTTP server for its own `/metrics` (Prometheus
/// pull mode) and `/-/healthy`.
public struct Agent: Sendable {
    public let scheduler: CollectorScheduler
    public let spool: Spool
    public let pusher: Pusher
    public let application: Application<RouterResponder<BasicRequestContext>>
    private let client: HTTPClient
    private let round: RoundBuffer

    public init(configuration: AgentConfiguration, logger: Logger) throws {
        let spool = try Spool(path: configuration.spoolDirectory + "/spool.sqlite",
                              maxBytes: configuration.spoolMaxBytes, maxAgeMs: configuration.spoolMaxAgeMs)
        let client = Pusher.makeClient()
        let pusher = Pusher(spool: spool, settings: .init(url: configuration.aggregatorURL, token: configuration.token), client: client, logger: logger)
        let collectors = CollectorRegistry.collectors(for: configuration) + [AgentSelfCollector(spool: spool, pusher: pusher)]
        let round = RoundBuffer(spool: spool, pusher: pusher, logger: logger)
        let scheduler = CollectorScheduler(collectors: collectors, interval: .milliseconds(configuration.intervalMs), logger: logger) { _, samples, timestamp in
            round.add(samples, at: timestamp)
        }
        let router = Router()
        router.get("/metrics") { request, _ -> Response in
            let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
            let body = ExpositionWriter(format: format).render(MetricCatalog.families(of: scheduler.snapshot()))
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        let listen = configuration.listen
        let heartbeat = SystemdHeartbeat {
            Agent.status(scheduler: scheduler, spool: spool, pusher: pusher)
        }
        application = Application(
            router: router,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-agent"),
            services: [scheduler, pusher, heartbeat],
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")",
                                                    "aggregator": "\(configuration.aggregatorURL)"])
                // The spool is open and the first round collected (in `run`).
                Systemd.ready(status: Agent.status(scheduler: scheduler, spool: spool, pusher: pusher))
            },
            logger: logger)
        self.scheduler = scheduler
        self.spool = spool
        self.pusher = pusher
        self.client = client
        self.round = round
    }

    /// Collects a first round, then collects, pushes and serves until SIGTERM or SIGINT.
    public func run() async throws {
        _ = await scheduler.collectOnce()
        do {
            try await application.runService()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        round.flush()  // the last round's samples wait in the spool for the next start
        Systemd.stopping(status: "stopped; \(spool.depth.batches) batches left in the spool")
    }

    /// The one-line summary systemd shows: GPUs seen, last push age, spool depth, collectors down.
    static func status(scheduler: CollectorScheduler, spool: Spool, pusher: Pusher) -> String {
        let gpus = scheduler.snapshot().filter { $0.name == "tokenwatt_gpu_up" && $0.value == 1 }.count
        let lastPush = pusher.currentStatus.lastSuccessMs.map { "last push \((Int64(Date().timeIntervalSince1970 * 1000) - $0) / 1000) s ago" } ?? "no push yet"
        let depth = spool.depth
        let down = scheduler.failures().keys.sorted()
        return "\(gpus) GPUs, \(lastPush), spool \(depth.batches) batches (\(depth.samples) samples)"
            + (down.isEmpty ? "" : ", down: \(down.joined(separator: " "))")
    }
}
