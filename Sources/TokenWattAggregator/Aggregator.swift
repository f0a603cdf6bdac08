// Architecture. The folders of TokenWattAggregator, each depending only on folders listed
// below it and on the top-level helpers (AggregatorError, NumberText, RunsInTurn, TimeText);
// this file assembles them all. LayoutTests holds the code to this order. The settings each
// folder is given come from TokenWattConfiguration, below them all.
//
//   Web            the built-in pages, from what Query, Budgets, Costs and Advice answer
//   Query          the Prometheus-style read API, tokens and fleet answers
//   Budgets        budgets, the events they fire, hard caps and their reservations
//   Advice         the burst advisor
//   Alerts         receivers and the delivery of alert events
//   Costs          the cost ledger, its reports and what-ifs
//   Forwarding     remote write on to other stores
//   Ingest         remote write in, node and gateway credentials, the ingest's own counters
//   Exposition     /metrics and the sources that contribute families to it
//   HTTP           query strings and API answers

import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattService
import TokenWattStore

/// The aggregator, assembled: its database, writer, maintenance and HTTP application.
public struct Aggregator: Sendable {
    public let stores: Stores
    private let logger: Logger
    public let costs: CostEngine
    public let budgets: BudgetEngine
    public let delivery: DeliveryWorker
    let advisor: Advisor
    private let client: HTTPClient
    /// Each node's series by their place in its pushes (the remote-write handler's).
    let pushedSeries: PushedSeriesCache
    public let application: Application<RouterResponder<DaemonRequestContext>>
    /// What it serves, `GET /api/v1/fleet` and the like: the HTTP API page lists each.
    public let routes: [String]

    /// Opens the database and builds the application; `run()` serves until SIGTERM/SIGINT.
    /// `now` (ms since the epoch) is injectable so tests control time.
    public init(configuration: AggregatorConfiguration, logger: Logger,
                now: @escaping @Sendable () -> Int64 = TimeBounds.nowMilliseconds) throws {
        let stores = try Stores(configuration: configuration.storage, logger: logger)
        let samples = stores.samples
        let connections = ClientConnections()
        let gateways = configuration.gateways.map(\.name) + [configuration.anonymousNode.map(SenderProgram.gateway.anonymousNode)].compactMap { $0 }
        let metrics = AggregatorMetrics(connections: connections, knownNodes: (configuration.nodes + configuration.gateways).map(\.name) + [configuration.anonymousNode].compactMap { $0 },
                                        gateways: Set(gateways), agentUpWindowMs: configuration.agentPushIntervalMs * Int64(configuration.agentMissedPushes))
        let writer = SampleWriter(store: samples, logger: logger) { seconds, _ in metrics.committed(seconds: seconds) }
        let maintenance = MaintenanceService(store: samples, ledger: stores.ledger, outbox: stores.outbox, logger: logger, now: now)
        let costs = CostEngine(samples: samples, ledger: stores.ledger, pricing: configuration.pricing, staticLabels: configuration.staticLabels,
                               intervalMs: configuration.costIntervalMs, logger: logger, now: now)
        let client = OutboundClient.makeHTTPClient()
        let delivery = DeliveryWorker(outbox: stores.outbox, receivers: configuration.receivers, settings: configuration.delivery, client: OutboundClient(http: client),
                                      logger: logger, now: now)
        let budgets = BudgetEngine(budgets: configuration.budgets, receivers: configuration.receivers, stateStore: stores.budgetStates, ledger: stores.ledger, samples: samples,
                                   pricing: configuration.pricing, liveHours: costs, delivery: delivery,
                                   intervalMs: configuration.budgetIntervalMs,
                                   externalURL: configuration.externalURL ?? "http://\(configuration.listen)", logger: logger, now: now)
        let forwarder = RemoteWriteForwarder(log: stores.forwardLog, targets: configuration.forwardTargets, client: OutboundClient(http: client),
                                             snapshotSources: [costs, budgets, delivery], snapshotIntervalMs: configuration.costIntervalMs, logger: logger, now: now)
        let pushedSeries = PushedSeriesCache()
        let advisor = Advisor(ledger: stores.ledger, samples: samples, pricing: configuration.pricing, nodeLabels: { costs.nodeLabels($0) },
                              settings: configuration.advice, intervalMs: configuration.costIntervalMs, logger: logger, now: now)
        let senders = SenderAuthenticator(credentials: configuration.nodes + configuration.gateways, anonymousNode: configuration.unauthenticatedNode)
        let desk = ReservationDesk(reservations: stores.reservations, budgets: budgets, ledger: stores.ledger, pricing: configuration.pricing, logger: logger, now: now)
        let router = Aggregator.router(configuration: configuration, parts: Parts(stores: stores, writer: writer, pushedSeries: pushedSeries, metrics: metrics,
                                                                          costs: costs, advisor: advisor, budgets: budgets, desk: desk, delivery: delivery,
                                                                          forwarder: forwarder, senders: senders),
                                       logger: logger, now: now)
        let listen = configuration.listen
        let heartbeat = SystemdHeartbeat {
            "\(samples.seriesCount) series, \(writer.queuedSamples) samples queued, \(stores.database.bytes / 1_048_576) MiB on disk"
        }
        // Services start in order and stop in reverse: the HTTP server (added last by
        // Hummingbird) stops first, then maintenance, then the writer drains its queue.
        let tls = try configuration.web.tls.map(TLSServerContext.init)
        application = Application(
            router: router,
            // A node's token names its connections; a push without one (the anonymous node, on
            // loopback) is no credential: its connections count by address.
            server: configuration.web.server(connections: connections, credential: { fields in
                fields[.authorization].flatMap { senders.sender(authorization: $0) }.map { "\($0.role?.rawValue ?? "node") \($0.name)" }
            }, tls: tls),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "tokenwatt-aggregator"),
            services: [writer, maintenance, costs, advisor, delivery, budgets, desk, forwarder, heartbeat, TLSReloadService(contexts: [tls].compactMap { $0 }, logger: logger)],
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")"])
                Systemd.ready(status: "listening on \(listen), \(samples.seriesCount) series")
            },
            logger: logger)
        self.stores = stores
        self.logger = logger
        self.costs = costs
        self.budgets = budgets
        self.delivery = delivery
        self.advisor = advisor
        self.client = client
        self.pushedSeries = pushedSeries
        routes = router.routes.map(\.description)
    }

    /// Serves until SIGTERM or SIGINT, then finishes the commits in flight, checkpoints the head
    /// and closes the database.
    public func run() async throws {
        do {
            try await application.runService()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        // Every service has stopped, the writer's queue committed: the head goes to disk packed,
        // and the next start reads it back instead of replaying the log.
        Systemd.stopping(status: "writing the head to disk")
        do {
            try await stores.samples.checkpointHead()
        } catch {
            // Nothing is lost: the log still holds the head's samples, and the next start replays it.
            logger.error("could not checkpoint the head on stopping; the next start replays its log", metadata: ["error": "\(error)"])
        }
        Systemd.stopping(status: "closing the database")
        try stores.close()
    }

    /// Releases what `run()` would have: for an aggregator built but never run (tests).
    public func shutdownClient() async throws {
        try await client.shutdown()
    }

    /// What the routes are served by: the stores and the services `init` built.
    struct Parts: Sendable {
        let stores: Stores
        let writer: SampleWriter
        let pushedSeries: PushedSeriesCache
        let metrics: AggregatorMetrics
        let costs: CostEngine
        let advisor: Advisor
        let budgets: BudgetEngine
        /// Hard caps: requests' reservations and gateways' slices.
        let desk: ReservationDesk
        let delivery: DeliveryWorker
        let forwarder: RemoteWriteForwarder
        /// Who pushes and reserves: the nodes' and gateways' tokens and certificates.
        let senders: SenderAuthenticator
    }

    static func router(configuration: AggregatorConfiguration, parts: Parts, logger: Logger,
                       now: @escaping @Sendable () -> Int64) -> Router<DaemonRequestContext> {
        let samples = parts.stores.samples, ledger = parts.stores.ledger, pricing = configuration.pricing
        let writer = parts.writer, budgets = parts.budgets
        let router = Router(context: DaemonRequestContext.self)
        // `POST /api/v1/series` is a read too (Prometheus takes long matchers in a form body).
        router.add(middleware: ReadAccessMiddleware(authenticator: ReadAuthenticator(configuration.web.readers), readPosts: ["/api/v1/series"]))
        let authenticator = parts.senders
        let seriesIngest = SeriesIngest(
            writer: writer, samples: samples, metrics: parts.metrics, configuration: configuration.ingest,
            staticLabels: configuration.staticLabels.sorted { $0.key < $1.key }.map { .init($0.key, $0.value) },
            now: now, stored: { budgets.dataArrived() })
        let ingest = RemoteWriteHandler(authenticator: authenticator, ingest: seriesIngest, pushedSeries: parts.pushedSeries, logger: logger)
        let otlp = OTLPHandler(authenticator: authenticator, ingest: seriesIngest, deltaTurns: RunsInTurn(), logger: logger)
        let desk = parts.desk
        let own = AggregatorMetrics.Source(metrics: parts.metrics, samples: samples, database: parts.stores.database, writer: writer, now: now)
        let exposition = MetricsHandler(samples: samples, sources: [own, parts.costs, parts.advisor, budgets, parts.delivery, parts.forwarder, desk],
                                        stalenessMs: configuration.stalenessMs, now: now)
        let series = SeriesHandler(samples: samples)
        let queryRange = QueryRangeHandler(samples: samples, now: now)
        let tokens = TokensHandler(samples: samples, now: now)
        router.post("/api/v1/write", use: ingest.handle)
        router.post(RouterPath(OTLPCodec.metricsPath), use: otlp.handle)
        router.get("/metrics", use: exposition.handle)
        router.get("/api/v1/series", use: series.handle)
        router.post("/api/v1/series", use: series.handle)
        router.get("/api/v1/query_range", use: queryRange.handle)
        router.get("/api/v1/tokens", use: tokens.handle)
        router.get("/api/v1/costs", use: CostsHandler(ledger: ledger, pricing: pricing, now: now).handle)
        router.get("/api/v1/advice", use: AdviceHandler(advisor: parts.advisor).handle)
        router.get("/api/v1/whatif", use: WhatIfHandler(hours: parts.costs, pricing: pricing, now: now).handle)
        let fleet = FleetHandler(samples: samples, metrics: parts.metrics, advisor: parts.advisor, costs: parts.costs, stalenessMs: configuration.stalenessMs, now: now)
        router.get("/api/v1/fleet", use: fleet.handle)
        let alerts = AlertsHandler(budgets: budgets, desk: desk, delivery: parts.delivery)
        router.get("/api/v1/budgets", use: alerts.budgets)
        router.get("/api/v1/alerts", use: alerts.alerts)
        router.get("/api/v1/sessions", use: alerts.sessions)
        WebOverview(fleet: fleet, ledger: ledger, pricing: pricing, ledgerVersion: { parts.costs.ledgerVersion }, advisor: parts.advisor,
                    alerts: alerts, now: now).register(on: router)
        let reservations = ReservationsHandler(desk: desk, authenticator: authenticator,
                                               currency: configuration.pricing.currency, now: now)
        router.post(RouterPath(stringLiteral: ReservationAPI.path), use: reservations.reserve)
        router.post(RouterPath(stringLiteral: ReservationAPI.path + "/:id/settle"), use: reservations.settle)
        router.post(RouterPath(stringLiteral: LeaseAPI.path), use: reservations.lease)
        router.get("/-/healthy") { _, _ in "OK\n" }
        // Ready while the writer has room: a saturated aggregator should get no new pushes.
        router.get("/-/ready") { _, _ -> Response in
            writer.hasRoom(for: 1)
                ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK\n")))
                : Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "write queue full\n")))
        }
        return router
    }
}
