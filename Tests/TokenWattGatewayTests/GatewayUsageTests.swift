import Foundation
import Testing
import TokenWattCore
@testable import TokenWattGateway

/// The metering gateway's reading of requests and answers, in OpenAI's and Anthropic's formats.
@Suite struct GatewayUsageTests {
    @Test func aRequestSaysItsModelStreamingAndWorstCase() throws {
        let chat = Array(#"{"model":"gpt-4o-mini","stream":true,"max_tokens":256,"messages":[{"role":"user","content":"hi"}]}"#.utf8)
        let shape = try GatewayUsage.shape(of: chat)
        #expect(shape == .init(model: "gpt-4o-mini", stream: true, asksForUsage: false, maxOutputTokens: 256, estimatedInputTokens: (chat.count + 2) / 3))
        #expect(try GatewayUsage.shape(of: Array(#"{"model":"gpt-5","input":"x","max_output_tokens":9}"#.utf8)).maxOutputTokens == 9)
        #expect(try GatewayUsage.shape(of: Array(#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#.utf8)).asksForUsage)
        #expect(throws: GatewayUsage.Invalid.self) { try GatewayUsage.shape(of: Array(#"{"messages":[]}"#.utf8)) }
        #expect(throws: GatewayUsage.Invalid.self) { try GatewayUsage.shape(of: Array("not json".utf8)) }
    }

    /// The output limit the reservation is priced on is the one the upstream will obey: a
    /// limit the gateway cannot read as tokens, or one given twice, is refused, not left to
    /// the default while an upstream that coerces "100000" spends up to it.
    @Test(arguments: [
        // (body, limit read; nil: refused)
        (#"{"model":"m","max_tokens":100.0}"#, 100),
        (#"{"model":"m","max_tokens":null}"#, 4096),
        (#"{"model":"m","max_\u0074okens":7}"#, 7),
        (#"{"model":"m","max_tokens":"100000"}"#, nil),
        (#"{"model":"m","max_tokens":true}"#, nil),
        (#"{"model":"m","max_tokens":-1}"#, nil),
        (#"{"model":"m","max_tokens":1.5}"#, nil),
        (#"{"model":"m","max_tokens":1e30}"#, nil),
        (#"{"model":"m","max_tokens":[1]}"#, nil),
        (#"{"model":"m","max_tokens":1,"max_tokens":100000}"#, nil),
        (#"{"model":"m","max_tokens":1,"max_\u0074okens":100000}"#, nil),
    ] as [(String, Int?)])
    func anOutputLimitIsReadAsTheUpstreamReadsItOrRefused(body: String, limit: Int?) {
        let shape = try? GatewayUsage.shape(of: Array(body.utf8))
        #expect(shape.map { $0.maxOutputTokens ?? 4096 } == limit)
    }

    @Test func streamingOpenAIRequestsAskForTheUsageChunk() throws {
        let body = Array(#"{"model":"m","stream":true}"#.utf8)
        let forwarded = GatewayUsage.forwardedBody(body, shape: try GatewayUsage.shape(of: body), path: "/v1/chat/completions")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(forwarded)) as? [String: Any])
        #expect((object["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
        #expect(GatewayUsage.forwardedBody(body, shape: try GatewayUsage.shape(of: body), path: "/v1/messages") == body)
        #expect(GatewayUsage.forwardedBody(body, shape: try GatewayUsage.shape(of: body), path: "/v1/responses") == body)
        // A request with stream_options of its own keeps them, include_usage added.
        let withOptions = Array(#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}"#.utf8)
        let merged = try #require(try JSONSerialization.jsonObject(with: Data(GatewayUsage.forwardedBody(withOptions, shape: try GatewayUsage.shape(of: withOptions),
                                                                                                          path: "/v1/completions"))) as? [String: Any])
        #expect(merged["stream_options"] as? [String: Bool] == ["continuous_usage_stats": false, "include_usage": true])
        let plain = Array(#"{"model":"m"}"#.utf8)
        #expect(GatewayUsage.forwardedBody(plain, shape: try GatewayUsage.shape(of: plain), path: "/v1/chat/completions") == plain)
    }

    @Test(arguments: [
        // (answer, input, cached, output, reasoning)
        (#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":60},"completion_tokens_details":{"reasoning_tokens":5}}}"#, 100, 60, 20, 5),
        (#"{"output":[],"usage":{"input_tokens":50,"output_tokens":10,"input_tokens_details":{"cached_tokens":40},"output_tokens_details":{"reasoning_tokens":3}}}"#, 50, 40, 10, 3),
        (#"{"content":[],"usage":{"input_tokens":7,"cache_creation_input_tokens":3,"cache_read_input_tokens":90,"output_tokens":12}}"#, 100, 90, 12, 0),
        (#"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#, 8, 0, 0, 0),
    ] as [(String, Int, Int, Int, Int)])
    func anAnswersUsageKeepsCachedAndReasoningApart(answer: String, input: Int, cached: Int, output: Int, reasoning: Int) throws {
        let usage = GatewayUsage.usage(inAnswer: Array(answer.utf8), model: "m", requestBytes: 40)
        #expect(!usage.estimated)
        let counts: [Int] = [usage.inputTokens, usage.cachedInputTokens, usage.outputTokens, usage.reasoningTokens]
        #expect(counts == [input, cached, output, reasoning])
    }

    static let openAIStream = """
        data: {"choices":[{"delta":{"content":"Hel"}}],"usage":null}

        data: {"choices":[{"delta":{"content":"lo"}}],"usage":null}

        data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}

        data: [DONE]


        """

    /// Fed whole or a byte at a time, the stream gives the same usage and the same bytes.
    @Test(arguments: [false, true])
    func openAIsUsageChunkIsReadAndKeptFromClientsThatDidNotAskForIt(byteByByte: Bool) {
        for strip in [true, false] {
            var scanner = GatewayUsage.StreamScanner(model: "m", stripUsageChunk: strip)
            let bytes = Array(GatewayUsageTests.openAIStream.utf8)
            var passed = byteByByte ? bytes.flatMap { scanner.feed([$0]) } : scanner.feed(bytes)
            passed += scanner.finish()
            #expect(scanner.usage?.inputTokens == 11 && scanner.usage?.outputTokens == 2 && scanner.usage?.cachedInputTokens == 4)
            let text = String(decoding: passed, as: UTF8.self)
            #expect(text.contains("\"usage\":{") == !strip)
            #expect(text.contains("Hel") && text.contains("[DONE]"))
        }
    }

    @Test func anthropicsStreamGivesInputAtTheStartAndOutputAtTheEnd() {
        let stream = """
            event: message_start\r
            data: {"type":"message_start","message":{"usage":{"input_tokens":5,"cache_read_input_tokens":20,"output_tokens":1}}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","delta":{"text":"Hi"}}\r
            \r
            event: message_delta\r
            data: {"type":"message_delta","usage":{"output_tokens":42}}\r
            \r

            """
        var scanner = GatewayUsage.StreamScanner(model: "claude", stripUsageChunk: false)
        let passed = scanner.feed(Array(stream.utf8)) + scanner.finish()
        #expect(passed == Array(stream.utf8))
        #expect(scanner.usage?.inputTokens == 25 && scanner.usage?.cachedInputTokens == 20 && scanner.usage?.outputTokens == 42)
    }

    /// An event's data may span several `data:` lines (joined by newlines) with or without the
    /// space after the colon; other fields and comments are not data.
    @Test func anEventsDataLinesAreJoined() {
        var scanner = GatewayUsage.StreamScanner(model: "m", stripUsageChunk: true)
        let stream = ": keep-alive\nid: 7\ndata:{\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n"
        let passed = scanner.feed(Array(stream.utf8)) + scanner.finish()
        #expect(scanner.usage?.inputTokens == 3 && scanner.usage?.outputTokens == 9)
        #expect(passed == Array("data: [DONE]\n\n".utf8))
    }

    @Test func theResponsesStreamCompletesWithItsUsage() {
        var scanner = GatewayUsage.StreamScanner(model: "gpt-5", stripUsageChunk: false)
        _ = scanner.feed(Array("""
            event: response.output_text.delta
            data: {"type":"response.output_text.delta","delta":"x"}

            event: response.completed
            data: {"type":"response.completed","response":{"usage":{"input_tokens":9,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":2}}}}


            """.utf8))
        #expect(scanner.usage?.inputTokens == 9 && scanner.usage?.outputTokens == 4 && scanner.usage?.reasoningTokens == 2)
    }

    /// Without a reported usage, a token per 4 bytes: of the whole request as input, of the
    /// generated text as output; labelled estimated.
    @Test func anAnswerWithoutUsageIsEstimatedFromTheRequestAndTheText() {
        let answer = #"{"choices":[{"message":{"role":"assistant","content":"twelve bytes"}}]}"#
        let usage = GatewayUsage.usage(inAnswer: Array(answer.utf8), model: "m", requestBytes: 101)
        #expect(usage.estimated && usage.inputTokens == 26 && usage.outputTokens == 3)
        var scanner = GatewayUsage.StreamScanner(model: "m", stripUsageChunk: true)
        _ = scanner.feed(Array("data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\ndata: [DONE]\n\n".utf8))
        let streamed = scanner.finalUsage(requestBytes: 8)
        #expect(streamed.estimated && streamed.inputTokens == 2 && streamed.outputTokens == 2)
    }

    /// An Anthropic stream cut before its closing usage keeps its reported input and counts
    /// the text seen so far as output (estimated), not the 1 of message_start.
    @Test func aCutAnthropicStreamCountsTheTextItGot() {
        var scanner = GatewayUsage.StreamScanner(model: "claude", stripUsageChunk: false)
        _ = scanner.feed(Array("""
            data: {"type":"message_start","message":{"usage":{"input_tokens":500,"output_tokens":1}}}

            data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"\(String(repeating: "x", count: 400))"}}


            """.utf8))
        let usage = scanner.finalUsage(requestBytes: 2_000)
        #expect(usage.inputTokens == 500 && usage.outputTokens == 100 && usage.estimated)
    }

    /// The raw measure of an event's text agrees with the decoded one (escapes aside), and a
    /// usage object is told from `"usage": null`.
    @Test(arguments: [
        #"{"choices":[{"index":0,"delta":{"content":"Hello wor"}}],"usage":null}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Grüße, 世界"}}"#,
        #"{"type":"response.output_text.delta","delta":"abc","item_id":"x"}"#,
        #"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"a\":1}"}}]}}], "delta" : "x y"}"#,
    ])
    func rawTextBytesMatchTheDecodedOnes(json: String) throws {
        let document = try JSONValue.parse(json.utf8)
        let escapes = json.components(separatedBy: "\\").count - 1
        #expect(GatewayUsage.rawTextBytes(in: Array(json.utf8)) == GatewayUsage.textBytes(in: document) + escapes)
        #expect(!GatewayUsage.hasObject(named: "usage", in: Array(json.utf8)))
        #expect(GatewayUsage.hasObject(named: "usage", in: Array(#"{"choices":[],"usage" : {"prompt_tokens":1}}"#.utf8)))
    }

    @Test func firstRangeFindsWhatTheLibrarysDoes() {
        let bytes = Array("data: {\"a\":1}\n\ndata: x\r\n\r\n\n\n".utf8)
        for needle in ["\n\n", "\r\n\r\n", "data", "x", "nothere", "\n\n\n\n\n"] {
            for from in [0, 3, 15, bytes.count - 1, bytes.count] {
                let ours = GatewayUsage.firstRange(of: Array(needle.utf8), in: bytes, from: from)
                #expect(ours == bytes[from...].firstRange(of: Array(needle.utf8)), "\(needle) from \(from)")
            }
        }
    }
}
