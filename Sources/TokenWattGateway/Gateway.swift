// Architecture. TokenWattGateway is `tokenwatt-gateway`: this file assembles the service; the
// handler (GatewayHandler) takes each request through the guards (GatewayGuards), the gateway's
// slices of the aggregator's hard caps (Leases/: LeaseBook admits locally, LeaseSyncer reports
// the slices in the background), the upstream and back (StreamRelay, JSONObjectMembers), and
// counts its usage (GatewayUsage) and its outcome (GatewayMetrics). It ships usage and metrics
// the way the agent does, through TokenWattSender's shipping.

import AsyncHTTPClient
import Hummingbird
import Logging
import ServiceLifecycle
import TokenWattConfiguration
import TokenWattCore
import TokenWattSender
import TokenWattService

/// The metering gateway, assembled: callers' requests routed to local servers and cloud APIs
/// under the hard caps, the usage of every answer and the gateway's own metrics collected on
/// a schedule, spooled and pushed to the aggregator with the gateway's credential, and
/// `/metrics`, `/-/healthy` and `/-/ready` beside the API's paths.
public struct Gateway: Sendable {
    public let application: Application<RouterResponder<BasicRequestContext>>
    /// What it serves: the HTTP API page lists each.
    public let routes: [String]
    private let shipping: Shipping
    private let scheduler: CollectorScheduler
    /// Upstreams, a connection per request in flight; pushes and lease reports go through the
    /// shipping's client to the aggregator.
    private let upstreams: HTTPClient

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        // What can fail first, then the clients (`Shipping.init`).
        let tls = try configuration.web.tls.map(TLSServerContext.init)
        let shipping = try Shipping(configuration.sender, program: .gateway, logger: logger)
        let sender = configuration.sender
        let usage = shipping.usage
        // Reports carry the caps' slices and the prices answers are costed at.
        let leases = configuration.routes.contains(where: { $0.capped || $0.costHeaders })
            ? LeaseSyncer(book: LeaseBook(settings: configuration.leases), writeURL: sender.aggregatorURL, token: sender.token,
                          client: OutboundClient(http: shipping.aggregatorClient), logger: logger) : nil
        let metrics = GatewayMetrics(routes: configuration.routes.map(\.pattern), leases: leases)
        let scheduler = shipping.scheduler(collectors: [usage, metrics], logger: logger)
        let upstreams = OutboundClient.makeHTTPClient(connectionsPerHost: configuration.upstreamConnections)
        let handler = GatewayHandler(configuration: configuration, client: upstreams, usage: usage, leases: leases, metrics: metrics, logger: logger)
        let router = Router()
        router.add(middleware: ReadAccessMiddleware(authenticator: ReadAuthenticator(configuration.web.readers)))
        for path in GatewayHandler.paths { router.post(RouterPath(stringLiteral: path), use: handler.handle) }
        shipping.addRoutes(to: router, scheduler: scheduler)
        let listen = configuration.listen
        let heartbeat = SystemdHeartbeat { shipping.status(scheduler: scheduler) }
        let reload = TLSReloadService(contexts: [tls].compactMap { $0 }, logger: logger)
        application = Application(
            router: router,
            server: configuration.web.server(credential: { fields in
                GatewayHandler.caller(fields, configuration: configuration).flatMap { configuration.callers.firstIndex(of: $0) }.map { "caller \($0)" }
            }, tls: tls, onChannelLoop: true),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-gateway"),
            services: [scheduler, shipping.pusher, heartbeat, reload] + [leases].compactMap { $0 },
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")", "aggregator": "\(sender.aggregatorURL)",
                                                    "routes": "\(configuration.routes.count)", "callers": "\(configuration.callers.count)"])
                Systemd.ready(status: shipping.status(scheduler: scheduler))
            },
            logger: logger)
        self.shipping = shipping
        self.scheduler = scheduler
        self.upstreams = upstreams
        routes = router.routes.map(\.description)
    }

    /// Collects a first round, then serves, collects and pushes until SIGTERM or SIGINT.
    public func run() async throws {
        try await shipping.run(application, scheduler: scheduler, clients: [upstreams])
    }

    /// Releases what `run()` would have: for a gateway built but never run (tests).
    public func shutdownClients() async throws {
        try await shipping.shutdown(clients: [upstreams])
    }
}
