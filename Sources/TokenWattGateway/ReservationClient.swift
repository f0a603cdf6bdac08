import AsyncHTTPClient
import Foundation
import NIOCore
import TokenWattAPI
import TokenWattCore
import TokenWattSender
import TokenWattService

/// The gateway's side of hard caps: asks the aggregator (`POST /api/v1/reservations`, with the
/// node's push token) to hold a request's worst case before it is forwarded, and settles the
/// hold to what was used once the answer ends.
package struct ReservationClient: Sendable {
    enum Answer: Sendable, Equatable {
        /// Held against the caps that match; nil when none does (nothing to settle).
        case granted(id: String?)
        /// A cap has no room (`budget_exceeded`) or holds a runaway (`runaway`): the
        /// aggregator's message, and seconds until it may let the request through.
        case denied(type: String, message: String, retryAfter: Int)
        /// A money cap matches a model no price bounds.
        case unpriced(message: String)
        /// No answer that says yes or no (down, timed out, 5xx, a token it refuses).
        case unreachable(reason: String)
    }

    static let timeout: Duration = .seconds(5)
    static let settleAttempts = 3

    let baseURL: String
    let token: String?
    let client: OutboundClient

    package init(writeURL: String, token: String?, client: OutboundClient) {
        baseURL = writeURL.hasSuffix(RemoteWriteCodec.writePath) ? String(writeURL.dropLast(RemoteWriteCodec.writePath.count)) : writeURL
        self.token = token
        self.client = client
    }

    func reserve(labels: [String: String], inputTokens: Int, maxOutputTokens: Int, ttlMs: Int64) async -> Answer {
        let request = ReservationRequest(labels: labels, inputTokens: Double(inputTokens), maxOutputTokens: Double(maxOutputTokens),
                                         ttlSeconds: Double(ttlMs) / 1000)
        let answer: OutboundClient.Answer
        do {
            answer = try await post(ReservationAPI.path, request)
        } catch {
            return .unreachable(reason: "\(error)")
        }
        let decoder = APIJSON.decoder()
        let body = Data(answer.body)
        // An error's envelope when it has one; its first bytes when it is no JSON (a proxy's page).
        let failure = try? decoder.decode(APIFailure.self, from: body)
        let message = failure?.error ?? String(decoding: answer.body.prefix(200), as: UTF8.self)
        switch answer.status {
        case 201:
            guard let grant = try? decoder.decode(APISuccess<ReservationGrant>.self, from: body).data else {
                return .unreachable(reason: "a grant this gateway cannot read: \(message)")
            }
            return .granted(id: grant.holds.isEmpty ? nil : grant.id)
        case 429:
            let retryAfter = answer.headers.first(name: "Retry-After").flatMap { Int($0) } ?? 60
            return .denied(type: failure?.errorType ?? "budget_exceeded", message: message, retryAfter: retryAfter)
        case 422:
            return .unpriced(message: message)
        default:
            return .unreachable(reason: "HTTP \(answer.status): \(message)")
        }
    }

    /// Settles to the tokens used, a few times over while the aggregator cannot be reached; a
    /// hold never settled keeps its worst case after its time to live (counted high, never low).
    func settle(id: String, labels: [String: String], usage: UsageReport) async -> Bool {
        let body = SettleRequest(labels: labels, inputTokens: Double(usage.inputTokens), cachedInputTokens: Double(usage.cachedInputTokens),
                                 outputTokens: Double(usage.outputTokens))
        for attempt in 1...ReservationClient.settleAttempts {
            if let answer = try? await post("\(ReservationAPI.path)/\(id)/settle", body) {
                if answer.status == 200 { return true }
                if answer.status == 404 || answer.status == 400 { return false }
            }
            try? await Task.sleep(for: .milliseconds(250 << attempt))
        }
        return false
    }

    private func post(_ path: String, _ body: some Encodable) async throws -> OutboundClient.Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: SenderProgram.gateway.rawValue)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: try APIJSON.encoder().encode(body)))
        return try await client.exchange(request, timeout: ReservationClient.timeout, maxAnswerBytes: OutboundClient.maxAnswerBytes)
    }
}
