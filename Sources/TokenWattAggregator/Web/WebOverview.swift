import Foundation
import Synchronization
import Hummingbird
import TokenWattConfiguration
import TokenWattCore
import TokenWattService
import TokenWattStore

/// The built-in web overview: `GET /` (fleet), `/costs`, `/budgets`, `/advice` and `/gateway`,
/// HTML drawn from the same figures the JSON API answers, behind the same reader credentials
/// (`ReadAccessMiddleware`). Each page is one file beside this one.
struct WebOverview: Sendable {
    let fleet: FleetHandler
    let ledger: any LedgerStore
    let pricing: Pricing
    /// Moves whenever the ledger is rewritten (`CostEngine.ledgerVersion`).
    private let ledgerVersion: @Sendable () -> Int
    let advisor: Advisor
    let alerts: AlertsHandler
    let now: @Sendable () -> Int64
    /// Pages figured from the ledger alone, kept until it is rewritten.
    private let cache = LedgerPageCache()

    init(fleet: FleetHandler, ledger: any LedgerStore, pricing: Pricing, ledgerVersion: @escaping @Sendable () -> Int, advisor: Advisor,
         alerts: AlertsHandler, now: @escaping @Sendable () -> Int64) {
        self.fleet = fleet
        self.ledger = ledger
        self.pricing = pricing
        self.ledgerVersion = ledgerVersion
        self.advisor = advisor
        self.alerts = alerts
        self.now = now
    }

    func register(on router: Router<DaemonRequestContext>) {
        router.get("/") { _, _ in try await self.respond(self.fleetPage()) }
        router.get("/costs") { request, _ in
            let days = min(92, max(1, QueryString(request.uri.query)["days"].flatMap(Int.init) ?? 7))
            return try await self.respond(self.fromLedger("costs \(days)") { try await self.costsPage(days: days) })
        }
        router.get("/budgets") { _, _ in try await self.respond(self.budgetsPage()) }
        router.get("/advice") { _, _ in try await self.respond(self.advicePage()) }
        router.get("/gateway") { _, _ in try await self.respond(self.gatewayPage()) }
    }

    private func respond(_ page: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    /// A page, or a part of one, that reads the ledger alone, as last figured while the ledger
    /// and the UTC day are the same.
    func fromLedger(_ name: String, _ page: () async throws -> String) async throws -> String {
        let key = "\(name) \(TimeBucket.current(at: now(), width: Milliseconds.day))"
        let version = ledgerVersion()
        if let kept = cache.page(key, version: version) { return kept }
        let fresh = try await page()
        cache.keep(fresh, key, version: version)
        return fresh
    }

    var currency: String { pricing.currency }

    /// A row's labels as text (`team=research, agent=triage`), `(none)` without any.
    static func labelText(_ labels: [String: String]?) -> String {
        let text = (labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return text.isEmpty ? "(none)" : text
    }
}

/// The overview's pages that a ledger version determines, by name and UTC day.
final class LedgerPageCache: Sendable {
    private let pages = Mutex<[String: (version: Int, page: String)]>([:])

    func page(_ key: String, version: Int) -> String? {
        pages.withLock { $0[key].flatMap { $0.version == version ? $0.page : nil } }
    }

    func keep(_ page: String, _ key: String, version: Int) {
        // A handful of names and windows: older days and versions are simply replaced.
        pages.withLock { pages in
            if pages.count > 64 { pages.removeAll() }
            pages[key] = (version, page)
        }
    }
}
