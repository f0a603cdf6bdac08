import AsyncHTTPClient
import Hummingbird
import Logging
import TokenWattConfiguration
import TokenWattCore
import TokenWattService

/// What a sender runs to ship its samples, the same in the agent and the gateway: the spool and
/// the saved counters in its folder, the usage they count, the pusher to the aggregator, the
/// scheduler whose rounds go to the spool (its own state, `SenderSelfCollector`, among them),
/// the routes that show them (`/metrics`, `/-/healthy`, `/-/ready`), and the order of a clean
/// stop.
package struct Shipping: Sendable {
    package let spool: Spool
    package let counters: CounterStore
    /// Usage reports and answers, counted by model, provider and the configured attributes.
    package let usage: UsageCollector
    package let pusher: Pusher
    /// The client to the aggregator (pushes, reservations), checking it against
    /// `aggregator.tls_config` where one is given.
    package let aggregatorClient: HTTPClient
    private let round: RoundBuffer
    private let interval: Duration

    /// Opens the spool and the counters and makes the aggregator's client, last: a client
    /// dropped without a shutdown traps, so a daemon makes its own clients after this, and after
    /// everything else that can fail. `program`: who pushes (its `User-Agent`); `usageDefaults`:
    /// the labels usage gets where it has none.
    package init(_ configuration: SenderConfiguration, program: SenderProgram, usageDefaults: [String: String] = [:], logger: Logger) throws {
        spool = try Spool(path: configuration.spoolDirectory + "/spool.sqlite",
                          maxBytes: configuration.spoolMaxBytes, maxAgeMs: configuration.spoolMaxAgeMs)
        counters = try CounterStore(path: configuration.spoolDirectory + "/counters.sqlite")
        usage = try UsageCollector(store: counters, attributes: configuration.usageAttributes, defaults: usageDefaults,
                                   maxValuesPerAttribute: configuration.usageMaxValuesPerAttribute, maxSeries: configuration.usageMaxSeries)
        aggregatorClient = try configuration.aggregatorTLS.map(OutboundClient.makeHTTPClient(tls:)) ?? OutboundClient.makeHTTPClient()
        pusher = Pusher(spool: spool, settings: .init(url: configuration.aggregatorURL, token: configuration.token, program: program),
                        client: OutboundClient(http: aggregatorClient), logger: logger)
        round = RoundBuffer(spool: spool, pusher: pusher, logger: logger)
        interval = .milliseconds(configuration.intervalMs)
    }

    /// The scheduler over `collectors` and the sender's own state (`collector="shipping"`),
    /// each round written to the spool as one batch.
    package func scheduler(collectors: [any Collector], logger: Logger,
                           fix: @escaping @Sendable (_ collector: String, _ error: CollectorError) -> String? = { _, _ in nil }) -> CollectorScheduler {
        let round = round
        return CollectorScheduler(collectors: collectors + [SenderSelfCollector(spool: spool, pusher: pusher)],
                                  interval: interval, logger: logger, fix: fix) { _, samples, timestamp in
            round.add(samples, at: timestamp)
        }
    }

    /// `/metrics` (what the scheduler's last rounds hold), `/-/healthy`, and `/-/ready`, which
    /// names a fault in the pushes' way (a wrong URL or token, an unreachable aggregator) while
    /// the spool keeps the samples.
    package func addRoutes(to router: Router<BasicRequestContext>, scheduler: CollectorScheduler) {
        router.get("/metrics") { request, _ -> Response in
            let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
            let body = ExpositionWriter(format: format).render(MetricCatalog.families(of: scheduler.snapshot()))
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        let pusher = pusher
        router.get("/-/ready") { _, _ -> Response in
            guard let failing = pusher.status.failing else { return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK\n"))) }
            return Response(status: .serviceUnavailable,
                            body: .init(byteBuffer: ByteBuffer(string: "pushes failing (\(failing.reason.rawValue)): \(failing.message)\n")))
        }
    }

    /// The end of systemd's one-line status: last push age, spool depth, collectors down,
    /// pushes failing.
    package func status(scheduler: CollectorScheduler) -> String {
        let lastPush = pusher.status.lastSuccessMs.map { "last push \((TimeBounds.nowMilliseconds() - $0) / 1000) s ago" } ?? "no push yet"
        let depth = spool.depth
        let down = scheduler.failures().keys.sorted()
        return "\(lastPush), spool \(depth.batches) batches (\(depth.samples) samples)"
            + (down.isEmpty ? "" : ", down: \(down.joined(separator: " "))")
            + (pusher.status.failing.map { ", pushes failing: \($0.reason.rawValue)" } ?? "")
    }

    /// Collects a first round, then runs `application` (its services: the scheduler, the
    /// pusher, ...) until SIGTERM or SIGINT; then shuts `clients` and the aggregator's client
    /// down and writes the last round, and one held in memory, to the spool, where they wait
    /// for the next start.
    package func run(_ application: some ApplicationProtocol, scheduler: CollectorScheduler, clients: [HTTPClient]) async throws {
        _ = await scheduler.collectOnce()
        let clients = clients + [aggregatorClient]
        do {
            try await application.runService()
        } catch {
            for client in clients { try? await client.shutdown() }
            throw error
        }
        for client in clients { try await client.shutdown() }
        round.flush()
        try spool.persistHeld()
        Systemd.stopping(status: "stopped; \(spool.depth.batches) batches left in the spool")
    }

    /// Releases what `run` would have, for a daemon built but never run (tests).
    package func shutdown(clients: [HTTPClient]) async throws {
        for client in clients + [aggregatorClient] { try await client.shutdown() }
    }
}
