import Foundation
import Hummingbird
import Logging
import TokenWattAPI
import TokenWattCore
import TokenWattService

/// `POST /v1/usage`: usage reports from applications (`UsageReport`), one JSON object or an
/// array, taken all or none. 200 once they are saved, with what was left out; 400 naming the
/// field at fault; 401 without the configured token; 413 over the size limit; 415 for a body
/// that is not JSON; 503 when they cannot be saved.
package struct UsageHandler: Sendable {
    static let maxBodyBytes = 4 << 20

    let collector: UsageCollector
    let token: String?
    let logger: Logger

    package init(collector: UsageCollector, token: String?, logger: Logger) {
        self.collector = collector
        self.token = token
        self.logger = logger
    }

    package func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        guard UsageHandler.isAuthorized(request, token: token) else {
            return UsageHandler.error(.unauthorized, "a bearer token is required", headers: [.wwwAuthenticate: "Bearer"])
        }
        let mediaType = MediaType.essence(of: request.headers[.contentType])
        guard mediaType == nil || mediaType == "application/json" else {
            collector.rejected()
            let hint = mediaType == "application/x-www-form-urlencoded" ? " (curl -d sends form data: add -H 'Content-Type: application/json')" : ""
            return UsageHandler.error(.unsupportedMediaType, "send the reports as application/json" + hint)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: UsageHandler.maxBodyBytes)
        } catch {
            collector.rejected()
            return UsageHandler.error(.contentTooLarge, "the body is over the limit of \(UsageHandler.maxBodyBytes) bytes; send smaller arrays")
        }
        let reports: [UsageReport]
        do {
            reports = try UsageReport.parse(Array(buffer: body), now: Date().timeIntervalSince1970)
        } catch {
            collector.rejected()
            logger.debug("usage report refused", metadata: ["reason": "\(error)"])
            return UsageHandler.error(.badRequest, error.description)
        }
        let outcome: UsageCollector.Outcome
        do {
            outcome = try collector.record(reports)
        } catch {
            logger.error("usage reports not saved", metadata: ["error": "\(error)", "reports": "\(reports.count)"])
            return UsageHandler.error(.serviceUnavailable, "not saved: \(error)")
        }
        return UsageHandler.json(.ok, UsageAnswer(accepted: outcome.accepted, duplicates: outcome.duplicates,
                                                  droppedAttributes: outcome.droppedAttributes.sorted(), overflowedAttributes: outcome.overflowedAttributes.sorted()))
    }

    /// Whether the request carries the usage token (any request does, when there is none).
    static func isAuthorized(_ request: Request, token: String?) -> Bool {
        guard let token else { return true }
        guard let presented = request.headers[.authorization].flatMap(BearerToken.presented(in:)) else { return false }
        return BearerToken.constantTimeEqual(presented, Array(token.utf8))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        json(status, UsageRefusal(error: message), headers: headers)
    }

    static func json(_ status: HTTPResponse.Status, _ body: some Encodable, headers: HTTPFields = [:]) -> Response {
        // Counts and strings: nothing here can fail to encode.
        let data = (try? APIJSON.encoder().encode(body)) ?? Data("{}".utf8)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
