import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattGateway
@testable import TokenWattSender
@testable import TokenWattConfiguration

/// The gateway's first step: callers by key, routes by model, answers forwarded unchanged and
/// their usage counted for the caller.
@Suite struct GatewayHandlerTests {
    /// A stand-in OpenAI upstream that answers a chat completion with its usage, and says which
    /// key it was given.
    static func withUpstream(_ body: @Sendable (Int) async throws -> Void) async throws {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            let key = request.headers[.authorization] ?? "none"
            #expect(request.headers[.acceptEncoding] == nil, "the upstream must answer uncompressed for its usage to be read")
            let answer = #"{"id":"c1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":120,"completion_tokens":30,"prompt_tokens_details":{"cached_tokens":100}}}"#
            return Response(status: .ok, headers: [.contentType: "application/json", HTTPField.Name("x-upstream-key")!: key],
                            body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        let port = BoundPort()
        try await whileRunning(Application(router: router, configuration: .loopback, onServerRunning: port.onServerRunning)) {
            try await body(try await port.wait())
        }
    }

    @Test func aCallersAnswerIsForwardedAndItsUsageCountedForItsTeam() async throws {
        try await GatewayHandlerTests.withUpstream { port in
            try await withClient { client in
                let configuration = try GatewayConfiguration.parse(yaml: """
                    usage: {attributes: [team]}
                    callers: [{key_env: KEY, labels: {team: research}}]
                    routes: [{match: "gpt-.*", upstream: "http://127.0.0.1:\(port)", key_env: UPSTREAM}]
                    """, file: "gateway.yml", environment: ["KEY": "sk-caller", "UPSTREAM": "sk-upstream"])
                let usage = try UsageCollector(store: nil, attributes: ["team"], maxValuesPerAttribute: 10)
                let handler = GatewayHandler(configuration: configuration, client: client, usage: usage, leases: nil,
                                             metrics: GatewayMetrics(routes: ["gpt-.*"], leases: nil), logger: Logger(label: "test"))
                let router = Router()
                router.post("/v1/chat/completions", use: handler.handle)
                let app = Application(router: router)
                try await app.test(.router) { gateway in
                    let body = ByteBuffer(string: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
                    let answer = try await gateway.execute(uri: "/v1/chat/completions", method: .post,
                                                           headers: [.authorization: "Bearer sk-caller", .contentType: "application/json", .acceptEncoding: "gzip, deflate"],
                                                           body: body) { $0 }
                    #expect(answer.status == .ok)
                    #expect(String(buffer: answer.body).contains(#""completion_tokens":30"#))
                    // The upstream got its own key, never the caller's.
                    #expect(answer.headers[HTTPField.Name("x-upstream-key")!] == "Bearer sk-upstream")
                    let stranger = try await gateway.execute(uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer sk-other"], body: body) { $0 }
                    #expect(stranger.status == .unauthorized)
                    #expect(String(buffer: stranger.body) == #"{"error":{"message":"the API key is not one of the gateway's callers","type":"invalid_api_key"}}"#)
                    let unrouted = try await gateway.execute(uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer sk-caller"],
                                                             body: ByteBuffer(string: #"{"model":"mistral"}"#)) { $0 }
                    #expect(unrouted.status == .notFound)
                }
                _ = try await usage.collect()
                let samples = try await usage.collect()
                func tokens(_ type: String) -> Double? {
                    samples.first { $0.name == "tokenwatt_tokens_total" && $0.labels.contains(Label("type", type)) && $0.labels.contains(Label("team", "research")) }?.value
                }
                #expect(tokens("input") == 120 && tokens("cached_input") == 100 && tokens("output") == 30)
            }
        }
    }

    /// The rate cap's window and cool-down go by the handler's clock, not the wall's: a caller
    /// refused at t, with the seconds left to wait, is let through once the clock passes them.
    @Test func aCallersRateCapAndItsCoolDownGoByTheInjectedClock() async throws {
        try await GatewayHandlerTests.withUpstream { port in
            try await withClient { client in
                let configuration = try GatewayConfiguration.parse(yaml: """
                    callers: [{key_env: KEY, labels: {team: research}, rate_limit: {requests_per_minute: 2, cool_down: 90s}}]
                    routes: [{match: "gpt-.*", upstream: "http://127.0.0.1:\(port)", key_env: UPSTREAM}]
                    """, file: "gateway.yml", environment: ["KEY": "sk-caller", "UPSTREAM": "sk-upstream"])
                let clock = Mutex<Int64>(1_800_000_000_000)
                let handler = GatewayHandler(configuration: configuration, client: client, usage: try UsageCollector(store: nil, attributes: [], maxValuesPerAttribute: 10),
                                             leases: nil, metrics: GatewayMetrics(routes: ["gpt-.*"], leases: nil), logger: Logger(label: "test"),
                                             now: { clock.withLock { $0 } })
                let router = Router()
                router.post("/v1/chat/completions", use: handler.handle)
                try await Application(router: router).test(.router) { gateway in
                    func ask() async throws -> (status: HTTPResponse.Status, retryAfter: String?) {
                        try await gateway.execute(uri: "/v1/chat/completions", method: .post,
                                                  headers: [.authorization: "Bearer sk-caller", .contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"model":"gpt-4o-mini","messages":[]}"#)) { ($0.status, $0.headers[.retryAfter]) }
                    }
                    #expect(try await ask().status == .ok)
                    #expect(try await ask().status == .ok)
                    let refused = try await ask()
                    #expect(refused.status == .tooManyRequests && refused.retryAfter == "90")
                    clock.withLock { $0 += 60_000 }  // the window has passed, the cool-down has not
                    let cooling = try await ask()
                    #expect(cooling.status == .tooManyRequests && cooling.retryAfter == "30")
                    clock.withLock { $0 += 30_000 }
                    #expect(try await ask().status == .ok)
                }
            }
        }
    }
}
