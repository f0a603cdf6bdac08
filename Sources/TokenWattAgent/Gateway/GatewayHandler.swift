import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TokenWattService

/// The metering gateway's request path (issue 13, in progress): a caller known by its key, a
/// route by model, the request forwarded to the route's upstream with the upstream's own key,
/// the answer returned unchanged, and its usage counted for the caller through the usage path.
/// This first step forwards answers that are not streamed; streams and caps come next.
struct GatewayHandler: Sendable {
    static let maxRequestBytes = 16 << 20
    static let maxAnswerBytes = 64 << 20
    static let upstreamTimeout: Duration = .seconds(600)
    /// Request headers the gateway sets itself or that belong to one hop.
    static let droppedHeaders: Set<String> = ["authorization", "x-api-key", "host", "content-length", "connection", "transfer-encoding", "keep-alive"]

    let configuration: GatewayConfiguration
    let client: HTTPClient
    let usage: UsageCollector
    let logger: Logger

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let anthropic = request.uri.path == "/v1/messages"
        guard let caller = configuration.caller(authorization: request.headers[.authorization], apiKey: request.headers[HTTPField.Name("x-api-key")!]) else {
            return GatewayHandler.error(401, anthropic ? "authentication_error" : "invalid_api_key", "the API key is not one of the gateway's callers", anthropic: anthropic)
        }
        let body = Array(buffer: try await request.body.collect(upTo: GatewayHandler.maxRequestBytes))
        let shape: GatewayUsage.RequestShape
        do {
            shape = try GatewayUsage.shape(of: body)
        } catch {
            return GatewayHandler.error(400, "invalid_request_error", "\(error)", anthropic: anthropic)
        }
        guard let route = configuration.route(model: shape.model) else {
            return GatewayHandler.error(404, "not_found_error", "the gateway routes no upstream for model \(shape.model)", anthropic: anthropic)
        }
        guard !shape.stream else {
            return GatewayHandler.error(501, "invalid_request_error", "streamed answers do not go through the gateway yet", anthropic: anthropic)
        }
        var upstream = HTTPClientRequest(url: route.upstream + request.uri.path)
        upstream.method = .POST
        for field in request.headers where !GatewayHandler.droppedHeaders.contains(field.name.canonicalName) {
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        if let key = route.key {
            if route.api == .anthropic { upstream.headers.replaceOrAdd(name: "x-api-key", value: key) } else { upstream.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(key)") }
        }
        upstream.body = .bytes(ByteBuffer(bytes: GatewayUsage.forwardedBody(body, shape: shape, anthropic: anthropic)))
        let answer: OutboundClient.Answer
        do {
            answer = try await OutboundClient(http: client).exchange(upstream, timeout: GatewayHandler.upstreamTimeout, maxAnswerBytes: GatewayHandler.maxAnswerBytes)
        } catch {
            return GatewayHandler.error(502, "api_error", "the upstream \(route.upstream) did not answer: \(error)", anthropic: anthropic)
        }
        if (200..<300).contains(answer.status), var report = GatewayUsage.usage(inAnswer: answer.body, model: shape.model) {
            report.provider = route.provider
            report.attributes = caller.labels
            do {
                _ = try usage.record([report])
            } catch {
                logger.error("gateway usage not saved", metadata: ["model": "\(shape.model)", "error": "\(error)"])
            }
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers where !GatewayHandler.droppedHeaders.contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// An error in the API's own shape: OpenAI's `{"error": {"message", "type"}}`, or
    /// Anthropic's `{"type": "error", "error": {"type", "message"}}`.
    static func error(_ status: Int, _ type: String, _ message: String, anthropic: Bool) -> Response {
        let error: [String: Any] = ["type": type, "message": message]
        let object: [String: Any] = anthropic ? ["type": "error", "error": error] : ["error": error]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
