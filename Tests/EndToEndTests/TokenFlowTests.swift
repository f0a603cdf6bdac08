import Foundation
import Testing
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Tokens from an inference server to Prometheus: a stand-in vLLM, the real agent and
/// aggregator binaries, and the real Prometheus 2.42 scraping the aggregator.
@Suite(.serialized) struct TokenFlowTests {
    static let model = "meta-llama/Llama-3.1-8B-Instruct"

    /// A stand-in vLLM in Python's standard library: `/metrics` in vLLM's format, `/v1/models`,
    /// and two controls: `POST /serve?input=&output=` counts one request, `POST /restart` sets
    /// every counter to zero as a restarted server does.
    static let fakeVLLM = #"""
        import http.server, sys, threading, urllib.parse
        MODEL = sys.argv[2]
        state = {"input": 5000, "output": 2000, "requests": 10}
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body, content_type="text/plain; version=0.0.4; charset=utf-8", status=200):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with lock:
                    s = dict(state)
                if self.path == "/metrics":
                    labels = f'engine="0",model_name="{MODEL}"'
                    self.reply(
                        "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
                        "# TYPE vllm:prompt_tokens_total counter\n"
                        f"vllm:prompt_tokens_total{{{labels}}} {float(s['input'])}\n"
                        "# HELP vllm:prompt_tokens_created Number of prefill tokens processed.\n"
                        "# TYPE vllm:prompt_tokens_created gauge\n"
                        f"vllm:prompt_tokens_created{{{labels}}} 1.7644e+09\n"
                        "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
                        "# TYPE vllm:generation_tokens_total counter\n"
                        f"vllm:generation_tokens_total{{{labels}}} {float(s['output'])}\n"
                        "# HELP vllm:request_success_total Count of successfully processed requests.\n"
                        "# TYPE vllm:request_success_total counter\n"
                        f'vllm:request_success_total{{engine="0",finished_reason="stop",model_name="{MODEL}"}} {float(s["requests"])}\n')
                elif self.path == "/v1/models":
                    self.reply('{"object": "list", "data": [{"id": "%s", "object": "model"}]}' % MODEL, "application/json")
                else:
                    self.reply("not found\n", status=404)

            def do_POST(self):
                url = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(url.query)
                with lock:
                    if url.path == "/serve":
                        state["input"] += int(query["input"][0])
                        state["output"] += int(query["output"][0])
                        state["requests"] += 1
                    elif url.path == "/restart":
                        state.update(input=0, output=0, requests=0)
                self.reply("ok\n")

        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
        """#

    struct PrometheusAPI {
        let url: String

        /// The value of an instant query's only series, if it has one.
        func value(_ query: String, at time: Double? = nil) async throws -> Double? {
            let result = try await self.result(query, at: time)
            guard result.count == 1, let pair = result[0]["value"] as? [Any], let text = pair.last as? String else { return nil }
            return Double(text)
        }

        /// The raw samples (seconds, value) of a range-vector query's only series.
        func samples(_ query: String) async throws -> [(Double, Double)] {
            let result = try await self.result(query, at: nil)
            guard result.count == 1, let values = result[0]["values"] as? [[Any]] else { return [] }
            return values.compactMap { pair in
                guard let time = pair.first as? Double, let text = pair.last as? String, let value = Double(text) else { return nil }
                return (time, value)
            }
        }

        private func result(_ query: String, at time: Double?) async throws -> [[String: Any]] {
            var components = URLComponents(string: url + "/api/v1/query")!
            components.queryItems = [URLQueryItem(name: "query", value: query)] + (time.map { [URLQueryItem(name: "time", value: String($0))] } ?? [])
            let body = try await HTTP.get(components.url!.absoluteString).body
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            return (object?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
        }
    }

    @Test func tokensServedByVLLMReachPrometheusExactlyThroughAgentAndAggregator() async throws {
        let directory = try Environment.temporaryDirectory("tokens")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["gpu-01": "token-1"])

        let vllmPort = Environment.freePort()
        try TokenFlowTests.fakeVLLM.write(toFile: "\(directory)/fake_vllm.py", atomically: true, encoding: .utf8)
        let vllm = try ChildProcess("/usr/bin/env", ["python3", "\(directory)/fake_vllm.py", "\(vllmPort)", TokenFlowTests.model],
                                    logPath: "\(directory)/vllm.log")
        let vllmURL = "http://127.0.0.1:\(vllmPort)"
        _ = try await HTTP.waitFor("the fake vLLM") { try await HTTP.get(vllmURL + "/metrics").status == 200 ? true : nil }
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort,
                                                 token: "token-1", arguments: ["--inference-server", vllmURL])

        let prometheusPort = Environment.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: tokenwatt
                static_configs: [{targets: ['127.0.0.1:\(aggregatorPort)']}]
            """.write(toFile: "\(directory)/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus-data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ], logPath: "\(directory)/prometheus.log")
        let api = PrometheusAPI(url: "http://127.0.0.1:\(prometheusPort)")
        let input = "tokenwatt_tokens_total{model=\"\(TokenFlowTests.model)\",type=\"input\",source=\"vllm\",node=\"gpu-01\"}"
        let output = "tokenwatt_tokens_total{model=\"\(TokenFlowTests.model)\",type=\"output\",source=\"vllm\",node=\"gpu-01\"}"

        // Given Prometheus holding the counter at the server's own count for a few seconds
        _ = try await HTTP.waitFor("Prometheus to hold the vLLM counter", seconds: 60) { try await api.value(input) == 5_000 ? true : nil }
        try await Task.sleep(for: .seconds(3))
        let servedAfter = Date().timeIntervalSince1970

        // When the server serves 1234 input and 456 output tokens, restarting in between
        for (path, query) in [("/serve", "input=700&output=300"), ("/serve", "input=300&output=100"), ("/restart", ""), ("/serve", "input=234&output=56")] {
            #expect(try await HTTP.post(vllmURL + path + "?" + query, body: [], headers: []).status == 200)
            try await Task.sleep(for: .milliseconds(1_500))
        }
        // And an application reports cloud usage to the agent
        let usage = #"{"model": "gpt-5-mini", "provider": "openai", "attributes": {"team": "research"}, "usage": {"prompt_tokens": 90, "completion_tokens": 10}}"#
        #expect(try await HTTP.post(agent.url + "/v1/usage", body: Array(usage.utf8), headers: [("Content-Type", "application/json")]).status == 200)

        // Then the agent's counter went on through the restart: 5000 + 1000 + 234
        _ = try await HTTP.waitFor("Prometheus to see the served tokens") { try await api.value(input) == 6_234 ? true : nil }
        #expect(try await api.value(output) == 2_456)

        // And increase() over a range that holds the burst counts exactly what was served: the
        // range ends at a sample b after the burst and starts 1 ms before the sample a before
        // it (Prometheus keeps the agent's timestamps), so there is nothing to extrapolate. The
        // range is taken from the samples themselves: the agent's timestamps carry its wake-up
        // jitter, so two samples exactly a minute apart need not exist.
        let (before, end, rangeMs) = try await HTTP.waitFor("samples 30 s around the burst", seconds: 90) { () -> (Double, Double, Int)? in
            let samples = try await api.samples(input + "[3m]")
            guard let a = samples.last(where: { $0.0 < servedAfter }), let b = samples.first(where: { $0.0 >= a.0 + 30 && $0.1 == 6_234 }) else { return nil }
            return (a.0, b.0, Int(((b.0 - a.0) * 1000).rounded()) + 1)
        }
        let increasedInput = try #require(try await api.value("increase(\(input)[\(rangeMs)ms])", at: end))
        let increasedOutput = try #require(try await api.value("increase(\(output)[\(rangeMs)ms])", at: end))
        #expect(increasedInput.rounded() == 1_234, "increase of input: \(increasedInput)")
        #expect(increasedOutput.rounded() == 456, "increase of output: \(increasedOutput)")

        // And the aggregator's own tokens API agrees, to the token, and holds the usage report
        let tokens = try await HTTP.get(aggregator.url + "/api/v1/tokens?from=\(before)&by=model,source").body
        let groups = try #require(((try JSONSerialization.jsonObject(with: Data(tokens.utf8)) as? [String: Any])?["data"] as? [String: Any])?["groups"] as? [[String: Any]])
        let served = try #require(groups.first { ($0["labels"] as? [String: String])?["source"] == "vllm" })
        #expect(served["tokens"] as? [String: Int] == ["input": 1_234, "output": 456])
        #expect(served["requests"] as? Int == 3)
        let reported = try #require(groups.first { ($0["labels"] as? [String: String])?["source"] == "usage_api" })
        #expect(reported["tokens"] as? [String: Int] == ["input": 90, "output": 10])
        _ = (vllm, prometheus)
    }
}
