import AsyncHTTPClient
import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattService
import TokenWattTestSupport
@testable import TokenWattAgent
@testable import TokenWattSender
@testable import TokenWattConfiguration

/// What one fixture must become: the figures of one model, by series name and type.
struct InferenceExpectation: Sendable, CustomTestStringConvertible {
    var fixture: String
    var kind: InferenceServerKind
    var model: String
    var tokens: [TokenType: Double]
    var requests: Double?
    var running: Double?
    var waiting: Double?
    var kvCacheUsage: Double?
    var contentType = "text/plain; version=0.0.4; charset=utf-8"
    var metricsPath = "/metrics"
    var configuredModel: String?
    var servedModels: [String] = []

    var testDescription: String { fixture }
}



/// The sum of the exported series with this name and these labels; nil when there are none.
func total(_ samples: [ExpositionSample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    let matching = samples.filter { sample in
        sample.name == name && labels.allSatisfy { label in sample.labels.contains(Label(label.key, label.value)) }
    }
    return matching.isEmpty ? nil : matching.map(\.value).reduce(0, +)
}

@Suite(.serialized) struct InferenceCollectorTests {
    static let llama70B = "meta-llama/Llama-3.1-70B-Instruct"
    static let qwen7B = "Qwen/Qwen2.5-7B-Instruct"
    static let llama8B = "meta-llama/Llama-3.1-8B-Instruct"

    static let expectations: [InferenceExpectation] = [
        // Two data-parallel engines summed; _created and the iteration histogram left out;
        // requests summed over finish reasons.
        .init(fixture: "vllm", kind: .vllm, model: llama70B, tokens: [.input: 2_000_000, .output: 400_000],
              requests: 1_540, running: 5, waiting: 1, kvCacheUsage: 0.31),
        .init(fixture: "vllm-v0", kind: .vllm, model: qwen7B, tokens: [.input: 5_000, .output: 7_000], requests: 30, running: 4, waiting: 2,
              kvCacheUsage: 0.5),
        .init(fixture: "vllm-openmetrics", kind: .vllm, model: qwen7B, tokens: [.input: 5_000, .output: 7_000],
              contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        .init(fixture: "sglang", kind: .sglang, model: "deepseek-ai/DeepSeek-V3",
              tokens: [.input: 3_500_000, .output: 420_000, .cachedInput: 1_100_000], requests: 2_100, running: 12, waiting: 5, kvCacheUsage: 0.62),
        // The earliest versions: model in `name`, token counters typed as gauges.
        .init(fixture: "sglang-early", kind: .sglang, model: "mistralai/Mistral-7B-Instruct-v0.3", tokens: [.input: 1_000, .output: 2_000]),
        // Only the tokens by phase: prompt = computed + cached, output = decoded; _created left out.
        .init(fixture: "sglang-realtime", kind: .sglang, model: "Qwen/Qwen3-32B",
              tokens: [.input: 3_000_000, .output: 150_000, .cachedInput: 2_700_000], requests: 300, running: 7, waiting: 0, kvCacheUsage: 0.41),
        // No model label: the configured name wins over /v1/models.
        .init(fixture: "tgi", kind: .tgi, model: "bigscience/bloom-560m", tokens: [.input: 2_140, .output: 980],
              requests: 12, running: 7, waiting: 3, configuredModel: "bigscience/bloom-560m", servedModels: ["other"]),
        .init(fixture: "tgi-total", kind: .tgi, model: "HuggingFaceH4/zephyr-7b-beta", tokens: [.input: 2_140, .output: 980],
              requests: 12, servedModels: ["HuggingFaceH4/zephyr-7b-beta"]),
        // Exponent notation; the model from /v1/models.
        .init(fixture: "llamacpp", kind: .llamacpp, model: "gemma-2-9b-it-Q4_K_M.gguf", tokens: [.input: 12_345, .output: 6_789],
              running: 1, waiting: 0, servedModels: ["gemma-2-9b-it-Q4_K_M.gguf"]),
        .init(fixture: "lmdeploy", kind: .lmdeploy, model: "internlm/internlm2_5-7b-chat", tokens: [.input: 4_000, .output: 1_000]),
        // Prometheus text at /prometheus/metrics, JSON at /metrics.
        .init(fixture: "trtllm", kind: .trtllm, model: "nvidia/Llama-3.1-8B-Instruct-FP8",
              tokens: [.input: 64_000, .output: 32_000, .cachedInput: 16_000], requests: 100, metricsPath: "/prometheus/metrics"),
        .init(fixture: "trtllm-old", kind: .trtllm, model: "nvidia/Llama-3.1-8B-Instruct-FP8", tokens: [.input: 640, .output: 320],
              metricsPath: "/prometheus/metrics"),
        .init(fixture: "triton-trtllm", kind: .triton, model: "tensorrt_llm", tokens: [.input: 53_760, .output: 26_880], requests: 210),
        // Triton's vLLM backend re-exports vllm:* with Triton's labels: still Triton.
        .init(fixture: "triton-vllm", kind: .triton, model: "vllm_model", tokens: [.input: 9_000, .output: 4_500], requests: 75),
        .init(fixture: "dynamo", kind: .dynamo, model: "qwen/qwen3-0.6b", tokens: [.input: 6_400, .output: 12_800],
              requests: 50, running: 2, waiting: 1),
        // Cached input, as each server counts it. vLLM 0.10: prefix-cache hits (their deprecated
        // gpu_ twins read once).
        .init(fixture: "vllm-v1-prefix-cache", kind: .vllm, model: llama8B, tokens: [.input: 150_000, .cachedInput: 90_000, .output: 12_000],
              requests: 22, running: 6, waiting: 1, kvCacheUsage: 0.42),
        // vLLM 0.3x: the prompt by source; KV received from outside is not this server's input.
        .init(fixture: "vllm-v1-by-source", kind: .vllm, model: llama8B, tokens: [.input: 950_000, .cachedInput: 850_000, .output: 50_000],
              requests: 100, running: 3, waiting: 0, kvCacheUsage: 0.58),
        .init(fixture: "dynamo-cached", kind: .dynamo, model: "qwen/qwen3-32b", tokens: [.input: 4_000_000, .cachedInput: 3_600_000, .output: 200_000],
              requests: 400, running: 6, waiting: 0),
    ]

    @Test(arguments: expectations)
    func everyServerKindIsRecognisedAndNormalised(_ expected: InferenceExpectation) async throws {
        let server = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture(expected.fixture), contentType: expected.contentType,
                                               metricsPath: expected.metricsPath, models: expected.servedModels))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url, model: expected.configuredModel),
                                                            client: client, store: nil))
            let samples = try await collector.collect()
            await server.stop()

            let identity = ["model": expected.model, "source": expected.kind.rawValue, "server": "127.0.0.1:\(server.port)"]
            for type in TokenType.allCases {
                #expect(total(samples, "tokenwatt_tokens_total", identity.merging(["type": type.rawValue]) { $1 }) == expected.tokens[type],
                        "\(type)")
            }
            #expect(total(samples, "tokenwatt_requests_total", identity) == expected.requests)
            #expect(total(samples, "tokenwatt_inference_requests_running", identity) == expected.running)
            #expect(total(samples, "tokenwatt_inference_requests_waiting", identity) == expected.waiting)
            #expect(total(samples, "tokenwatt_inference_kv_cache_usage_ratio", identity) == expected.kvCacheUsage)
            // Every series carries the model, the source and the server.
            for sample in samples {
                #expect(Set(sample.labels.map(\.name)).isSuperset(of: ["model", "source", "server"]))
            }
        }
    }

    /// Tokens carry the team and project they belong to: the model's rule over the server's
    /// labels over the node's default, label by label.
    @Test func tokensCarryTheirAttribution() async throws {
        let server = FakeInferenceServer(.init(metrics: """
            # TYPE vllm:generation_tokens_total counter
            vllm:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B"} 10
            vllm:generation_tokens_total{model_name="Qwen/Qwen2.5-7B"} 20
            """ + "\n"))
        try await server.start()
        try await withClient { client in
            var configured = InferenceServer(url: server.url, kind: .vllm)
            configured.attribution = Attribution(labels: ["team": "platform", "project": "serving"],
                                                 models: [try Attribution.ModelRule(pattern: "meta-llama/.*", labels: ["team": "research"])])
            let collector = try #require(InferenceCollector(server: configured, client: client, store: nil, nodeLabels: ["team": "ops", "agent": "batch"]))
            let samples = try await collector.collect().filter { $0.name == "tokenwatt_tokens_total" }
            func labels(_ model: String) -> [String: String] {
                Dictionary(uniqueKeysWithValues: (samples.first { $0.labels.contains(Label("model", model)) }?.labels ?? []).map { ($0.name, $0.value) })
            }
            #expect(labels("meta-llama/Llama-3.1-8B")["team"] == "research")
            #expect(labels("meta-llama/Llama-3.1-8B")["project"] == "serving")
            #expect(labels("meta-llama/Llama-3.1-8B")["agent"] == "batch")
            #expect(labels("Qwen/Qwen2.5-7B")["team"] == "platform")
            #expect(samples.allSatisfy { $0.labels == $0.labels.sorted { $0.name < $1.name } })
        }
        await server.stop()
    }

    @Test func aPageOfTooManySeriesFailsTheCollectorInsteadOfFillingMemory() async throws {
        let lines = (0..<60_000).map { "vllm:prompt_tokens_total{model_name=\"m\",engine=\"\($0)\"} 1" }
        let server = FakeInferenceServer(.init(metrics: "# TYPE vllm:prompt_tokens_total counter\n" + lines.joined(separator: "\n") + "\n"))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url, kind: .vllm), client: client, store: nil))
            await #expect { _ = try await collector.collect() } throws: { "\($0)".contains("more than 50000 samples") }
        }
        await server.stop()
    }

    @Test func aServerThatDripsItsPageIsCutOffAtTheDeadline() async throws {
        let server = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("vllm"), drips: true))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url, kind: .vllm), client: client, store: nil))
            let clock = ContinuousClock()
            let elapsed = await clock.measure {
                await #expect { _ = try await collector.collect() } throws: { "\($0)".contains("did not answer in full") }
            }
            #expect(elapsed < .seconds(10), "took \(elapsed)")
        }
        await server.stop()
    }

    @Test func aModelNamedNowhereIsUnknown() async throws {
        let server = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("llamacpp")))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url), client: client, store: nil))
            let samples = try await collector.collect()
            await server.stop()
            #expect(total(samples, "tokenwatt_tokens_total", ["model": "unknown", "type": "input"]) == 12_345)
        }
    }

    /// vllm-v0 with its counters at `input` prompt and `output` generation tokens.
    static func vllmV0(input: Double, output: Double) -> String {
        """
        # TYPE vllm:prompt_tokens_total counter
        vllm:prompt_tokens_total{model_name="\(qwen7B)"} \(input)
        # TYPE vllm:generation_tokens_total counter
        vllm:generation_tokens_total{model_name="\(qwen7B)"} \(output)

        """
    }

    @Test func aServerRestartIsAResetAndTheAgentsRestartNeitherRecountsNorForgets() async throws {
        let directory = try Environment.temporaryDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try CounterStore(path: directory + "/counters.sqlite")
        let server = FakeInferenceServer(.init(metrics: InferenceCollectorTests.vllmV0(input: 5_000, output: 7_000)))
        try await server.start()
        try await withClient { client in
            let configured = InferenceServer(url: server.url, kind: .vllm)
            func input(_ collector: InferenceCollector) async throws -> Double? {
                total(try await collector.collect(), "tokenwatt_tokens_total", ["type": "input"])
            }

            let collector = try #require(InferenceCollector(server: configured, client: client, store: store))
            #expect(try await input(collector) == 5_000)  // the server's own count at first sight
            server.set(metrics: InferenceCollectorTests.vllmV0(input: 100, output: 10))  // restarted: a reset
            #expect(try await input(collector) == 5_100)
            server.set(metrics: InferenceCollectorTests.vllmV0(input: 300, output: 20))
            #expect(try await input(collector) == 5_300)

            // The agent restarts: the same reading adds nothing, not 300 again.
            let restarted = try #require(InferenceCollector(server: configured, client: client, store: store))
            #expect(try await input(restarted) == 5_300)
            // The server restarted while the agent was away: its new count is added.
            server.set(metrics: InferenceCollectorTests.vllmV0(input: 50, output: 5))
            #expect(try await input(restarted) == 5_350)
            #expect(total(try await restarted.collect(), "tokenwatt_tokens_total", ["type": "output"]) == 7_025)
            await server.stop()
        }
    }

    /// SGLang's tokens by phase: the cached prompt tokens count as input and as cached input.
    static func sglangRealtime(compute: Int, cache: Int, decode: Int) -> String {
        """
        # TYPE sglang:realtime_tokens_total counter
        sglang:realtime_tokens_total{mode="prefill_compute",model_name="m"} \(compute)
        sglang:realtime_tokens_total{mode="prefill_cache",model_name="m"} \(cache)
        sglang:realtime_tokens_total{mode="decode",model_name="m"} \(decode)

        """
    }

    @Test func aRawSeriesReadAsTwoFiguresIsCountedOnceInEachAcrossRestarts() async throws {
        let directory = try FixtureTree()
        defer { directory.remove() }
        let store = try CounterStore(path: directory.root + "/counters.sqlite")
        let server = FakeInferenceServer(.init(metrics: InferenceCollectorTests.sglangRealtime(compute: 100, cache: 900, decode: 50)))
        try await server.start()
        try await withClient { client in
            let configured = InferenceServer(url: server.url, kind: .sglang)
            func tokens(_ collector: InferenceCollector) async throws -> [Double?] {
                let samples = try await collector.collect()
                return TokenType.allCases.map { total(samples, "tokenwatt_tokens_total", ["type": $0.rawValue]) }
            }
            // input, output, cached_input, reasoning
            let collector = try #require(InferenceCollector(server: configured, client: client, store: store))
            #expect(try await tokens(collector) == [1_000, 50, 900, nil])
            server.set(metrics: InferenceCollectorTests.sglangRealtime(compute: 150, cache: 1_000, decode: 60))
            #expect(try await tokens(collector) == [1_150, 60, 1_000, nil])
            // The agent restarts, then the server: neither re-counts, neither goes back.
            let restarted = try #require(InferenceCollector(server: configured, client: client, store: store))
            #expect(try await tokens(restarted) == [1_150, 60, 1_000, nil])
            server.set(metrics: InferenceCollectorTests.sglangRealtime(compute: 10, cache: 20, decode: 5))
            #expect(try await tokens(restarted) == [1_180, 65, 1_020, nil])
            await server.stop()
        }
    }

    @Test func anEngineThatGoesAwayKeepsItsCountInTheSum() async throws {
        let server = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("vllm")))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url), client: client, store: nil))
            #expect(total(try await collector.collect(), "tokenwatt_tokens_total", ["type": "input"]) == 2_000_000)
            server.set(metrics: """
                # TYPE vllm:prompt_tokens_total counter
                vllm:prompt_tokens_total{engine="0",model_name="\(InferenceCollectorTests.llama70B)"} 1200010

                """)
            #expect(total(try await collector.collect(), "tokenwatt_tokens_total", ["type": "input"]) == 2_000_010)
            await server.stop()
        }
    }

    @Test func aServerThatGoesAwayIsDownWithoutZerosAndCountsOnWhenBack() async throws {
        let server = FakeInferenceServer(.init(metrics: InferenceCollectorTests.vllmV0(input: 1_000, output: 500)))
        try await server.start()
        let port = server.port
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url), client: client, store: nil))
            let scheduler = CollectorScheduler(collectors: [collector], interval: .seconds(10), logger: Logger(label: "test"))
            #expect(total(await scheduler.collectOnce(), "tokenwatt_tokens_total", ["type": "input"]) == 1_000)

            await server.stop()
            let whileDown = await scheduler.collectOnce()
            #expect(total(whileDown, "tokenwatt_tokens_total") == nil)
            #expect(total(whileDown, "tokenwatt_collector_up", ["collector": "inference:127.0.0.1:\(port)"]) == 0)
            guard case .failed(let reason)? = scheduler.failures()[collector.name] else {
                Issue.record("no failure recorded")
                return
            }
            #expect(reason.contains("cannot reach http://127.0.0.1:\(port)/metrics"))

            server.set(metrics: InferenceCollectorTests.vllmV0(input: 1_200, output: 600))
            try await server.start(port: port)
            let back = await scheduler.collectOnce()
            #expect(total(back, "tokenwatt_tokens_total", ["type": "input"]) == 1_200)
            #expect(total(back, "tokenwatt_collector_up", ["collector": "inference:127.0.0.1:\(port)"]) == 1)
            await server.stop()
        }
    }

    @Test func somethingElseOnThePortIsNotAnInferenceServer() async throws {
        let server = FakeInferenceServer(.init(metrics: "# TYPE go_goroutines gauge\ngo_goroutines 12\n"))
        try await server.start()
        try await withClient { client in
            let collector = try #require(InferenceCollector(server: InferenceServer(url: server.url), client: client, store: nil))
            await #expect(throws: CollectorError.self) { try await collector.collect() }
            await server.stop()
        }
    }

    @Test func discoveryFindsServersOnTheGivenPortsAndAddsTheirCollectors() async throws {
        let vllm = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("vllm")))
        let trtllm = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("trtllm"), metricsPath: "/prometheus/metrics"))
        let other = FakeInferenceServer(.init(metrics: "# TYPE up gauge\nup 1\n"))
        try await vllm.start()
        try await trtllm.start()
        try await other.start()
        let closed = FakeInferenceServer()
        try await closed.start()
        await closed.stop()
        try await withClient { client in
            let scheduler = CollectorScheduler(collectors: [], interval: .seconds(10), logger: Logger(label: "test"))
            let discovery = InferenceDiscovery(ports: [vllm.port, trtllm.port, other.port, closed.port], every: .seconds(300),
                                               configured: [], client: client, store: nil, scheduler: scheduler, logger: Logger(label: "test"))
            await discovery.probe()
            #expect(Set(scheduler.collectorNames) == ["inference:127.0.0.1:\(vllm.port)", "inference:127.0.0.1:\(trtllm.port)"])
            // A second probe adds nothing twice.
            await discovery.probe()
            #expect(scheduler.collectorNames.count == 2)
            let samples = await scheduler.collectOnce()
            #expect(total(samples, "tokenwatt_tokens_total", ["source": "vllm", "type": "input"]) == 2_000_000)
            #expect(total(samples, "tokenwatt_tokens_total", ["source": "trtllm", "type": "cached_input"]) == 16_000)
            await vllm.stop()
            await trtllm.stop()
            await other.stop()
        }
    }

    @Test func configuredServersAreNotProbedTwice() async throws {
        let vllm = FakeInferenceServer(.init(metrics: try FakeInferenceServer.fixture("vllm")))
        try await vllm.start()
        try await withClient { client in
            let scheduler = CollectorScheduler(collectors: [], interval: .seconds(10), logger: Logger(label: "test"))
            let discovery = InferenceDiscovery(ports: [vllm.port], every: .seconds(300), configured: [InferenceServer(url: vllm.url + "/")],
                                               client: client, store: nil, scheduler: scheduler, logger: Logger(label: "test"))
            await discovery.probe()
            #expect(scheduler.collectorNames.isEmpty)
            await vllm.stop()
        }
    }
}
