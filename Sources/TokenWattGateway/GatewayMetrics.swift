import Synchronization
import TokenWattCore
import TokenWattSender

/// The gateway's own series, pushed with its usage and on its `/metrics`: requests by
/// route and outcome, the time spent upstream and in the gateway itself, and the events that
/// bend the rules (fallbacks, admissions while the aggregator could not be asked, streams read
/// on after their client left, usage estimated for want of a reported one).
package final class GatewayMetrics: Collector {
    /// What became of a request: the `outcome` label.
    enum Outcome: String, CaseIterable, Sendable {
        case forwarded
        /// The upstream answered with an error status, passed on as it was.
        case upstreamError = "upstream_error"
        /// The upstream could not be reached or timed out (502/504 from the gateway).
        case upstreamUnreachable = "upstream_unreachable"
        case budgetExceeded = "budget_exceeded"
        /// A hard cap's runaway rule holds the caller's scope.
        case runaway
        case rateLimited = "rate_limited"
        case unpriced
        /// Refused: the aggregator could not be asked and the route says deny.
        case aggregatorUnreachable = "aggregator_unreachable"
        case unauthorized, invalid
        case noRoute = "no_route"
    }

    /// Events counted by route, each its own counter.
    enum Event: CaseIterable, Sendable {
        case fallbacks, offlineAdmissions, leaseWaits, unreachableAdmissions, abandonedStreams, cutStreams, estimatedUsage, sessionOverflows

        var metric: MetricDescriptor {
            switch self {
            case .fallbacks: .gatewayFallbacks
            case .offlineAdmissions: .gatewayOfflineAdmissions
            case .leaseWaits: .gatewayLeaseWaits
            case .unreachableAdmissions: .gatewayUnreachableAdmissions
            case .abandonedStreams: .gatewayAbandonedStreams
            case .cutStreams: .gatewayCutStreams
            case .sessionOverflows: .gatewaySessionOverflows
            case .estimatedUsage: .gatewayEstimatedUsage
            }
        }
    }

    package let name = "gateway"
    private struct State {
        var requests: [Key: Int] = [:]
        var events: [EventKey: Int] = [:]
        var upstream: [String: Histogram] = [:]
        var overhead: [String: Histogram] = [:]
    }

    private struct Key: Hashable {
        var route: String
        var outcome: Outcome
    }

    private struct EventKey: Hashable {
        var route: String
        var event: Event
    }

    private let routes: [String]
    private let state = Mutex(State())
    /// The slices' reports and state, when a route is capped.
    private let leases: LeaseSyncer?

    init(routes: [String], leases: LeaseSyncer?) {
        self.routes = routes
        self.leases = leases
    }

    func count(_ outcome: Outcome, route: String) {
        state.withLock { $0.requests[Key(route: route, outcome: outcome), default: 0] += 1 }
    }

    func count(_ event: Event, route: String) {
        state.withLock { $0.events[EventKey(route: route, event: event), default: 0] += 1 }
    }

    /// A forwarded request's seconds: waiting on the upstream, and the rest (the gateway's own).
    func timed(route: String, upstreamSeconds: Double, totalSeconds: Double) {
        state.withLock { state in
            state.upstream[route, default: Histogram()].observe(upstreamSeconds)
            state.overhead[route, default: Histogram()].observe(max(0, totalSeconds - upstreamSeconds))
        }
    }

    package func collect() async throws(CollectorError) -> [ExpositionSample] {
        let state = state.withLock { $0 }
        var samples: [ExpositionSample] = []
        // Requests refused before a route was chosen count under route="".
        for route in routes + [""] {
            for outcome in Outcome.allCases {
                samples.append(MetricDescriptor.gatewayRequests.sample([Label("outcome", outcome.rawValue), Label("route", route)], Double(state.requests[Key(route: route, outcome: outcome)] ?? 0)))
            }
            guard !route.isEmpty else { continue }
            for event in Event.allCases {
                samples.append(event.metric.sample([Label("route", route)], Double(state.events[EventKey(route: route, event: event)] ?? 0)))
            }
            samples += (state.upstream[route] ?? Histogram()).samples(MetricDescriptor.gatewayUpstreamDurationSeconds.seriesName, labels: [Label("route", route)])
            samples += (state.overhead[route] ?? Histogram()).samples(MetricDescriptor.gatewayOverheadDurationSeconds.seriesName, labels: [Label("route", route)])
        }
        if let leases {
            let counts = leases.counts
            for outcome in ["ok", "failed"] {
                samples.append(MetricDescriptor.gatewayLeaseReports.sample([Label("outcome", outcome)], Double(counts[outcome] ?? 0)))
            }
            let figures = leases.book.figures
            samples.append(MetricDescriptor.gatewayLeaseSlices.sample(Double(figures.slices)))
            samples.append(MetricDescriptor.gatewayAggregatorDown.sample(figures.offline ? 1 : 0))
        }
        return samples
    }
}
