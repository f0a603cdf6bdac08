import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAgent
@testable import TokenWattConfiguration

/// Prefill/decode disaggregated serving, with stand-in vLLM servers whose counters move as
/// vLLM's do under P/D: 100 requests, each a 10,000-token prompt (9,000 of them a prefix-cache
/// hit on the prefill server) answered with 500 tokens. The prefill server computes the prompt
/// and makes one token that is thrown away; the decode server receives the prompt's KV (all
/// but the last token, which it computes again) and generates the 500. Both count the request.
@Suite(.serialized) struct PrefillDecodeTests {
    static let model = "meta-llama/Llama-3.1-8B-Instruct"

    static func page(computed: Double, cacheHit: Double, received: Double, generated: Double, requests: Double) -> String {
        let labels = #"engine="0",model_name="\#(model)""#
        return """
            # TYPE vllm:prompt_tokens_total counter
            vllm:prompt_tokens_total{\(labels)} \(computed + cacheHit + received)
            # TYPE vllm:prompt_tokens_by_source_total counter
            vllm:prompt_tokens_by_source_total{\(labels),source="local_compute"} \(computed)
            vllm:prompt_tokens_by_source_total{\(labels),source="local_cache_hit"} \(cacheHit)
            vllm:prompt_tokens_by_source_total{\(labels),source="external_kv_transfer"} \(received)
            # TYPE vllm:prompt_tokens_cached_total counter
            vllm:prompt_tokens_cached_total{\(labels)} \(cacheHit + received)
            # TYPE vllm:generation_tokens_total counter
            vllm:generation_tokens_total{\(labels)} \(generated)
            # TYPE vllm:request_success_total counter
            vllm:request_success_total{\(labels),finished_reason="stop"} \(requests)

            """
    }

    static let prefill = page(computed: 100_000, cacheHit: 900_000, received: 0, generated: 100, requests: 100)
    static let decode = page(computed: 100, cacheHit: 0, received: 999_900, generated: 50_000, requests: 100)

    struct Case: Sendable, CustomTestStringConvertible {
        var roles: (prefill: InferenceRole, decode: InferenceRole)
        var input: Double
        var cachedInput: Double
        var output: Double
        var requests: Double
        var testDescription: String { "\(roles.prefill.rawValue)+\(roles.decode.rawValue)" }
    }

    static let cases: [Case] = [
        // Marked: every figure once, as the requests had them.
        Case(roles: (.prefill, .decode), input: 1_000_000, cachedInput: 900_000, output: 50_000, requests: 100),
        // Unmarked: the received KV is still not input, but the decoder's recomputed token,
        // the prefill's thrown-away token and every request are counted twice.
        Case(roles: (.both, .both), input: 1_000_100, cachedInput: 900_000, output: 50_100, requests: 200),
    ]

    @Test(arguments: cases)
    func eachRequestIsCountedOnceAcrossThePools(_ expected: Case) async throws {
        let prefill = FakeInferenceServer(.init(metrics: PrefillDecodeTests.prefill))
        let decode = FakeInferenceServer(.init(metrics: PrefillDecodeTests.decode))
        try await prefill.start()
        try await decode.start()
        try await withClient { client in
            var samples: [ExpositionSample] = []
            for (server, role) in [(prefill, expected.roles.prefill), (decode, expected.roles.decode)] {
                var configured = InferenceServer(url: server.url, kind: .vllm)
                configured.role = role
                let collector = try #require(InferenceCollector(server: configured, client: client, store: nil))
                samples += try await collector.collect()
            }
            await prefill.stop()
            await decode.stop()
            let model = ["model": PrefillDecodeTests.model]
            #expect(total(samples, "tokenwatt_tokens_total", model.merging(["type": "input"]) { $1 }) == expected.input)
            #expect(total(samples, "tokenwatt_tokens_total", model.merging(["type": "cached_input"]) { $1 }) == expected.cachedInput)
            #expect(total(samples, "tokenwatt_tokens_total", model.merging(["type": "output"]) { $1 }) == expected.output)
            #expect(total(samples, "tokenwatt_requests_total", model) == expected.requests)
            // Each pool's series say which pool they come from, so reports can split by phase.
            let roles = Set(samples.filter { $0.name == "tokenwatt_tokens_total" }.compactMap { sample in sample.labels.first { $0.name == "role" }?.value })
            #expect(roles == (expected.roles.prefill == .both ? [] : ["prefill", "decode"]))
        }
    }

    /// KV received from outside comes off the input it is counted in, across server restarts
    /// and whichever of the two raw counters restarts first; input never goes below 0 or back.
    @Test func receivedKVComesOffTheInputAcrossRestarts() async throws {
        let server = FakeInferenceServer(.init(metrics: PrefillDecodeTests.page(computed: 100, cacheHit: 0, received: 9_900, generated: 500, requests: 1)))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url, kind: .vllm), client: client, store: nil))
            func input() async throws -> Double? { total(try await collector.collect(), "tokenwatt_tokens_total", ["type": "input"]) }
            #expect(try await input() == 100)
            server.set(metrics: PrefillDecodeTests.page(computed: 300, cacheHit: 50, received: 19_800, generated: 1_000, requests: 2))
            #expect(try await input() == 350)
            // Restarted: both counters from 0 again.
            server.set(metrics: PrefillDecodeTests.page(computed: 10, cacheHit: 0, received: 990, generated: 50, requests: 1))
            #expect(try await input() == 360)
            await server.stop()
        }
    }
    @Test(arguments: [
        (["vllm", "serve", "m", "--kv-transfer-config", #"{"kv_connector":"NixlConnector","kv_role":"kv_producer"}"#], InferenceRole.prefill),
        (["vllm", "serve", "m", #"--kv-transfer-config={"kv_role":"kv_consumer"}"#], .decode),
        (["vllm", "serve", "m", "--kv-transfer-config", #"{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}"#], .both),
        (["python3", "-m", "sglang.launch_server", "--disaggregation-mode", "decode"], .decode),
        (["python3", "-m", "sglang.launch_server", "--disaggregation-mode=prefill"], .prefill),
        (["python3", "-m", "sglang.launch_server", "--disaggregation-mode", "null"], nil),
        (["vllm", "serve", "m"], nil),
        // Hostile: a flag without its value, JSON that is not, a role that is none.
        (["vllm", "serve", "--kv-transfer-config"], nil),
        (["vllm", "--kv-transfer-config", #"{"kv_role":"#], nil),
        (["vllm", "--kv-transfer-config", #"{"kv_role":"kv_everything"}"#], nil),
    ] as [([String], InferenceRole?)])
    func aServersFlagsSayItsRole(_ arguments: [String], _ expected: InferenceRole?) {
        #expect(InferenceRole(commandLine: arguments) == expected)
    }

    /// A server with no role configured gets the one its process's flags give: the process is
    /// found by the socket that listens on the server's port.
    @Test func anUnconfiguredServerTakesItsRoleFromTheProcessListeningOnItsPort() async throws {
        let decode = FakeInferenceServer(.init(metrics: PrefillDecodeTests.decode))
        try await decode.start()
        let procfs = try FixtureTree([
            "net/tcp": """
                  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
                   0: 0100007F:\(String(format: "%04X", decode.port)) 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4711 1 0 100 0 0 10 0

                """,
            "31337/cmdline": ["vllm", "serve", PrefillDecodeTests.model, "--kv-transfer-config", #"{"kv_role":"kv_consumer"}"#].joined(separator: "\u{0}") + "\u{0}",
            "1/cmdline": "/sbin/init\u{0}",
        ])
        defer { procfs.remove() }
        try procfs.link("31337/fd/7", to: "socket:[4711]")
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: decode.url, kind: .vllm), client: client, store: nil,
                                                            procfs: SystemFiles(root: procfs.root)))
            let samples = try await collector.collect()
            await decode.stop()
            // A decode server: its output and requests, none of its prompt.
            #expect(total(samples, "tokenwatt_tokens_total", ["type": "input", "role": "decode"]) == nil)
            #expect(total(samples, "tokenwatt_tokens_total", ["type": "output", "role": "decode"]) == 50_000)
            #expect(total(samples, "tokenwatt_requests_total", ["role": "decode"]) == 100)
        }
    }
}
