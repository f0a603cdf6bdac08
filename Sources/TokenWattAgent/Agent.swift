// Architecture. The folders of TokenWattAgent, each depending only on folders listed below it
// and on TokenWattSender (the collector protocol and scheduler, usage intake, spool and pusher
// it shares with the gateway); this file, CollectorRegistry and OnceReport (`--once`) assemble
// them. LayoutTests holds the code to this order. The settings each folder is given come from
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
import TokenWattSender
import TokenWattService

/// The agent, assembled: collectors on their schedules, each run's samples written to the
/// spool and pushed to the aggregator, and the HTTP server for its own `/metrics` (Prometheus
/// pull mode), `POST /v1/usage`, `POST /v1/metrics` (OTLP), `/-/healthy` and `/-/ready`.
public struct Agent: Sendable {
    public let scheduler: CollectorScheduler
    public let application: Application<RouterResponder<BasicRequestContext>>
    /// What it serves: the HTTP API page lists each.
    public let routes: [String]
    private let shipping: Shipping
    private let client: HTTPClient
    private let discovery: InferenceDiscovery?

    public var spool: Spool { shipping.spool }
    public var pusher: Pusher { shipping.pusher }

    public init(configuration: AgentConfiguration, logger: Logger) throws {
        // What can fail first, then the clients (`Shipping.init`).
        let tls = try configuration.web.tls.map(TLSServerContext.init)
        let shipping = try Shipping(configuration.sender, program: .agent, usageDefaults: configuration.attribution, logger: logger)
        // Inference servers' client, with the system's roots (pushes check the aggregator against its own CA).
        let client = OutboundClient.makeHTTPClient()
        let sender = configuration.sender
        let usage = shipping.usage
        let scheduler = shipping.scheduler(collectors: CollectorRegistry.collectors(for: configuration, client: client, counters: shipping.counters)
                                               + [usage], logger: logger, fix: CollectorRemedy.fix)
        let discovery = Agent.discovery(configuration: configuration, client: client, counters: shipping.counters, scheduler: scheduler, logger: logger)
        let router = Router()
        router.add(middleware: ReadAccessMiddleware(authenticator: ReadAuthenticator(configuration.web.readers)))
        router.post("/v1/usage", use: UsageHandler(collector: usage, token: configuration.usageToken, logger: logger).handle)
        let intake = try OTLPIntake(usage: usage, spool: shipping.spool, pusher: shipping.pusher, store: shipping.counters,
                                    sources: configuration.otlpAttributeSources)
        router.post(RouterPath(OTLPCodec.metricsPath), use: OTLPIntakeHandler(intake: intake, token: configuration.usageToken, logger: logger).handle)
        shipping.addRoutes(to: router, scheduler: scheduler)
        let listen = configuration.listen
        let heartbeat = SystemdHeartbeat { Agent.status(scheduler: scheduler, shipping: shipping) }
        let reload = TLSReloadService(contexts: [tls].compactMap { $0 }, logger: logger)
        application = Application(
            router: router,
            server: configuration.web.server(tls: tls),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-agent"),
            services: [scheduler, shipping.pusher, heartbeat, reload] + [discovery as (any Service)?].compactMap { $0 },
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")",
                                                    "aggregator": "\(sender.aggregatorURL)"])
                // The spool is open and the first round collected (in `run`).
                Systemd.ready(status: Agent.status(scheduler: scheduler, shipping: shipping))
            },
            logger: logger)
        self.scheduler = scheduler
        self.shipping = shipping
        self.client = client
        self.discovery = discovery
        routes = router.routes.map(\.description)
    }

/// Looks for inference servers, collects a first round, then collects, pushes and serves
    /// until SIGTERM or SIGINT.
    public func run() async throws {
        await discovery?.probe()
        try await shipping.run(application, scheduler: scheduler, clients: [client])
    }

    /// Releases what `run()` would have: for an agent built but never run (tests).
    public func shutdownClients() async throws {
        try await shipping.shutdown(clients: [client])
    }

    /// Collects once, inference servers found by discovery included, without saving anything,
    /// and asks the aggregator whether it would take a push: what `tokenwatt-agent --once`
    /// prints, the exposition and what it found (`OnceReport`).
    public static func collectOnce(configuration: AgentConfiguration, logger: Logger) async -> (samples: [ExpositionSample], report: OnceReport) {
        let client = OutboundClient.makeHTTPClient()
        let scheduler = CollectorScheduler(collectors: CollectorRegistry.collectors(for: configuration, client: client, counters: nil),
                                           interval: .milliseconds(configuration.sender.intervalMs), logger: logger, fix: CollectorRemedy.fix)
        await discovery(configuration: configuration, client: client, counters: nil, scheduler: scheduler, logger: logger)?.probe()
        let samples = await scheduler.collectOnce()
        let push = await OnceReport.pushCheck(url: configuration.sender.aggregatorURL, token: configuration.sender.token, client: OutboundClient(http: client))
        try? await client.shutdown()
        return (samples, OnceReport(samples: samples, failures: scheduler.failures(), collectors: scheduler.collectorNames, push: push))
    }

    private static func discovery(configuration: AgentConfiguration, client: HTTPClient, counters: CounterStore?,
                                  scheduler: CollectorScheduler, logger: Logger) -> InferenceDiscovery? {
        guard configuration.discovery else { return nil }
        return InferenceDiscovery(ports: configuration.discoveryPorts, every: .milliseconds(configuration.discoveryIntervalMs),
                                  configured: configuration.inferenceServers, nodeLabels: configuration.attribution,
                                  procfs: SystemFiles(root: configuration.procfs), client: client, store: counters,
                                  scheduler: scheduler, logger: logger)
    }

    /// The one-line summary systemd shows: GPUs seen, then the shipping's (last push age, spool
    /// depth, collectors down).
    static func status(scheduler: CollectorScheduler, shipping: Shipping) -> String {
        let gpus = scheduler.snapshot().filter { $0.name == MetricDescriptor.gpuUp.seriesName && $0.value == 1 }.count
        return "\(gpus) GPUs, " + shipping.status(scheduler: scheduler)
    }
}
