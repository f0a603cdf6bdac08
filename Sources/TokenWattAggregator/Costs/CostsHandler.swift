import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// `GET /api/v1/costs?from=&to=&by=node|model|team|provider|...&step=hour|day|week|month&timezone=`:
/// the ledger hours that start in `[from, to)` (default: the last 24 hours), grouped by the
/// labels in `by` (default `node`) and, with `step`, by hour or by calendar day, week or month
/// in `timezone` (default UTC; the same periods as budgets), one row per bucket and group with
/// its `start` and `end`. The figures are `CostReport`'s.
struct CostsHandler: Sendable {
    let ledger: any LedgerStore
    let pricing: Pricing
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let (from, to) = try QueryParameters.window(parameters, now: now(), span: Milliseconds.day)
            let report = CostReport(by: try QueryParameters.labelNames(parameters["by"], fallback: ["node"]),
                                    step: try CostsHandler.step(parameters["step"], timezone: parameters["timezone"]),
                                    carbon: pricing.carbon != nil, pricing: pricing)
            let rows = report.rows(try await ledger.hours(from: from, to: to))
            return APIResponse.answer(CostsResponse(from: Double(from) / 1000, to: Double(to) / 1000, by: report.by,
                                                    currency: pricing.currency, groups: rows))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }

    static func step(_ text: String?, timezone zone: String?) throws(QueryError) -> CostReport.Step? {
        let timezone = try zone.map { name throws(QueryError) in
            guard let timezone = TimeZone(identifier: name) else { throw QueryError("invalid parameter timezone: \"\(name)\" is not an IANA time zone such as Europe/Berlin") }
            return timezone
        } ?? TimeZone(identifier: "UTC")!
        guard let text, !text.isEmpty else { return nil }
        if text == "hour" { return .hour }
        guard let unit = CalendarPeriod.Unit(rawValue: text) else {
            throw QueryError("invalid parameter step: \"\(text)\"; expected hour, day, week or month")
        }
        return .calendar(CalendarPeriod(unit, timezone: timezone))
    }
}
