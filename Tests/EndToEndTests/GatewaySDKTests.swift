import Foundation
import Testing
import TokenWattTestSupport

/// The real `openai` and `anthropic` Python SDKs (PyPI) through `tokenwatt-gateway`, as an
/// application uses them: they only change their base URL and key. JSON answers, streams with
/// and without usage, the Responses API, Anthropic's messages and streams, streams the caps
/// end early (`finish_reason: "length"`, `stop_reason: "max_tokens"`), a wrong key (401) and a
/// caller past its rate cap (429 with `Retry-After`), each as the SDK's own type; and the
/// gateway counts what the upstream answered.
@Suite(.serialized) struct GatewaySDKTests {
    static let script = #"""
        import json, os, sys
        import anthropic, openai
        base, out = os.environ["GATEWAY"], {}
        hi = [{"role": "user", "content": "hi"}]
        client = openai.OpenAI(base_url=base + "/v1", api_key="sk-sdk", max_retries=0)
        answer = client.chat.completions.create(model="gpt-sdk-json", max_tokens=11, messages=hi)
        out["json"] = [answer.choices[0].message.content, answer.usage.prompt_tokens, answer.usage.completion_tokens]
        chunks = list(client.chat.completions.create(model="gpt-sdk-usage", max_tokens=12, messages=hi, stream=True, stream_options={"include_usage": True}))
        out["stream_usage"] = ["".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].usage.completion_tokens,
                               (chunks[-1].model_extra or {}).get("tokenwatt", {}).get("currency")]
        chunks = list(client.chat.completions.create(model="gpt-sdk-stream", max_tokens=13, messages=hi, stream=True))
        out["stream"] = ["".join(c.choices[0].delta.content or "" for c in chunks if c.choices), any(c.usage for c in chunks)]
        response = client.responses.create(model="gpt-sdk-responses", input="hi", max_output_tokens=14)
        out["responses"] = [response.output_text, response.usage.input_tokens, response.usage.output_tokens]
        claude = anthropic.Anthropic(base_url=base, api_key="sk-sdk", max_retries=0)
        message = claude.messages.create(model="claude-sdk-json", max_tokens=15, messages=hi)
        out["anthropic"] = [message.content[0].text, message.usage.input_tokens, message.usage.output_tokens]
        with claude.messages.stream(model="claude-sdk-stream", max_tokens=16, messages=hi) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        out["anthropic_stream"] = [text, final.usage.input_tokens, final.usage.output_tokens]
        long = {"x-test-chunks": "2000"}
        chunks = list(client.chat.completions.create(model="gpt-cut", max_tokens=50, messages=hi, stream=True, extra_headers=long))
        out["cut"] = [[c.choices[0].finish_reason for c in chunks if c.choices][-1], "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).count("tok")]
        with claude.messages.stream(model="claude-cut", max_tokens=50, messages=hi, extra_headers=long) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        out["anthropic_cut"] = [final.stop_reason, text.count("tok")]
        try:
            openai.OpenAI(base_url=base + "/v1", api_key="sk-nobody", max_retries=0).chat.completions.create(model="gpt-sdk-json", max_tokens=5, messages=hi)
        except openai.AuthenticationError as error:
            out["401"] = [error.status_code, error.body.get("type") if isinstance(error.body, dict) else str(error.body)]
        limited = openai.OpenAI(base_url=base + "/v1", api_key="sk-limited", max_retries=0)
        limited.chat.completions.create(model="gpt-sdk-limited", max_tokens=5, messages=hi)
        try:
            limited.chat.completions.create(model="gpt-sdk-limited", max_tokens=5, messages=hi)
        except openai.RateLimitError as error:
            out["429"] = [error.status_code, error.response.headers.get("retry-after")]
        try:
            anthropic.Anthropic(base_url=base, api_key="sk-limited", max_retries=0).messages.create(model="claude-sdk-json", max_tokens=5, messages=hi)
        except anthropic.RateLimitError as error:
            out["anthropic_429"] = [error.status_code, error.response.headers.get("retry-after")]
        print(json.dumps(out))
        """#

    @Test func theOpenAIAndAnthropicSDKsWorkThroughTheGatewayAsAgainstTheirAPIs() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            let directory = try Environment.temporaryDirectory("gateway-sdk")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let aggregatorPort = Environment.freePort()
            let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, gateways: ["gw-0": "gw-token-0"], config: """
                cloud_prices: [{match: "gpt-.*", input: 1, output: 2}, {match: "claude-.*", input: 3, output: 15}]
                budgets:
                  - {name: cap, match: {team: research}, measure: usd, limit: 100, action: block}
                  - {name: cut-gpt, match: {model: gpt-cut}, measure: tokens, limit: 1000, action: block}
                  - {name: cut-claude, match: {model: claude-cut}, measure: tokens, limit: 1000, action: block}
                """)
            let gateway = try await RunningGateway.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "gw-token-0",
                                                         environment: ["KEY": "sk-sdk", "LIMITED": "sk-limited"], config: """
                usage: {attributes: [team]}
                callers:
                  - {key_env: KEY, labels: {team: research}}
                  - {key_env: LIMITED, labels: {team: ops}, rate_limit: {requests_per_minute: 1, cool_down: 2m}}
                routes:
                  - {match: "gpt-.*", upstream: "\(upstream.url)"}
                  - {match: "claude-.*", upstream: "\(upstream.url)", api: anthropic}
                """)
            try GatewaySDKTests.script.write(toFile: "\(directory)/sdk.py", atomically: true, encoding: .utf8)
            let run = try await ChildProcess.run(Environment.python, ["\(directory)/sdk.py"], directory: directory, environment: ["GATEWAY": gateway.url])
            #expect(run.status == 0, "\(run.output)")
            let line = try #require(run.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(run.output)")
            let out = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: [Any]])
            let input = StandInUpstream.inputTokens
            func row(_ key: String) -> String { (out[key] ?? []).map { "\($0)" }.joined(separator: " ") }
            #expect(row("json") == "hello \(input) 11")
            // The usage chunk, last, with what the answer cost beside it.
            #expect(row("stream_usage") == "tok tok tok  12 USD")
            #expect(row("stream") == "tok tok tok  0")
            #expect(row("responses") == "hello \(input) 14")
            #expect(row("anthropic") == "hello \(input) 15")
            #expect(row("anthropic_stream") == "tok tok tok  \(input) 16")
            // Streams past what the caps can lend, ended the way the APIs end one at their limit, as the SDKs read them.
            for (key, reason) in [("cut", "length"), ("anthropic_cut", "max_tokens")] {
                let answer = out[key] ?? []
                #expect(answer.count == 2 && "\(answer[0])" == reason && (50...1_000).contains(Int("\(answer[1])") ?? 0), "\(key): \(answer)")
            }
            #expect(row("401").hasPrefix("401 "), "\(row("401"))")
            for key in ["429", "anthropic_429"] {
                let answer = out[key] ?? []
                #expect(answer.count == 2 && "\(answer[0])" == "429" && (Int("\(answer[1])") ?? 0) > 0, "\(key): \(answer)")
            }
            // The gateway counted what the upstream answered, each model for the caller's team.
            let counted = try await HTTP.waitFor("the gateway to count the SDKs' requests") { () -> String? in
                let text = try await gateway.metrics()
                return GatewayTests.sum(text, "tokenwatt_tokens_total", ["model=\"claude-sdk-stream\"", "type=\"output\""]) == 16 ? text : nil
            }
            for (model, output) in [("gpt-sdk-json", 11), ("gpt-sdk-usage", 12), ("gpt-sdk-stream", 13), ("gpt-sdk-responses", 14), ("claude-sdk-json", 15)] {
                #expect(GatewayTests.sum(counted, "tokenwatt_tokens_total", ["model=\"\(model)\"", "type=\"output\"", "team=\"research\""]) == Double(output), "\(model)")
            }
            #expect(GatewayTests.sum(counted, "tokenwatt_gateway_requests_total", ["outcome=\"rate_limited\""]) == 2)
            #expect(GatewayTests.sum(counted, "tokenwatt_gateway_requests_total", ["outcome=\"unauthorized\""]) == 1)
            _ = aggregator
        }
    }
}
