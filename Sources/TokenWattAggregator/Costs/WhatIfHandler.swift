import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore

/// `GET /api/v1/whatif?from=&to=&set=KEY=VALUE&shift=MODEL=30%&by=model`: the ledger of the
/// hours that start in `[from, to)` (default: the last 24 hours, at most 92 days) re-run with
/// changed pricing keys and shifted tokens (`WhatIf`), beside today's, each as totals and
/// `CostReport` groups by `by` (default `model`).
struct WhatIfHandler: Sendable {
    /// Re-measures the period's hours from the samples.
    let hours: any HourMeasuring
    /// The pricing in force, which `set=` changes.
    let pricing: Pricing
    let now: @Sendable () -> Int64
    static let longestMs: Int64 = 92 * Milliseconds.day

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let (from, to) = try QueryParameters.window(parameters, now: now(), span: Milliseconds.day)
            guard to - from <= WhatIfHandler.longestMs else { throw QueryError("a what-if covers at most 92 days") }
            let whatIf = try WhatIf(base: pricing, settings: parameters.all("set"), shifts: parameters.all("shift"))
            let by = try QueryParameters.labelNames(parameters["by"], fallback: ["model"])
            let (today, changed, stayed) = try await whatIf.run(measuring: hours, base: pricing, from: from, to: to, now: now())
            func figures(_ ledger: WhatIf.Ledger, carbon: Bool) -> WhatIfFigures {
                WhatIfFigures(totals: CostReport(by: [], step: nil, carbon: carbon).rows(ledger).first?.figures,
                              groups: CostReport(by: by, step: nil, carbon: carbon).rows(ledger))
            }
            return APIResponse.answer(WhatIfResponse(
                from: Double(from) / 1000, to: Double(to) / 1000, by: by, currency: pricing.currency,
                set: whatIf.settings.map { "\($0.path)=\($0.value)" }, shift: whatIf.shifts.map(\.text),
                today: figures(today, carbon: pricing.carbon != nil), whatif: figures(changed, carbon: whatIf.pricing.carbon != nil),
                stayedOnCloudTokens: stayed))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }
}
