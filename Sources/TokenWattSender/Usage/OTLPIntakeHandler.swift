import Hummingbird
import Logging
import TokenWattCore

/// `POST /v1/metrics` beside `/v1/usage`, behind the same token: OTLP/HTTP metrics export
/// (protobuf or JSON, gzip or not) taken by `OTLPIntake`. 200 once saved, with a partial
/// success naming rejected points; errors as `google.rpc.Status` bodies in the request's
/// encoding: 401 without the token, 415 for another content type or encoding, 413 past the
/// size bounds, 400 for a body that does not decode, 503 when it cannot be saved.
package struct OTLPIntakeHandler: Sendable {
    /// Bodies on the wire, and as they decode (gzip).
    static let maxBodyBytes = 4 << 20
    static let maxDecodedBytes = 32 << 20
    /// How far ahead of this host's clock a point may be.
    static let maxFutureSkewMs: Int64 = 10 * 60_000

    let intake: OTLPIntake
    let token: String?
    let logger: Logger

    package init(intake: OTLPIntake, token: String?, logger: Logger) {
        self.intake = intake
        self.token = token
        self.logger = logger
    }

    package func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let encoding = OTLPCodec.Encoding(contentType: request.headers[.contentType])
        func refuse(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
            var headers = headers
            headers[.contentType] = (encoding ?? .protobuf).contentType
            let body = OTLPCodec.status(httpStatus: Int(status.code), message: message, encoding: encoding ?? .protobuf)
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        guard UsageHandler.isAuthorized(request, token: token) else {
            return refuse(.unauthorized, "a bearer token is required", headers: [.wwwAuthenticate: "Bearer"])
        }
        guard let encoding else {
            intake.refused()
            return refuse(.unsupportedMediaType, "content type \"\(request.headers[.contentType] ?? "")\" is not OTLP: send application/x-protobuf or application/json")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: OTLPIntakeHandler.maxBodyBytes)
        } catch {
            intake.refused()
            return refuse(.contentTooLarge, "the body is over the limit of \(OTLPIntakeHandler.maxBodyBytes) bytes; export in smaller batches")
        }
        let export: OTLPExport
        do {
            // The aggregator's default bounds on a series: what is relayed is never refused there.
            export = try OTLPCodec.decode(Array(buffer: body), encoding: encoding, contentEncoding: request.headers[.contentEncoding],
                                          maxDecodedBytes: OTLPIntakeHandler.maxDecodedBytes, limits: OTLPLimits(remoteWrite: RemoteWriteLimits()))
        } catch {
            logger.debug("OTLP export refused", metadata: ["reason": "\(error)"])
            intake.refused()
            switch error {
            case .tooLarge: return refuse(.contentTooLarge, error.description)
            case .unsupportedEncoding: return refuse(.unsupportedMediaType, error.description)
            default: return refuse(.badRequest, error.description)
            }
        }
        let outcome: OTLPIntake.Outcome
        do {
            outcome = try intake.take(export, now: TimeBounds.nowMilliseconds(), maxFutureSkewMs: OTLPIntakeHandler.maxFutureSkewMs)
        } catch {
            logger.error("OTLP export not saved", metadata: ["error": "\(error)"])
            return refuse(.serviceUnavailable, "not saved: \(error)", headers: [.retryAfter: "5"])
        }
        let rejections = outcome.rejections
        if rejections.count > 0 { logger.debug("OTLP points rejected", metadata: ["points": "\(rejections.count)", "reasons": "\(rejections.message)"]) }
        let answer = OTLPCodec.response(rejections, encoding: encoding)
        return Response(status: .ok, headers: [.contentType: encoding.contentType], body: .init(byteBuffer: ByteBuffer(bytes: answer)))
    }
}
