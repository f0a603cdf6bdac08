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
/// model, the request's worst case taken from the gateway's slices of the aggregator's hard
/// caps (`LeaseBook`), the request forwarded with the upstream's own key, the answer (JSON or a
/// stream) passed back unchanged, and its usage counted for the caller through the usage path
/// and settled in the slices.
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
    /// Nil when no route is capped or costs its answers.
    let leases: LeaseSyncer?
    let metrics: GatewayMetrics
    let logger: Logger
    let rates = CallerRateGuard()
    let outputs: OutputHistory
    let sessions: SessionTable
    let sessionHeader: HTTPField.Name
    /// What the gateway does not forward: `droppedHeaders` and the session header.
    let unforwarded: Set<String>
    /// Milliseconds since the epoch: what the rate caps and their cool-down go by.
    let now: @Sendable () -> Int64

    init(configuration: GatewayConfiguration, client: HTTPClient, usage: UsageCollector, leases: LeaseSyncer?,
         metrics: GatewayMetrics, logger: Logger, now: @escaping @Sendable () -> Int64 = TimeBounds.nowMilliseconds) {
        self.configuration = configuration
        self.now = now
        self.client = client
        self.usage = usage
        self.leases = leases
        self.metrics = metrics
        self.logger = logger
        outputs = OutputHistory(settings: configuration.typical)
        sessions = SessionTable(maxActive: configuration.sessions.maxActive)
        sessionHeader = HTTPField.Name(configuration.sessions.header)!
        unforwarded = GatewayHandler.droppedHeaders.union([configuration.sessions.header])
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
        var ticket: LeaseBook.Ticket?
        /// The agent session or run its header names (caps held per session).
        var session: String?
        /// The output its ticket holds: what it names, else its worst case or its caller's typical output.
        var reservedOutput = 0
        var fallbackFrom: String?
        let started: ContinuousClock.Instant

        /// The labels the caps see: the caller's, the model's, and its session.
        var labels: [String: String] {
            var labels = caller.labels.merging(["model": shape.model, "provider": route.provider, "source": route.source]) { $1 }
            labels["session"] = session
            return labels
        }
    }

    /// The caller a request head names (`Authorization: Bearer` or `x-api-key`).
    package static func caller(_ headers: HTTPFields, configuration: GatewayConfiguration) -> GatewayConfiguration.Caller? {
        configuration.caller(authorization: headers[.authorization], apiKey: headers[HTTPField.Name("x-api-key")!])
    }

    /// Whether an answer to `call` carries what it cost (its route and its caller allow it).
    private func showsCost(_ call: Call) -> Bool {
        call.route.costHeaders && call.caller.costHeaders && leases != nil
    }

    /// What `usage` cost, at the prices the aggregator gave (asked for first, once per model).
    private func answerCost(_ call: Call, usage: UsageReport) async -> AnswerCost? {
        guard let leases else { return nil }
        if !leases.book.knowsPrice(of: call.shape.model) { _ = await leases.syncNow() }
        return leases.book.answerCost(model: call.shape.model, local: call.route.local, input: usage.inputTokens, cachedInput: usage.cachedInputTokens,
                                      output: usage.outputTokens, estimated: usage.estimated)
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
        if let named = request.headers[sessionHeader] {
            guard !named.isEmpty, named.utf8.count <= 256, !named.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                metrics.count(.invalid, route: route.pattern)
                return GatewayHandler.error(400, "invalid_request_error", "\(sessionHeader.canonicalName): a session's name of 1 to 256 bytes", anthropic: anthropic)
            }
            let session = sessions.session(named, now: admitted)
            if session.overflowed { metrics.count(.sessionOverflows, route: route.pattern) }
            call.session = session.name
        }
        if let refused = await admit(&call) { return refused }
        return await forward(call, path: request.uri.path, query: request.uri.query, headers: request.headers)
    }

    /// Takes the call's worst case from the gateway's slices when its route is capped; a
    /// refusal, or nil to go on (to the fallback model when the first is over a cap and the
    /// route has one). Without room, the request waits for a report that asks for it (and for
    /// room other gateways give back) up to `leases.wait`; without a price for its model, for
    /// a report that asks the aggregator for one.
    private func admit(_ call: inout Call) async -> Response? {
        guard call.route.capped, let leases else { return nil }
        // A stream can be ended where its slices run out, so a typical route reserves its caller's typical output for it.
        let maxOutput = call.shape.maxOutputTokens
            ?? (call.route.typicalOutput && call.shape.stream ? outputs.reservation(caller: call.caller.key, model: call.shape.model) : configuration.defaultMaxOutputTokens)
        call.reservedOutput = maxOutput
        let deadline = Monotonic.milliseconds() + configuration.leases.waitMs
        var waiting: [String: Double] = [:]
        defer { leases.book.doneWaiting(waiting) }
        var reports = 0
        while true {
            let outcome = leases.book.admit(labels: call.labels, model: call.shape.model, local: call.route.local, input: Double(call.shape.estimatedInputTokens),
                                            maxOutput: Double(maxOutput), waiting: waiting, nowMs: Monotonic.milliseconds())
            let refusal: LeaseBook.Refusal
            switch outcome {
            case .success(let ticket):
                call.ticket = ticket
                if reports > 0 { metrics.count(.leaseWaits, route: call.route.pattern) }
                if leases.book.figures.offline { metrics.count(.offlineAdmissions, route: call.route.pattern) }
                return nil
            case .failure(let reason):
                refusal = reason
            }
            switch refusal {
            case .runaway(let message, let retryAfter):
                return await refuse(&call, type: "runaway", message: message, retryAfter: retryAfter)
            case .noRoom(let budget, _, let full) where full || Monotonic.milliseconds() >= deadline:
                let refusal = leases.book.exceeded(budget)
                leases.book.doneWaiting(waiting)
                waiting = [:]
                return await refuse(&call, type: "budget_exceeded", message: refusal.message, retryAfter: refusal.retryAfter)
            case .unpriced(let budget, let model, asked: true):
                metrics.count(.unpriced, route: call.route.pattern)
                return GatewayHandler.error(422, "unpriced", "budget \(budget) caps money, and no price bounds the cost of model \(model): add a cloud_prices entry, "
                                            + "or let the ledger measure the local model first", anthropic: call.anthropic)
            case .noTerms, .noRoom, .unpriced:
                if case .noRoom(let budget, let amount, _) = refusal { waiting[budget] = amount }
                // Wait for a report that carries this request's need or model; after the first, at
                // a pace that leaves other gateways time to report what they give back.
                if reports > 0 { try? await Task.sleep(for: .milliseconds(min(250, configuration.leases.reportIntervalMs / 4))) }
                reports += 1
                if await leases.syncNow() { continue }
                if case .noRoom = refusal, Monotonic.milliseconds() < deadline, leases.book.figures.offline { continue }
                return unreachable(call)
            }
        }
    }

    /// A cap refused the call: its route's fallback model if it has one, else a 429.
    private func refuse(_ call: inout Call, type: String, message: String, retryAfter: Int) async -> Response? {
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
    }

    /// The aggregator cannot be asked and the slices do not hold the call: `on_unreachable`.
    private func unreachable(_ call: Call) -> Response? {
        if call.route.allowWhenUnreachable {
            metrics.count(.unreachableAdmissions, route: call.route.pattern)
            return nil
        }
        metrics.count(.aggregatorUnreachable, route: call.route.pattern)
        logger.warning("gateway refused a capped request: the aggregator cannot be asked and the gateway's slices do not hold it")
        return GatewayHandler.error(503, call.anthropic ? "overloaded_error" : "api_error",
                                    "the budget service cannot be reached and this gateway's share of the caps does not hold this request; on_unreachable: deny",
                                    anthropic: call.anthropic, retryAfter: 5)
    }

    private func forward(_ call: Call, path: String, query: String?, headers: HTTPFields) async -> Response {
        var upstream = HTTPClientRequest(url: call.route.upstream + path + (query.map { "?" + $0 } ?? ""))
        upstream.method = .POST
        for field in headers where !unforwarded.contains(field.name.canonicalName) {
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
            settle(call, usage: nil)
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
                settle(call, usage: nil)
                return GatewayHandler.error(502, "api_error", "the upstream's answer was cut or too large: \(error)", anthropic: call.anthropic)
            }
            let upstreamSeconds = GatewayHandler.seconds(since: sent)
            let usage = succeeded ? GatewayUsage.usage(inAnswer: answer, model: call.shape.model, requestBytes: call.body.count) : nil
            // The usage is saved before the answer goes back (nothing lost in a crash).
            settle(call, usage: usage)
            if let usage, showsCost(call), let cost = await answerCost(call, usage: usage) {
                for (name, value) in cost.headers { fields[HTTPField.Name(name)!] = value }
            }
            metrics.timed(route: call.route.pattern, upstreamSeconds: upstreamSeconds, totalSeconds: GatewayHandler.seconds(since: call.started))
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        let allowance = succeeded ? call.ticket.flatMap { ticket in leases.map { StreamAllowance(leases: $0, ticket: ticket, output: call.reservedOutput) } } : nil
        let model = call.shape.model
        let wantsTrailers = headers[.te]?.lowercased().contains("trailers") ?? false
        let relay = StreamRelay(upstream: response.body, scanner: GatewayUsage.StreamScanner(model: call.shape.model,
                                                                                        stripUsageChunk: !call.shape.asksForUsage && GatewayUsage.usageOnRequestPaths.contains(path),
                                                                                        holdsDone: GatewayUsage.usageOnRequestPaths.contains(path)),
                                allowance: allowance, ending: { scanner in
                                    StreamAllowance.ending(path: path, model: model, outputTokens: scanner.estimatedOutputTokens, responseCreated: scanner.responseCreated)
                                }, closing: { scanner, cut in
                                    let cost = succeeded && showsCost(call) ? await answerCost(call, usage: scanner.finalUsage(requestBytes: call.body.count)) : nil
                                    return GatewayHandler.closing(path: path, cost: cost, usageChunk: scanner.heldUsageChunk, done: scanner.sawDone || cut,
                                                                  trailers: wantsTrailers)
                                }, abandonedTimeout: .milliseconds(configuration.abandonedStreamTimeoutMs)) { scanner, abandoned, cut in
            if abandoned { metrics.count(.abandonedStreams, route: call.route.pattern) }
            if cut {
                metrics.count(.cutStreams, route: call.route.pattern)
                logger.notice("stream ended at the caps' limit: the gateway's slices had no room for more output", metadata: ["model": "\(model)"])
            }
            var call = call
            call.ticket = allowance?.ticket ?? call.ticket
            settle(call, usage: succeeded ? scanner.finalUsage(requestBytes: call.body.count) : nil)
            metrics.timed(route: call.route.pattern, upstreamSeconds: GatewayHandler.seconds(since: sent), totalSeconds: GatewayHandler.seconds(since: call.started))
        }
        return Response(status: status, headers: fields, body: ResponseBody { writer in try await relay.write(to: &writer) })
    }

    /// Counts what the call used for its caller (nothing when it failed) and settles it in the
    /// slices it was taken from (to nothing when it failed: its worst case is freed).
    private func settle(_ call: Call, usage report: UsageReport?) {
        if let ticket = call.ticket, let leases {
            leases.book.settle(ticket, input: Double(report?.inputTokens ?? 0), cachedInput: Double(report?.cachedInputTokens ?? 0),
                               output: Double(report?.outputTokens ?? 0))
        }
        guard var report else { return }
        if call.route.typicalOutput { outputs.record(caller: call.caller.key, model: call.shape.model, output: report.outputTokens) }
        if report.estimated { metrics.count(.estimatedUsage, route: call.route.pattern) }
        report.provider = call.route.provider
        report.source = call.route.source
        report.attributes = call.caller.labels
        // A session reaches the time series only where the operator lists it among the usage attributes.
        if let session = call.session, configuration.sender.usageAttributes.contains("session") { report.attributes["session"] = session }
        do {
            _ = try usage.record([report])
        } catch {
            logger.error("gateway usage not saved", metadata: ["model": "\(call.shape.model)", "error": "\(error)"])
        }
        rates.used(report.inputTokens + report.outputTokens, by: call.caller, now: now())
    }

    /// A stream's last events: what it cost as the `tokenwatt` member of an event the API has
    /// there anyway or its clients pass over (the usage chunk an OpenAI client asked for, kept
    /// back for it; Anthropic's `ping`; none on the Responses API, nor on an OpenAI stream
    /// without its usage chunk, whose clients expect none), OpenAI's `[DONE]` after it, and the
    /// same figures as trailers where the client asked for them (`TE: trailers`).
    static func closing(path: String, cost: AnswerCost?, usageChunk: [UInt8]?, done: Bool, trailers: Bool) -> (bytes: [UInt8], trailers: HTTPFields?) {
        var bytes: [UInt8] = []
        if let usageChunk {
            bytes += Array("data: ".utf8) + (cost.map { StreamEvents.withCost(usageChunk, $0) } ?? usageChunk) + Array("\n\n".utf8)
        }
        if path == "/v1/messages", let cost { bytes += StreamEvents.event("ping", StreamEvents.CostPing(tokenwatt: cost)) }
        if done { bytes += Array("data: [DONE]\n\n".utf8) }
        guard trailers, let cost else { return (bytes, nil) }
        var fields = HTTPFields()
        for (name, value) in cost.headers { fields[HTTPField.Name(name)!] = value }
        return (bytes, fields)
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
