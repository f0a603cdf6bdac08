import Foundation
import Hummingbird
import TokenWattCore

/// `GET /api/v1/advice[?window=1h&step=1m]`: the burst advisor's recommendations per model,
/// with their reasons and figures, and the nodes that served nothing. Without parameters the
/// advice of the advisor's last round (at most a cost interval old); with them, measured now.
struct AdviceHandler: Sendable {
    let advisor: Advisor

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let advice: Advice
            if parameters["window"] == nil && parameters["step"] == nil {
                advice = try await advisor.current()
            } else {
                let window = try QueryParameters.duration(parameters["window"], name: "window", default: advisor.settings.windowMs)
                let step = try QueryParameters.duration(parameters["step"], name: "step", default: advisor.settings.stepMs)
                guard step >= 1_000, window >= 3 * step, window / step <= 10_080 else {
                    throw QueryError("window must hold 3 to 10,080 steps of at least 1s")
                }
                advice = try await advisor.advise(windowMs: window, stepMs: step)
            }
            return APIResponse.success(advice.json(currency: advisor.costs.pricing.currency, carbon: advisor.costs.pricing.carbon != nil))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }
}

extension Advice {
    func json(currency: String, carbon: Bool) -> [String: Any] {
        return [
            "computed_at": Double(computedAtMs) / 1000, "window_seconds": Double(windowMs) / 1000, "step_seconds": Double(stepMs) / 1000,
            "currency": currency,
            "recommendations": recommendations.map { advice -> [String: Any] in
                [
                    "model": advice.model, "action": advice.action.rawValue, "reasons": advice.reasons,
                    "cloud_model": advice.cloudModel.map { $0 as Any } ?? NSNull(),
                    "overflow_above_tokens_per_second": APIResponse.orNull(advice.overflowAbove),
                    "power_off": advice.powerOff.map { ["node": $0.node, "savings_per_month": $0.savingsPerMonth] },
                    "nodes": advice.placements.map { placement -> [String: Any] in
                        var row: [String: Any] = [
                            "node": placement.node, "tokens_per_second": placement.tokensPerSecond,
                            "mean_tokens_per_second": placement.meanTokensPerSecond, "peak_tokens_per_second": placement.peakTokensPerSecond,
                            "capacity_tokens_per_second": APIResponse.orNull(placement.capacity), "headroom_tokens_per_second": APIResponse.orNull(placement.headroom),
                            "saturated": placement.saturated, "queue": APIResponse.orNull(placement.queue), "kv_cache_usage": APIResponse.orNull(placement.kvCacheUsage),
                            "utilization": APIResponse.orNull(placement.utilisation), "watts": APIResponse.orNull(placement.watts), "idle_watts": APIResponse.orNull(placement.idleWatts),
                            "joules_per_token": APIResponse.orNull(placement.joulesPerToken), "marginal_basis": placement.fitted ? "power_curve" : "average",
                            "marginal_cost_per_million_tokens": APIResponse.orNull(placement.marginalCost),
                            "average_cost_per_million_tokens": APIResponse.orNull(placement.averageCost),
                            "cloud_price_per_million_tokens": APIResponse.orNull(placement.cloudPrice),
                        ]
                        if carbon {
                            row["marginal_gco2e_per_million_tokens"] = APIResponse.orNull(placement.marginalGCO2e)
                            row["average_gco2e_per_million_tokens"] = APIResponse.orNull(placement.averageGCO2e)
                        }
                        return row
                    },
                ]
            },
            "idle_nodes": idleNodes.map { ["node": $0.node, "savings_per_month": $0.savingsPerMonth] },
        ]
    }
}
