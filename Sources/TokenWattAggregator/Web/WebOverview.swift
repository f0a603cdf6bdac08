import Foundation
import Hummingbird
import TokenWattCore
import TokenWattService
import TokenWattStore

/// The built-in web overview: `GET /` (fleet), `/costs`, `/budgets`, `/advice` and `/gateway`,
/// HTML drawn from the same figures the JSON API answers, behind the same reader credentials
/// (`ReadAccessMiddleware`). Each page is one file beside this one.
struct WebOverview: Sendable {
    let fleet: FleetHandler
    let costs: CostEngine
    let advisor: Advisor
    let alerts: AlertsHandler
    let now: @Sendable () -> Int64

    func register(on router: Router<DaemonRequestContext>) {
        router.get("/") { _, _ in try await self.respond(self.fleetPage()) }
        router.get("/costs") { request, _ in try await self.respond(self.costsPage(QueryString(request.uri.query))) }
        router.get("/budgets") { _, _ in try await self.respond(self.budgetsPage()) }
        router.get("/advice") { _, _ in try await self.respond(self.advicePage()) }
        router.get("/gateway") { _, _ in try await self.respond(self.gatewayPage()) }
    }

    private func respond(_ page: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    var currency: String { costs.pricing.currency }
    static let dayMs: Int64 = 24 * CostEngine.hourMs

    /// A moment as the pages show it: UTC, to the minute.
    static func time(_ milliseconds: Int64) -> String {
        UTCTime(milliseconds: milliseconds).minuteText + " UTC"
    }

    /// A row's labels as text (`team=research, agent=triage`), `(none)` without any.
    static func labelText(_ labels: [String: String]?) -> String {
        let text = (labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return text.isEmpty ? "(none)" : text
    }
}
