import Hummingbird
import Logging
import TokenWattCore
import TokenWattService

/// The agent, assembled: its collectors on their schedules and the HTTP server for its own
/// `/metrics` (Prometheus pull mode) and `/-/healthy`.
public struct Agent: Sendable {
    public let scheduler: CollectorScheduler
    public let application: Application<RouterResponder<BasicRequestContext>>

    public init(configuration: AgentConfiguration, logger: Logger) {
        let scheduler = CollectorScheduler(collectors: CollectorRegistry.collectors(for: configuration),
                                           interval: .milliseconds(configuration.intervalMs), logger: logger)
        let router = Router()
        router.get("/metrics") { request, _ -> Response in
            let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
            let body = ExpositionWriter(format: format).render(MetricCatalog.families(of: scheduler.snapshot()))
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        let listen = configuration.listen
        application = Application(
            router: router,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-agent"),
            services: [scheduler],
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")"])
                Systemd.ready(status: "collecting with \(scheduler.collectors.count) collectors")
            },
            logger: logger)
        self.scheduler = scheduler
    }

    /// Collects until SIGTERM or SIGINT.
    public func run() async throws {
        try await application.runService()
        Systemd.stopping(status: "stopped")
    }
}
