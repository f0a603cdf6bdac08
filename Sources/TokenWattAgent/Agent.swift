// Architecture. The folders of TokenWattAgent, each depending only on folders listed below it
// and on TokenWattSender (the collector protocol and scheduler, usage intake, spool and pusher
// it shares with the gateway); this file, CollectorRegistry and OnceReport (`--once`) assemble
// them, and (until the gateway runs as its own service) TokenWattGateway's handler. LayoutTests
// holds the code to this order. The settings each folder is given come from
// TokenWattConfiguration, below them all.
//
//   Inference      inference servers: dialects, discovery and their collector
//   Collectors     the node's collectors (the GPUs' sharing too) and their fixes
//   NVML           the NVIDIA library, loaded at run time

import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TokenWattConfiguration
import TokenWattCore
import TokenWattGateway
import TokenWattSender
import TokenWattService

/// The agent, assembled: collectors on their schedules, each run's samples written to the
/// spool and pushed to the aggregator, and the HTTP server for its own `/metrics` (Prometheus
/// pull mode) and `/-/healthy`.
public struct Agent: Sendable {
    public let scheduler: CollectorScheduler
    public let spool: Spool
    public let pusher: Pusher
    public let application: Application<RouterResponder<BasicRequestContext>>
    /// What it serves, its gateway's routes included (`POST /v1/usage` and the like): the HTTP
    /// API page lists each.
    public let routes: [String]
    /// The HTTP clients to shut down: the agent's, and the gateway's (many connections per host).
    private let clients: [HTTPClient]
    private let round: RoundBuffer
    private let discovery: InferenceDiscovery?

    public init(configuration: AgentConfiguration, logger: Logger) throws {
        let spool = try Spool(path: configuration.spoolDirectory + "/spool.sqlite",
                              maxBytes: configuration.spoolMaxBytes, maxAgeMs: configuration.spoolMaxAgeMs)
        let counters = try CounterStore(path: configuration.spoolDirectory + "/counters.sqlite")
        let client = OutboundClient.makeHTTPClient()
        // Pushes and reservations check the aggregator against its own CA when one is given;
        // inference servers keep the system's roots.
        let aggregatorClient = try configuration.aggregatorTLS.map(OutboundClient.makeHTTPClient(tls:)) ?? client
        let pusher = Pusher(spool: spool, settings: .init(url: configuration.aggregatorURL, token: configuration.token),
                            client: OutboundClient(http: aggregatorClient), logger: logger)
        let usage = try UsageCollector(store: counters, attributes: configuration.usageAttributes, defaults: configuration.attribution,
                                       maxValuesPerAttribute: configuration.usageMaxValuesPerAttribute, maxSeries: configuration.usageMaxSeries)
        let gateway = try configuration.gateway.map { gateway in
            try Agent.gateway(gateway, configuration: configuration, client: aggregatorClient, usage: usage, logger: logger)
        }
        let collectors = CollectorRegistry.collectors(for: configuration, client: client, counters: counters)
            + [usage, AgentSelfCollector(spool: spool, pusher: pusher)] + [gateway?.metrics].compactMap { $0 }
        let round = RoundBuffer(spool: spool, pusher: pusher, logger: logger)
        let scheduler = CollectorScheduler(collectors: collectors, interval: .milliseconds(configuration.intervalMs), logger: logger,
                                           fix: CollectorRemedy.fix) { _, samples, timestamp in
            round.add(samples, at: timestamp)
        }
        let discovery = Agent.discovery(configuration: configuration, client: client, counters: counters, scheduler: scheduler, logger: logger)
        let router = Router()
        router.add(middleware: ReadAccessMiddleware(authenticator: ReadAuthenticator(configuration.web.readers)))
        router.post("/v1/usage", use: UsageHandler(collector: usage, token: configuration.usageToken, logger: logger).handle)
        router.get("/metrics") { request, _ -> Response in
            let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
            let body = ExpositionWriter(format: format).render(MetricCatalog.families(of: scheduler.snapshot()))
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        // Ready while pushes go through: a fault in the way (a wrong URL or token, an
        // unreachable aggregator) is named here, while the spool keeps the samples.
        router.get("/-/ready") { _, _ -> Response in
            guard let failing = pusher.status.failing else { return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK\n"))) }
            return Response(status: .serviceUnavailable,
                            body: .init(byteBuffer: ByteBuffer(string: "pushes failing (\(failing.reason.rawValue)): \(failing.message)\n")))
        }
        let listen = configuration.listen
        let heartbeat = SystemdHeartbeat {
            Agent.status(scheduler: scheduler, spool: spool, pusher: pusher)
        }
        let tls = try configuration.web.tls.map(TLSServerContext.init)
        let reload = TLSReloadService(contexts: [tls, gateway?.tls].compactMap { $0 }, logger: logger)
        application = Application(
            router: router,
            server: configuration.web.server(tls: tls),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-agent"),
            services: [scheduler, pusher, heartbeat, reload] + [discovery as (any Service)?, gateway?.application].compactMap { $0 },
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
        clients = [client] + [aggregatorClient === client ? nil : aggregatorClient, gateway?.client].compactMap { $0 }
        self.round = round
        self.discovery = discovery
        routes = (router.routes + (gateway?.routes ?? [])).map(\.description)
    }

    /// Looks for inference servers, collects a first round, then collects, pushes and serves
    /// until SIGTERM or SIGINT.
    public func run() async throws {
        await discovery?.probe()
        _ = await scheduler.collectOnce()
        do {
            try await application.runService()
        } catch {
            for client in clients { try? await client.shutdown() }
            throw error
        }
        for client in clients { try await client.shutdown() }
        round.flush()  // the last round's samples wait in the spool for the next start
        Systemd.stopping(status: "stopped; \(spool.depth.batches) batches left in the spool")
    }

    /// Releases what `run()` would have: for an agent built but never run (tests).
    public func shutdownClients() async throws {
        for client in clients { try await client.shutdown() }
    }

    /// Collects once, inference servers found by discovery included, without saving anything,
    /// and asks the aggregator whether it would take a push: what `tokenwatt-agent --once`
    /// prints, the exposition and what it found (`OnceReport`).
    public static func collectOnce(configuration: AgentConfiguration, logger: Logger) async -> (samples: [ExpositionSample], report: OnceReport) {
        let client = OutboundClient.makeHTTPClient()
        let scheduler = CollectorScheduler(collectors: CollectorRegistry.collectors(for: configuration, client: client, counters: nil),
                                           interval: .milliseconds(configuration.intervalMs), logger: logger, fix: CollectorRemedy.fix)
        await discovery(configuration: configuration, client: client, counters: nil, scheduler: scheduler, logger: logger)?.probe()
        let samples = await scheduler.collectOnce()
        let push = await OnceReport.pushCheck(url: configuration.aggregatorURL, token: configuration.token, client: OutboundClient(http: client))
        try? await client.shutdown()
        return (samples, OnceReport(samples: samples, failures: scheduler.failures(), collectors: scheduler.collectorNames, push: push))
    }

    /// The metering gateway on its own listener, its metrics, and its HTTP client to upstreams
    /// (a connection per request in flight; reservations go through the agent's `client`).
    private static func gateway(_ gateway: GatewayConfiguration, configuration: AgentConfiguration, client: HTTPClient, usage: UsageCollector,
                                logger: Logger) throws -> (application: any Service, metrics: GatewayMetrics, client: HTTPClient, tls: TLSServerContext?,
                                                           routes: [Router<BasicRequestContext>.RouteDescription]) {
        let metrics = GatewayMetrics(routes: gateway.routes.map(\.pattern))
        let reservations = gateway.routes.contains(where: \.capped)
            ? ReservationClient(writeURL: configuration.aggregatorURL, token: configuration.token, client: OutboundClient(http: client)) : nil
        let upstreams = OutboundClient.makeHTTPClient(connectionsPerHost: gateway.upstreamConnections)
        let handler = GatewayHandler(configuration: gateway, client: upstreams, usage: usage, reservations: reservations, metrics: metrics, logger: logger)
        let router = Router()
        for path in GatewayHandler.paths { router.post(RouterPath(stringLiteral: path), use: handler.handle) }
        router.get("/-/healthy") { _, _ in "OK\n" }
        let listen = gateway.listen
        let tls = try gateway.web.tls.map(TLSServerContext.init)
        let application = Application(
            router: router,
            server: gateway.web.server(credential: { fields in
                GatewayHandler.caller(fields, configuration: gateway).flatMap { gateway.callers.firstIndex(of: $0) }.map { "caller \($0)" }
            }, tls: tls, onChannelLoop: true),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-gateway"),
            onServerRunning: { channel in
                logger.info("gateway listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")",
                                                            "routes": "\(gateway.routes.count)", "callers": "\(gateway.callers.count)"])
            },
            logger: logger)
        return (application, metrics, upstreams, tls, router.routes)
    }

    private static func discovery(configuration: AgentConfiguration, client: HTTPClient, counters: CounterStore?,
                                  scheduler: CollectorScheduler, logger: Logger) -> InferenceDiscovery? {
        guard configuration.discovery else { return nil }
        return InferenceDiscovery(ports: configuration.discoveryPorts, every: .milliseconds(configuration.discoveryIntervalMs),
                                  configured: configuration.inferenceServers, nodeLabels: configuration.attribution,
                                  procfs: SystemFiles(root: configuration.procfs), client: client, store: counters,
                                  scheduler: scheduler, logger: logger)
    }

    /// The one-line summary systemd shows: GPUs seen, last push age, spool depth, collectors down.
    static func status(scheduler: CollectorScheduler, spool: Spool, pusher: Pusher) -> String {
        let gpus = scheduler.snapshot().filter { $0.name == MetricDescriptor.gpuUp.seriesName && $0.value == 1 }.count
        let lastPush = pusher.status.lastSuccessMs.map { "last push \((TimeBounds.nowMilliseconds() - $0) / 1000) s ago" } ?? "no push yet"
        let depth = spool.depth
        let down = scheduler.failures().keys.sorted()
        return "\(gpus) GPUs, \(lastPush), spool \(depth.batches) batches (\(depth.samples) samples)"
            + (down.isEmpty ? "" : ", down: \(down.joined(separator: " "))")
            + (pusher.status.failing.map { ", pushes failing: \($0.reason.rawValue)" } ?? "")
    }
}
