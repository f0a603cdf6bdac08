import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattSender
import TokenWattService

/// The metering gateway's request path: a caller known by its key, its rate caps, a route by
/// model, the request's worst case reserved against the aggregator's hard caps, the request
/// forwarded with the upstream's own key, the answer (JSON or a stream) passed back unchanged,
/// and its usage counted for the caller through the usage path and settled against the caps.
package struct GatewayHandler: Sendable {
    static let maxRequestBytes = 16 << 20
    static let maxAnswerBytes = 64 << 20
    /// The header that tells a client its request went to the route's fallback model.
    static let fallbackHeader = HTTPField.Name("x-tokenwatt-fallback")!
    /// Headers the gateway sets itself or that belong to one hop. `accept-encoding` too: the
    /// usage is read from the answer, so the upstream answers uncompressed (SDKs ask for gzip).
    static let droppedHeaders: Set<String> = ["authorization", "x-api-key", "host", "content-length", "connection", "transfer-encoding", "keep-alive",
                                              "accept-encoding"]

    let configuration: GatewayConfiguration
    let client: HTTPClient
    let usage: UsageCollector
    /// Nil when no route is capped.
    let reservations: ReservationClient?
    let metrics: GatewayMetrics
    let logger: Logger
    let rates = CallerRateGuard()
    let grace: GraceQuota
    /// Milliseconds since the epoch: what the rate caps, their cool-down and the grace quota go by.
    let now: @Sendable () -> Int64

    package init(configuration: GatewayConfiguration, client: HTTPClient, usage: UsageCollector, reservations: ReservationClient?,
         metrics: GatewayMetrics, logger: Logger, now: @escaping @Sendable () -> Int64 = TimeBounds.nowMilliseconds) {
        self.configuration = configuration
        self.now = now
        self.client = client
        self.usage = usage
        self.reservations = reservations
        self.metrics = metrics
        self.logger = logger
        grace = GraceQuota(tokens: configuration.graceTokens, periodMs: configuration.graceMs)
    }

    /// The paths the gateway serves: OpenAI's and Anthropic's.
    package static let paths = ["/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings", "/v1/messages"]

    /// One request's context on its way through.
    private struct Call: Sendable {
        var caller: GatewayConfiguration.Caller
        var route: GatewayConfiguration.Route
        var shape: GatewayUsage.RequestShape
        var body: [UInt8]
        var anthropic: Bool
        var reservation: String?
        var fallbackFrom: String?
        let started: ContinuousClock.Instant

        /// The labels the caps see: the caller's, and the model's.
        var labels: [String: String] {
            caller.labels.merging(["model": shape.model, "provider": route.provider, "source": route.source]) { $1 }
        }
    }

    /// The caller a request head names (`Authorization: Bearer` or `x-api-key`).
    package static func caller(_ headers: HTTPFields, configuration: GatewayConfiguration) -> GatewayConfiguration.Caller? {
        configuration.caller(authorization: headers[.authorization], apiKey: headers[HTTPField.Name("x-api-key")!])
    }

    package func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let anthropic = request.uri.path == "/v1/messages"
        guard let caller = GatewayHandler.caller(request.headers, configuration: configuration) else {
            metrics.count(.unauthorized, route: "")
            return GatewayHandler.error(401, anthropic ? "authentication_error" : "invalid_api_key", "the API key is not one of the gateway's callers", anthropic: anthropic)
        }
        let body = Array(buffer: try await request.body.collect(upTo: GatewayHandler.maxRequestBytes))
        let shape: GatewayUsage.RequestShape
        do {
            shape = try GatewayUsage.shape(of: body)
        } catch {
            metrics.count(.invalid, route: "")
            return GatewayHandler.error(400, "invalid_request_error", "\(error)", anthropic: anthropic)
        }
        guard let route = configuration.route(model: shape.model) else {
            metrics.count(.noRoute, route: "")
            return GatewayHandler.error(404, "not_found_error", "the gateway routes no upstream for model \(shape.model)", anthropic: anthropic)
        }
        let admitted = now()
        if let refusal = rates.admit(caller, now: admitted) {
            metrics.count(.rateLimited, route: route.pattern)
            logger.warning("gateway caller over its rate cap", metadata: ["caller": "\(caller.labels)", "reason": "\(refusal.reason)"])
            return GatewayHandler.error(429, "rate_limit_exceeded", "rate cap: \(refusal.reason); refused until \(TimeBounds.rfc3339(refusal.untilMs))",
                                        anthropic: anthropic, retryAfter: max(1, Int((refusal.untilMs - admitted + 999) / 1000)))
        }
        var call = Call(caller: caller, route: route, shape: shape, body: body, anthropic: anthropic, started: started)
        if let refused = await admit(&call) { return refused }
        return await forward(call, path: request.uri.path, query: request.uri.query, headers: request.headers)
    }

    /// Reserves the call's worst case when its route is capped; a refusal, or nil to go on
    /// (to the fallback model when the first is over a cap and the route has one).
    private func admit(_ call: inout Call) async -> Response? {
        guard call.route.capped, let reservations else { return nil }
        let maxOutput = call.shape.maxOutputTokens ?? configuration.defaultMaxOutputTokens
        let answer = await reservations.reserve(labels: call.labels, inputTokens: call.shape.estimatedInputTokens, maxOutputTokens: maxOutput,
                                                ttlMs: configuration.reservationTTLMs)
        if case .unreachable = answer {} else { grace.reset() }
        switch answer {
        case .granted(let id):
            call.reservation = id
            return nil
        case .denied(let type, let message, let retryAfter):
            if call.fallbackFrom == nil, let fallback = call.route.fallback, let target = configuration.route(model: fallback) {
                metrics.count(.fallbacks, route: call.route.pattern)
                call.fallbackFrom = call.shape.model
                call.body = GatewayUsage.replacingModel(in: call.body, with: fallback)
                call.shape = (try? GatewayUsage.shape(of: call.body)) ?? call.shape
                call.route = target
                return await admit(&call)
            }
            metrics.count(type == "runaway" ? .runaway : .budgetExceeded, route: call.route.pattern)
            return GatewayHandler.error(429, type, message, anthropic: call.anthropic, retryAfter: retryAfter)
        case .unpriced(let message):
            metrics.count(.unpriced, route: call.route.pattern)
            return GatewayHandler.error(422, "unpriced", message, anthropic: call.anthropic)
        case .unreachable(let reason):
            if grace.take(call.shape.estimatedInputTokens + maxOutput, now: now()) {
                metrics.count(.graceAdmissions, route: call.route.pattern)
                return nil
            }
            if call.route.allowWhenUnreachable {
                metrics.count(.unreachableAdmissions, route: call.route.pattern)
                return nil
            }
            metrics.count(.aggregatorUnreachable, route: call.route.pattern)
            logger.warning("gateway refused a capped request: the aggregator cannot be asked", metadata: ["reason": "\(reason)"])
            return GatewayHandler.error(503, call.anthropic ? "overloaded_error" : "api_error",
                                        "the budget service cannot be reached to reserve this request (\(reason)); on_unreachable: deny",
                                        anthropic: call.anthropic, retryAfter: 5)
        }
    }

    private func forward(_ call: Call, path: String, query: String?, headers: HTTPFields) async -> Response {
        var upstream = HTTPClientRequest(url: call.route.upstream + path + (query.map { "?" + $0 } ?? ""))
        upstream.method = .POST
        for field in headers where !GatewayHandler.droppedHeaders.contains(field.name.canonicalName) {
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        if let key = call.route.key {
            if call.route.api == .anthropic { upstream.headers.replaceOrAdd(name: "x-api-key", value: key) } else { upstream.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(key)") }
        }
        upstream.body = .bytes(ByteBuffer(bytes: GatewayUsage.forwardedBody(call.body, shape: call.shape, path: path)))
        let sent = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await client.execute(upstream, timeout: .milliseconds(configuration.upstreamTimeoutMs))
        } catch {
            metrics.count(.upstreamUnreachable, route: call.route.pattern)
            await settle(call, usage: nil)
            return GatewayHandler.error(502, call.anthropic ? "api_error" : "upstream_error", "the upstream \(call.route.upstream) did not answer: \(error)", anthropic: call.anthropic)
        }
        var fields = HTTPFields()
        for header in response.headers where !GatewayHandler.droppedHeaders.contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        if let from = call.fallbackFrom { fields[GatewayHandler.fallbackHeader] = "\(from) -> \(call.shape.model)" }
        let status = HTTPResponse.Status(code: Int(response.status.code))
        let succeeded = (200..<300).contains(Int(response.status.code))
        metrics.count(succeeded ? .forwarded : .upstreamError, route: call.route.pattern)
        let streamed = response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        guard streamed else {
            let answer: [UInt8]
            do {
                answer = Array(buffer: try await response.body.collect(upTo: GatewayHandler.maxAnswerBytes))
            } catch {
                await settle(call, usage: nil)
                return GatewayHandler.error(502, "api_error", "the upstream's answer was cut or too large: \(error)", anthropic: call.anthropic)
            }
            let upstreamSeconds = GatewayHandler.seconds(since: sent)
            let usage = succeeded ? GatewayUsage.usage(inAnswer: answer, model: call.shape.model, requestBytes: call.body.count) : nil
            // The usage is saved before the answer goes back (nothing lost in a crash); the
            // reservation is settled after (one not settled keeps its worst case: never low).
            record(call, usage: usage)
            if call.reservation != nil { Task { await settleReservation(call, usage: usage) } }
            metrics.timed(route: call.route.pattern, upstreamSeconds: upstreamSeconds, totalSeconds: GatewayHandler.seconds(since: call.started))
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        let relay = StreamRelay(upstream: response.body, scanner: GatewayUsage.StreamScanner(model: call.shape.model,
                                                                                        stripUsageChunk: !call.shape.asksForUsage && GatewayUsage.usageOnRequestPaths.contains(path)),
                                abandonedTimeout: .milliseconds(configuration.abandonedStreamTimeoutMs)) { scanner, abandoned in
            if abandoned { metrics.count(.abandonedStreams, route: call.route.pattern) }
            await settle(call, usage: succeeded ? scanner.finalUsage(requestBytes: call.body.count) : nil)
            metrics.timed(route: call.route.pattern, upstreamSeconds: GatewayHandler.seconds(since: sent), totalSeconds: GatewayHandler.seconds(since: call.started))
        }
        return Response(status: status, headers: fields, body: ResponseBody { writer in try await relay.write(to: &writer) })
    }

    /// Counts what the call used for its caller (nothing when it failed) and settles its
    /// reservation to it (to nothing when it failed: the hold is released).
    private func settle(_ call: Call, usage report: UsageReport?) async {
        record(call, usage: report)
        await settleReservation(call, usage: report)
    }

    /// Counts what the call used for its caller, through the usage path.
    private func record(_ call: Call, usage report: UsageReport?) {
        if var report {
            if report.estimated { metrics.count(.estimatedUsage, route: call.route.pattern) }
            report.provider = call.route.provider
            report.source = call.route.source
            report.attributes = call.caller.labels
            do {
                _ = try usage.record([report])
            } catch {
                logger.error("gateway usage not saved", metadata: ["model": "\(call.shape.model)", "error": "\(error)"])
            }
            rates.used(report.inputTokens + report.outputTokens, by: call.caller, now: now())
        }
    }

    /// Settles the call's reservation to what it used (to nothing when it failed: the hold is released).
    private func settleReservation(_ call: Call, usage report: UsageReport?) async {
        guard let id = call.reservation, let reservations else { return }
        if !(await reservations.settle(id: id, labels: call.labels, usage: report ?? UsageReport(model: call.shape.model, provider: ""))) {
            metrics.count(.unsettledReservations, route: call.route.pattern)
            logger.warning("reservation not settled; it keeps its worst case until it expires", metadata: ["reservation": "\(id)"])
        }
    }

    static func seconds(since instant: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - instant).seconds
    }

    /// An error in the API's own shape: OpenAI's `{"error": {"message", "type"}}`, or
    /// Anthropic's `{"type": "error", "error": {"type", "message"}}`.
    static func error(_ status: Int, _ type: String, _ message: String, anthropic: Bool, retryAfter: Int? = nil) -> Response {
        let detail = ErrorDetail(type: type, message: message)
        let encoder = APIJSON.encoder()
        // Two strings: nothing here can fail to encode.
        let data = (try? anthropic ? encoder.encode(AnthropicError(error: detail)) : encoder.encode(OpenAIError(error: detail))) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The `error` member both APIs write.
    private struct ErrorDetail: Encodable {
        var type: String
        var message: String
    }

    private struct OpenAIError: Encodable {
        var error: ErrorDetail
    }

    private struct AnthropicError: Encodable {
        var type = "error"
        var error: ErrorDetail
    }
}
