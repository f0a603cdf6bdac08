import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattService

/// `POST /api/v1/reservations` and `POST /api/v1/reservations/{id}/settle`: the metering
/// gateway's hard caps (`ReservationDesk`), with a gateway's credential (a node's is refused, 403).
///
/// Reserve: `{"labels": {...}, "input_tokens": N, "max_output_tokens": N, "ttl_seconds": N}` →
/// 201 with the reservation's `id`, `expires_at` and `holds`; 429 `budget_exceeded` with
/// `Retry-After` to the cap's reset, or `runaway` while a cap's runaway rule holds its scope; 422 `unpriced` when a money cap matches a model no price
/// bounds. Settle: `{"labels": {...}, "input_tokens": N, "cached_input_tokens": N,
/// "output_tokens": N}` (the same labels) → 200, or 404 when no pending reservation has the id.
/// Leases: `POST /api/v1/leases` with a gateway's `LeaseReport` → 200 with a `LeaseAnswer`.
struct ReservationsHandler: Sendable {
    static let maxBodyBytes = 64 << 10
    /// A report of a thousand slices.
    static let maxLeaseBodyBytes = 512 << 10
    static let maxTokens = 1e12

    let desk: ReservationDesk
    let authenticator: SenderAuthenticator
    let currency: String
    let now: @Sendable () -> Int64

    func reserve(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        guard let sender = await authenticator.sender(request, context: context) else { return ReservationsHandler.unauthorized }
        guard sender.reserves else { return ReservationsHandler.forbidden }
        let node = sender.name
        do {
            let body = try await ReservationsHandler.decode(ReservationRequest.self, from: request)
            let ttl = try ReservationsHandler.number(body.ttlSeconds, "ttl_seconds", default: Double(ReservationDesk.defaultTTLMs) / 1000,
                                                     max: Double(ReservationAPI.maxTTLMs) / 1000)
            guard ttl > 0 else { throw QueryError("ttl_seconds: more than 0") }
            let answer = try await desk.reserve(.init(labels: try ReservationsHandler.labels(body.labels, node: node),
                                                      inputTokens: try ReservationsHandler.number(body.inputTokens, "input_tokens"),
                                                      maxOutputTokens: try ReservationsHandler.number(body.maxOutputTokens, "max_output_tokens"), ttlMs: Int64(ttl * 1000)))
            switch answer {
            case .granted(let id, let holds, let expires):
                return APIResponse.answer(ReservationGrant(id: id, expiresAt: TimeText.exact(expires),
                                                           holds: holds.map { ReservationGrant.Hold(budget: $0.budget, amount: $0.amount) }), status: .created)
            case .denied(let budget, let used, let limit, let resets):
                let unit = BudgetEvaluator.unit(of: budget, currency: currency)
                let message = CapRefusal.exceeded(budget: budget.name, used: used, limit: limit, unit: unit, resetsAt: ReservationsHandler.time(resets, budget))
                let retryAfter = max(1, (resets - now() + 999) / 1000)
                return APIResponse.refusal(ReservationRefusal(errorType: "budget_exceeded", error: message, budget: budget.name, used: used, limit: limit, unit: unit,
                                                              resetsAt: ReservationsHandler.time(resets, budget)),
                                           status: .tooManyRequests, headers: [.retryAfter: String(retryAfter)])
            case .runaway(let budget, let rate, let baseline, let until):
                let refusal = ReservationsHandler.runaway(budget, rate: rate, baseline: baseline, untilMs: until, now: now())
                return APIResponse.refusal(ReservationRefusal(errorType: "runaway", error: refusal.message, budget: budget.name),
                                           status: .tooManyRequests, headers: [.retryAfter: String(refusal.retryAfterSeconds)])
            case .unpriced(let budget, let model):
                let message = "budget \(budget.name) caps money, and no price bounds the cost of model \(model): add a cloud_prices entry, or let the ledger measure the local model first"
                return APIResponse.refusal(ReservationRefusal(errorType: "unpriced", error: message, budget: budget.name), status: .unprocessableContent)
            }
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        }
    }

    func settle(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        guard let sender = await authenticator.sender(request, context: context) else { return ReservationsHandler.unauthorized }
        guard sender.reserves else { return ReservationsHandler.forbidden }
        let node = sender.name
        do {
            let body = try await ReservationsHandler.decode(SettleRequest.self, from: request)
            guard let id = context.parameters.get("id"), id.hasPrefix("res_") else { throw QueryError("a reservation id") }
            let settled = try await desk.settle(id: id, labels: try ReservationsHandler.labels(body.labels, node: node),
                                                input: try ReservationsHandler.number(body.inputTokens, "input_tokens"),
                                                cachedInput: try ReservationsHandler.number(body.cachedInputTokens, "cached_input_tokens", default: 0),
                                                output: try ReservationsHandler.number(body.outputTokens, "output_tokens"))
            return settled ? APIResponse.answer(SettleAnswer(id: id, settled: true))
                : APIResponse.error("not_found", "no pending reservation \(id) (unknown, settled already, or expired at its worst case)", status: .notFound)
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        }
    }

    /// `POST /api/v1/leases`: a gateway's report of its slices (`ReservationDesk.sync`) → 200
    /// with the caps, its slices and the prices it asked for.
    func lease(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        guard let sender = await authenticator.sender(request, context: context) else { return ReservationsHandler.unauthorized }
        guard sender.reserves else { return ReservationsHandler.forbidden }
        do {
            let body = try await ReservationsHandler.decode(LeaseReport.self, from: request, maxBytes: ReservationsHandler.maxLeaseBodyBytes)
            guard body.slices.count <= LeaseAPI.maxItems, body.models.count <= LeaseAPI.maxItems else {
                throw QueryError("slices, models: at most \(LeaseAPI.maxItems) each")
            }
            for slice in body.slices {
                guard slice.id.hasPrefix("slice_"), slice.id.utf8.count <= 128 else { throw QueryError("slices: ids are slice_ and at most 128 bytes") }
                if let session = slice.session {
                    guard !session.isEmpty, session.utf8.count <= 256, !session.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                        throw QueryError("slices[].session: 1 to 256 bytes without control characters")
                    }
                }
                _ = try ReservationsHandler.number(slice.tokens, "slices[].tokens", default: 0)
                for (value, key) in [(slice.settled, "settled"), (slice.held, "held"), (slice.headroom, "headroom"), (slice.want, "want"), (slice.need, "need")] {
                    _ = try ReservationsHandler.number(value, "slices[].\(key)")
                }
            }
            guard body.models.allSatisfy({ $0.utf8.count <= 256 }) else { throw QueryError("models: names of at most 256 bytes") }
            let expiry = try ReservationsHandler.number(body.expirySeconds, "expiry_seconds", max: Double(LeaseAPI.maxExpiryMs) / 1000)
            guard expiry >= 1 else { throw QueryError("expiry_seconds: at least 1") }
            return APIResponse.answer(try await desk.sync(gateway: sender.name, report: body, expiryMs: Int64(expiry * 1000)))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        }
    }

    private static var unauthorized: Response {
        APIResponse.error("unauthorized", "a gateway's bearer token is required", status: .unauthorized)
    }

    private static var forbidden: Response {
        APIResponse.error("forbidden", "a node's credential cannot reserve: reservations take a gateway's (gateways: in the aggregator's config)",
                          status: .forbidden)
    }

    /// The body as `Body`; what does not decode is refused by the field it names, as the
    /// checks below word it.
    static func decode<Body: Decodable>(_ type: Body.Type, from request: Request, maxBytes: Int = maxBodyBytes) async throws -> Body {
        let buffer = try await request.body.collect(upTo: maxBytes)
        do {
            return try APIJSON.decoder().decode(Body.self, from: Data(buffer: buffer))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            throw fieldError(context.codingPath.first?.stringValue)
        } catch let DecodingError.valueNotFound(_, context) {
            throw fieldError(context.codingPath.first?.stringValue)
        } catch {
            throw QueryError("the body must be a JSON object")
        }
    }

    private static func fieldError(_ field: String?) -> QueryError {
        switch field {
        case nil: QueryError("the body must be a JSON object")
        case "labels": labelsError
        case "slices": QueryError("slices: a list of {id, budget, settled, held, headroom, want, need}, numbers from 0 to \(Int(maxTokens))")
        case "models": QueryError("models: a list of model names")
        case let field?: QueryError("\(field): a number from 0 to \(Int(field == "ttl_seconds" ? Double(ReservationAPI.maxTTLMs) / 1000 : maxTokens))")
        }
    }

    private static let labelsError = QueryError("labels: an object of at most 64 label names and string values")

    /// The request's labels, with the node whose token asked (as its pushed tokens carry).
    static func labels(_ labels: [String: String]?, node: String) throws(QueryError) -> [String: String] {
        guard let labels, labels.count <= 64, labels.allSatisfy({ MetricName.isValidLabelName($0.key) && $0.value.utf8.count <= 4096 }) else {
            throw labelsError
        }
        return labels.merging(["node": node]) { $1 }
    }

    static func number(_ value: Double?, _ key: String, default fallback: Double? = nil, max: Double = maxTokens) throws(QueryError) -> Double {
        guard let value else {
            guard let fallback else { throw QueryError("\(key): required") }
            return fallback
        }
        guard value.isFinite, value >= 0, value <= max else {
            throw QueryError("\(key): a number from 0 to \(Int(max))")
        }
        return value
    }

    /// What a cap's runaway refusal says, and the seconds until it may let requests through.
    static func runaway(_ budget: Budget, rate: Double, baseline: Double, untilMs: Int64?, now: Int64) -> (message: String, retryAfterSeconds: Int64) {
        let rule = budget.runaway.map { Int64($0.coolDownMs) } ?? 60_000
        let untilText = untilMs.map { ", refused until \(time($0, budget))" } ?? ", refused while it lasts and for \(rule / 1000) s after"
        let message = "budget \(budget.name): runaway, \(CapRefusal.amount(rate)) tokens/s against a baseline of \(CapRefusal.amount(baseline)) tokens/s\(untilText)"
        return (message, max(1, ((untilMs ?? now + rule) - now + 999) / 1000))
    }

    /// The reset in RFC 3339, in the budget's own time zone, as people there read it.
    static func time(_ milliseconds: Int64, _ budget: Budget) -> String {
        guard case .every(let period) = budget.period else { return TimeBounds.rfc3339(milliseconds) }
        return TimeBounds.rfc3339(milliseconds, in: period.timezone)
    }
}
