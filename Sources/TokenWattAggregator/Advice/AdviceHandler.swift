import Foundation
import Hummingbird
import TokenWattAPI
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
            return APIResponse.answer(advice.response(currency: advisor.pricing.currency, carbon: advisor.pricing.carbon != nil))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }
}

extension Advice {
    /// The advice as `/api/v1/advice` answers it.
    func response(currency: String, carbon: Bool) -> AdviceResponse {
        AdviceResponse(
            computedAt: Double(computedAtMs) / 1000, windowSeconds: Double(windowMs) / 1000, stepSeconds: Double(stepMs) / 1000, currency: currency,
            recommendations: recommendations.map { advice in
                AdviceResponse.Recommendation(
                    model: advice.model, action: advice.action.rawValue, reasons: advice.reasons, cloudModel: advice.cloudModel,
                    overflowAboveTokensPerSecond: advice.overflowAbove,
                    powerOff: advice.powerOff.map { AdviceResponse.PowerOff(node: $0.node, savingsPerMonth: $0.savingsPerMonth) },
                    nodes: advice.placements.map { placement in
                        var row = AdviceResponse.Placement(node: placement.node, tokensPerSecond: placement.tokensPerSecond,
                                                           meanTokensPerSecond: placement.meanTokensPerSecond, peakTokensPerSecond: placement.peakTokensPerSecond,
                                                           saturated: placement.saturated, marginalBasis: placement.fitted ? "power_curve" : "average")
                        row.capacityTokensPerSecond = placement.capacity
                        row.headroomTokensPerSecond = placement.headroom
                        row.queue = placement.queue
                        row.kvCacheUsage = placement.kvCacheUsage
                        row.utilization = placement.utilisation
                        row.watts = placement.watts
                        row.idleWatts = placement.idleWatts
                        row.joulesPerToken = placement.joulesPerToken
                        row.joulesPerInputToken = placement.phaseEnergy?.joulesPerInputToken
                        row.joulesPerOutputToken = placement.phaseEnergy?.joulesPerOutputToken
                        row.phaseBasis = placement.phaseEnergy?.basis.rawValue
                        row.powerFitRSquared = placement.phaseEnergy?.rSquared
                        row.averageJoulesPerOutputToken = placement.averageJoulesPerOutputToken
                        row.marginalCostPerMillionTokens = placement.marginalCost
                        row.averageCostPerMillionTokens = placement.averageCost
                        row.cloudPricePerMillionTokens = placement.cloudPrice
                        if carbon { row.emissions = .init(marginal: placement.marginalGCO2e, average: placement.averageGCO2e) }
                        return row
                    })
            },
            idleNodes: idleNodes.map { AdviceResponse.PowerOff(node: $0.node, savingsPerMonth: $0.savingsPerMonth) })
    }
}
