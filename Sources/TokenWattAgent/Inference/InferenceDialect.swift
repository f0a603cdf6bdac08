import TokenWattConfiguration
import TokenWattCore

/// Where one kind of inference server counts tokens and requests, and how to recognise it
/// (`reference/inference-servers.md`). Names changed across versions: each figure lists every
/// name it has had, and the first one present in a scrape is the one read.
struct InferenceDialect: Sendable {
    /// One way a figure is exposed.
    enum Source: Sendable {
        /// A counter, with or without `_total` (older servers omit it; one early SGLang typed
        /// its token counter as a gauge). `_created` series never match. With `only`, just the
        /// series that carry one of those labels (one `source` of vLLM's prompt tokens).
        case counter(String, only: [Label] = [])
        /// A histogram's `_sum`: the token total of servers that only keep a per-request
        /// histogram, optionally only the series with one of the labels.
        case histogramSum(String, only: [Label] = [])
        case gauge(String)

        func matches(_ sample: ExpositionSample) -> Bool {
            switch self {
            case .counter(let name, let only):
                return (sample.name == name + "_total" || sample.name == name) && Source.carries(sample, only)
            case .histogramSum(let name, let only):
                return sample.name == name + "_sum" && Source.carries(sample, only)
            case .gauge(let name):
                return sample.name == name
            }
        }

        private static func carries(_ sample: ExpositionSample, _ only: [Label]) -> Bool {
            only.isEmpty || only.contains { sample.labels.contains($0) }
        }
    }

    /// What a figure becomes.
    enum Figure: Sendable {
        /// `tokenwatt_tokens_total{type}`.
        case tokens(TokenType)
        /// Prompt tokens the server counts but did not take in as input: KV it received from
        /// another server (a prefill server's, in P/D serving) or an external KV store. They
        /// are the input of the server that computed them, so they are taken off this one's.
        case notInput
        case requests
        case running
        case waiting
        /// The share of the KV cache in use, 0–1 (the fullest engine's where there are several).
        case kvCacheUsage

        /// Whether a server of this role counts the figure: input on prefill servers, output
        /// and requests on decode servers, everything on servers that do both.
        func isCounted(by role: InferenceRole) -> Bool {
            switch self {
            case .tokens(.input), .tokens(.cachedInput), .notInput: role.countsInput
            case .tokens(.output), .tokens(.reasoning), .requests: role.countsOutput
            case .running, .waiting, .kvCacheUsage: true
            }
        }
    }

    let kind: InferenceServerKind
    /// The path of the Prometheus text (`trtllm-serve` answers JSON at `/metrics`).
    let metricsPath: String
    /// Labels that carry the model, first present wins; none for one-model-per-process servers.
    let modelLabels: [String]
    /// Metric-name prefixes that identify the server for `kind: auto`.
    let prefixes: [String]
    /// Each figure with the names it has had, newest first.
    let figures: [(Figure, [Source])]

    /// The dialect of a kind.
    static func of(_ kind: InferenceServerKind) -> InferenceDialect {
        all.first { $0.kind == kind }!
    }

    /// The dialect whose names appear in a scrape, tried in an order where servers that embed
    /// another's names come first (Triton's vLLM backend re-exports `vllm:*`).
    static func recognise(_ samples: [ExpositionSample]) -> InferenceDialect? {
        let names = Set(samples.map(\.name))
        return all.first { dialect in names.contains { name in dialect.prefixes.contains { name.hasPrefix($0) } } }
    }

    static let all: [InferenceDialect] = [
        InferenceDialect(
            kind: .triton, metricsPath: "/metrics", modelLabels: ["model"], prefixes: ["nv_inference_", "nv_llm_"],
            figures: [
                (.tokens(.input), [.histogramSum("nv_llm_input_token_len", only: [Label("response_metric_type", "total_input_tokens")]),
                                   .counter("vllm:prompt_tokens")]),
                (.tokens(.output), [.histogramSum("nv_llm_output_token_len", only: [Label("response_metric_type", "total_output_tokens")]),
                                    .counter("vllm:generation_tokens")]),
                (.requests, [.counter("nv_inference_request_success")]),
                (.waiting, [.gauge("nv_inference_pending_request_count")]),
            ]),
        InferenceDialect(
            kind: .dynamo, metricsPath: "/metrics", modelLabels: ["model"], prefixes: ["dynamo_frontend_"],
            figures: [
                (.tokens(.input), [.histogramSum("dynamo_frontend_input_sequence_tokens")]),
                (.tokens(.cachedInput), [.histogramSum("dynamo_frontend_cached_tokens")]),
                (.tokens(.output), [.counter("dynamo_frontend_output_tokens")]),
                (.requests, [.counter("dynamo_frontend_requests")]),
                (.running, [.gauge("dynamo_frontend_inflight_requests")]),
                (.waiting, [.gauge("dynamo_frontend_queued_requests")]),
            ]),
        InferenceDialect(
            kind: .vllm, metricsPath: "/metrics", modelLabels: ["model_name"], prefixes: ["vllm:"],
            figures: [
                (.tokens(.input), [.counter("vllm:prompt_tokens")]),
                // v1 engines since 0.26 split the prompt by where its KV came from.
                (.notInput, [.counter("vllm:prompt_tokens_by_source", only: [Label("source", "external_kv_transfer")])]),
                (.tokens(.cachedInput), [.counter("vllm:prompt_tokens_by_source", only: [Label("source", "local_cache_hit")]),
                                         .counter("vllm:prompt_tokens_cached"),
                                         .counter("vllm:prefix_cache_hits"), .counter("vllm:gpu_prefix_cache_hits")]),
                (.tokens(.output), [.counter("vllm:generation_tokens")]),
                (.requests, [.counter("vllm:request_success")]),
                (.running, [.gauge("vllm:num_requests_running")]),
                (.waiting, [.gauge("vllm:num_requests_waiting")]),
                (.kvCacheUsage, [.gauge("vllm:kv_cache_usage_perc"), .gauge("vllm:gpu_cache_usage_perc")]),
            ]),
        InferenceDialect(
            kind: .sglang, metricsPath: "/metrics", modelLabels: ["model_name", "name"], prefixes: ["sglang:"],
            figures: [
                // Servers without the plain counters still split their tokens by phase:
                // prompt tokens computed or found in the cache, and decoded tokens.
                (.tokens(.input), [.counter("sglang:prompt_tokens"),
                                   .counter("sglang:realtime_tokens", only: [Label("mode", "prefill_compute"), Label("mode", "prefill_cache")])]),
                (.tokens(.output), [.counter("sglang:generation_tokens"), .counter("sglang:realtime_tokens", only: [Label("mode", "decode")])]),
                (.tokens(.cachedInput), [.counter("sglang:cached_tokens"), .counter("sglang:realtime_tokens", only: [Label("mode", "prefill_cache")])]),
                (.requests, [.counter("sglang:num_requests")]),
                (.running, [.gauge("sglang:num_running_reqs")]),
                (.waiting, [.gauge("sglang:num_queue_reqs")]),
                (.kvCacheUsage, [.gauge("sglang:token_usage")]),
            ]),
        InferenceDialect(
            kind: .tgi, metricsPath: "/metrics", modelLabels: [], prefixes: ["tgi_"],
            figures: [
                (.tokens(.input), [.histogramSum("tgi_request_input_length")]),
                (.tokens(.output), [.histogramSum("tgi_request_generated_tokens")]),
                (.requests, [.counter("tgi_request_success")]),
                (.running, [.gauge("tgi_batch_current_size")]),
                (.waiting, [.gauge("tgi_queue_size")]),
            ]),
        InferenceDialect(
            kind: .llamacpp, metricsPath: "/metrics", modelLabels: [], prefixes: ["llamacpp:"],
            figures: [
                (.tokens(.input), [.counter("llamacpp:prompt_tokens")]),
                (.tokens(.output), [.counter("llamacpp:tokens_predicted")]),
                (.running, [.gauge("llamacpp:requests_processing")]),
                (.waiting, [.gauge("llamacpp:requests_deferred")]),
            ]),
        InferenceDialect(
            kind: .lmdeploy, metricsPath: "/metrics", modelLabels: ["model_name"], prefixes: ["lmdeploy:"],
            figures: [
                (.tokens(.input), [.counter("lmdeploy:prompt_tokens")]),
                (.tokens(.output), [.counter("lmdeploy:generation_tokens")]),
                (.running, [.gauge("lmdeploy:num_requests_running")]),
                (.waiting, [.gauge("lmdeploy:num_requests_waiting")]),
            ]),
        InferenceDialect(
            kind: .trtllm, metricsPath: "/prometheus/metrics", modelLabels: ["model_name"], prefixes: ["trtllm_", "trtllm:"],
            figures: [
                (.tokens(.input), [.counter("trtllm_prompt_tokens"), .counter("trtllm:prompt_tokens")]),
                (.tokens(.output), [.counter("trtllm_generation_tokens"), .counter("trtllm:generation_tokens")]),
                (.tokens(.cachedInput), [.counter("trtllm_prompt_cached_tokens"), .counter("trtllm:prompt_cached_tokens")]),
                (.requests, [.counter("trtllm_request_success"), .counter("trtllm:request_success")]),
            ]),
    ]
}
