import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TokenWattTestSupport

/// A stand-in for the gateway's upstreams, in the test process: OpenAI's Chat Completions
/// (JSON or streamed) and Responses (JSON), Anthropic's Messages (JSON or streamed), with the
/// fields their SDKs read, and a vLLM `/metrics` counting the tokens it served.
///
/// Every answer uses 20 input tokens and `max_tokens` (or `max_output_tokens`) output tokens
/// (`x-test-output` when the request names neither, 50 by default). Request headers steer it: `x-test-chunks` (text chunks of a stream, 3), `x-test-chunk-delay-ms`
/// (a pause before each, 0), `x-test-cached` (cached input tokens reported, 0), `x-test-no-usage`
/// (no usage anywhere).
final class StandInUpstream: Sendable {
    static let inputTokens = 20

    struct Tally: Sendable, Equatable {
        /// Requests received, and answers written to their end.
        var received = 0
        var finished = 0
        var input = 0
        var output = 0
    }

    private let tallies: Mutex<[String: Tally]>
    private let port = BoundPort()
    /// Keys the upstream was given, by model: the gateway's own, never a caller's.
    private let keys = Mutex<[String: Set<String>]>([:])

    var url: String { "http://127.0.0.1:\(port.value!)" }

    /// `localModels` are on `/metrics` from the start, at 0, as a server shows the model it loaded.
    init(localModels: [String] = []) {
        tallies = Mutex(Dictionary(uniqueKeysWithValues: localModels.map { ($0, Tally()) }))
    }

    func tally(_ model: String) -> Tally { tallies.withLock { $0[model] ?? Tally() } }
    func keys(_ model: String) -> Set<String> { keys.withLock { $0[model] ?? [] } }

    /// Runs the stand-in for the time of `body`.
    func run(_ body: @Sendable () async throws -> Void) async throws {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in try await self.answer(request, anthropic: false) }
        router.post("/v1/messages") { request, _ in try await self.answer(request, anthropic: true) }
        router.post("/v1/responses") { request, _ in try await self.answer(request, anthropic: false, responses: true) }
        router.get("/metrics") { _, _ in self.metrics() }
        router.get("/v1/models") { _, _ in #"{"object":"list","data":[]}"# }
        try await whileRunning(Application(router: router, configuration: .loopback, onServerRunning: port.onServerRunning)) {
            _ = try await port.wait()
            try await body()
        }
    }

    private func answer(_ request: Request, anthropic: Bool, responses: Bool = false) async throws -> Response {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: try await request.body.collect(upTo: 1 << 20))) as? [String: Any] ?? [:]
        let model = object["model"] as? String ?? "?"
        let header = { (name: String) in request.headers[HTTPField.Name(name)!] }
        let output = (object["max_tokens"] as? Int) ?? (object["max_output_tokens"] as? Int) ?? Int(header("x-test-output") ?? "") ?? 50
        let chunks = Int(header("x-test-chunks") ?? "") ?? 3
        let delay = Int(header("x-test-chunk-delay-ms") ?? "") ?? 0
        let cached = Int(header("x-test-cached") ?? "") ?? 0
        let withUsage = header("x-test-no-usage") == nil
        let key = header("authorization") ?? header("x-api-key") ?? "none"
        keys.withLock { _ = $0[model, default: []].insert(key) }
        tallies.withLock { $0[model, default: Tally()].received += 1 }
        let finish: @Sendable () -> Void = {
            self.tallies.withLock { tallies in
                tallies[model, default: Tally()].finished += 1
                tallies[model, default: Tally()].input += StandInUpstream.inputTokens
                tallies[model, default: Tally()].output += output
            }
        }
        let input = StandInUpstream.inputTokens
        let openAIUsage: [String: Any] = ["prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
                                          "prompt_tokens_details": ["cached_tokens": cached]]
        let created = Int(Date().timeIntervalSince1970)
        guard object["stream"] as? Bool == true else {
            var answer: [String: Any]
            if anthropic {
                answer = ["id": "msg_standin", "type": "message", "role": "assistant", "model": model, "content": [["type": "text", "text": "hello"]],
                          "stop_reason": "end_turn", "stop_sequence": NSNull()]
            } else if responses {
                answer = ["id": "resp_standin", "object": "response", "created_at": created, "model": model, "status": "completed",
                          "output": [["type": "message", "id": "msg_standin", "status": "completed", "role": "assistant",
                                      "content": [["type": "output_text", "text": "hello", "annotations": []]]]]]
            } else {
                answer = ["id": "chatcmpl-standin", "object": "chat.completion", "created": created, "model": model,
                          "choices": [["index": 0, "message": ["role": "assistant", "content": "hello"], "finish_reason": "stop"]]]
            }
            if withUsage {
                answer["usage"] = anthropic ? ["input_tokens": input - cached, "cache_read_input_tokens": cached, "output_tokens": output]
                    : responses ? ["input_tokens": input, "input_tokens_details": ["cached_tokens": cached], "output_tokens": output,
                                   "output_tokens_details": ["reasoning_tokens": 0], "total_tokens": input + output]
                    : openAIUsage
            }
            finish()
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: answer))))
        }
        let includeUsage = (object["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true
        func event(_ object: [String: Any], name: String? = nil) -> ByteBuffer {
            let data = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            return ByteBuffer(string: (name.map { "event: \($0)\n" } ?? "") + "data: \(data)\n\n")
        }
        // Rendered before the body's closure, which may only hold what is Sendable.
        let message: [String: Any] = ["id": "msg_standin", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": NSNull(),
                                      "stop_sequence": NSNull(), "usage": ["input_tokens": input - cached, "cache_read_input_tokens": cached, "output_tokens": 1]]
        let head = anthropic ? [event(["type": "message_start", "message": message], name: "message_start"),
                                event(["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]], name: "content_block_start")] : []
        let chunkFields: [String: Any] = ["id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": created, "model": model]
        let chunk = anthropic ? event(["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": "tok "]], name: "content_block_delta")
            : event(chunkFields.merging(["choices": [["index": 0, "delta": ["content": "tok "]]]]) { $1 })
        var tail: [ByteBuffer]
        if anthropic {
            tail = [event(["type": "content_block_stop", "index": 0], name: "content_block_stop"),
                    event(["type": "message_delta", "delta": ["stop_reason": "end_turn", "stop_sequence": NSNull()], "usage": withUsage ? ["output_tokens": output] : [:]],
                          name: "message_delta"),
                    event(["type": "message_stop"], name: "message_stop")]
        } else {
            tail = [event(chunkFields.merging(["choices": [["index": 0, "delta": [:], "finish_reason": "stop"]]]) { $1 })]
            if includeUsage && withUsage { tail.append(event(chunkFields.merging(["choices": [], "usage": openAIUsage]) { $1 })) }
            tail.append(ByteBuffer(string: "data: [DONE]\n\n"))
        }
        let ending = tail
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
            for buffer in head { try await writer.write(buffer) }
            for _ in 0..<chunks {
                if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
                try await writer.write(chunk)
            }
            for buffer in ending { try await writer.write(buffer) }
            finish()
            try await writer.finish(nil)
        })
    }

    /// vLLM's token counters for every model whose name starts with `local-`.
    private func metrics() -> String {
        let local = tallies.withLock { $0 }.filter { $0.key.hasPrefix("local-") }.sorted { $0.key < $1.key }
        var text = "# TYPE vllm:prompt_tokens_total counter\n"
        for (model, tally) in local { text += "vllm:prompt_tokens_total{model_name=\"\(model)\"} \(tally.input)\n" }
        text += "# TYPE vllm:generation_tokens_total counter\n"
        for (model, tally) in local { text += "vllm:generation_tokens_total{model_name=\"\(model)\"} \(tally.output)\n" }
        text += "# TYPE vllm:request_success_total counter\n"
        for (model, tally) in local { text += "vllm:request_success_total{finished_reason=\"stop\",model_name=\"\(model)\"} \(tally.finished)\n" }
        return text
    }
}
