import Foundation
import Testing
import TokenWattTestSupport

/// The OpenTelemetry Python SDK's own OTLP/HTTP exporters (protobuf gzipped, and JSON) sending
/// counters, up-down counters, histograms and gauges, cumulative and delta, to the real
/// aggregator; then a real Prometheus 2.42 scrapes the aggregator and must find each series
/// under the name and with the value Prometheus's OTLP translation gives.
@Suite(.serialized) struct OTLPClientTests {
    static let sdkScript = #"""
    import sys
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as ProtobufExporter
    from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter as JSONExporter

    url, token, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    results = []
    DELTA = {Counter: AggregationTemporality.DELTA, UpDownCounter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}

    for encoding, base in [("protobuf", ProtobufExporter), ("json", JSONExporter)]:
        class Checked(base):
            def export(self, metrics_data, *args, **kwargs):
                result = super().export(metrics_data, *args, **kwargs)
                results.append((encoding, result))
                return result
        for temporality in ["cumulative", "delta"]:
            options = {"endpoint": url + "/v1/metrics", "headers": {"Authorization": "Bearer " + token}}
            if temporality == "delta":
                options["preferred_temporality"] = DELTA
            if encoding == "protobuf":
                options["compression"] = Compression.Gzip
            reader = PeriodicExportingMetricReader(Checked(**options), export_interval_millis=3_600_000)
            resource = Resource.create({"service.name": f"{prefix}-{encoding}-{temporality}", "service.instance.id": "i-1",
                                        "deployment.environment": "test"})
            provider = MeterProvider(metric_readers=[reader], resource=resource)
            meter = provider.get_meter("tokenwatt.test", "1.0")
            requests = meter.create_counter("app.requests", unit="{request}")
            queue = meter.create_up_down_counter("app.queue.depth", unit="{item}")
            latency = meter.create_histogram("app.latency", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0])
            meter.create_observable_gauge("app.temperature", unit="Cel", callbacks=[lambda options: [Observation(21.5, {"sensor": "a"})]])
            # Two exports: deltas must add up to what cumulative exporters send whole.
            requests.add(3, {"route": "/a"}); queue.add(5); latency.record(0.05); latency.record(0.5)
            provider.force_flush()
            requests.add(4, {"route": "/a"}); queue.add(-2); latency.record(2.0)
            provider.force_flush()
            provider.shutdown()

    failed = [r for r in results if r[1] != MetricExportResult.SUCCESS]
    print(f"{len(results)} exports, {len(failed)} failed: {failed}")
    sys.exit(1 if failed or len(results) < 8 else 0)
    """#

    @Test func theSDKsExportsReadAsPrometheusWouldReadThem() async throws {
        let directory = try Environment.temporaryDirectory("otlp-sdk")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort)
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "token-1")
        try OTLPClientTests.sdkScript.write(toFile: "\(directory)/sdk.py", atomically: true, encoding: .utf8)
        for (url, token, prefix) in [(aggregator.url, "token-1", "app"), (agent.url, "none", "relayed")] {
            let run = try await ChildProcess.run(Environment.python, ["\(directory)/sdk.py", url, token, prefix], directory: directory)
            #expect(run.status == 0, "the SDK's exports to \(prefix): \(run.output.suffix(3_000))")
        }

        let (prometheus, prometheusPort) = try PrometheusPeerTests.prometheus(scraping: aggregatorPort, in: directory, honorLabels: true)
        func values(_ query: String) async throws -> [String: Double] {
            var components = URLComponents(string: "http://127.0.0.1:\(prometheusPort)/api/v1/query")!
            components.queryItems = [URLQueryItem(name: "query", value: query)]
            // A "+" left in a query string reads as a space.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
            let body = try await HTTP.get(components.url!.absoluteString).body
            let result = ((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: result.map { series in
                let job = (series["metric"] as? [String: String])?["job"] ?? ""
                return (job, Double(((series["value"] as? [Any])?[1] as? String) ?? "") ?? .nan)
            })
        }
        let jobs = ["app", "relayed"].flatMap { prefix in
            ["protobuf-cumulative", "protobuf-delta", "json-cumulative", "json-delta"].map { "\(prefix)-\($0)" }
        }
        let expected: [(String, Double)] = [
            ("app_requests_total{route=\"/a\"}", 7),
            ("app_queue_depth", 3),
            ("app_latency_seconds_bucket{le=\"0.1\"}", 1),
            ("app_latency_seconds_bucket{le=\"1\"}", 2),
            ("app_latency_seconds_bucket{le=\"+Inf\"}", 3),
            ("app_latency_seconds_count", 3),
            ("app_latency_seconds_sum", 2.55),
            ("app_temperature_celsius{sensor=\"a\"}", 21.5),
            ("target_info{deployment_environment=\"test\",instance=\"i-1\"}", 1),
        ]
        _ = try await HTTP.waitFor("Prometheus to scrape the aggregator", seconds: 60) {
            try await values("app_requests_total").count == jobs.count ? true : nil
        }
        for (query, value) in expected {
            let found = try await values(query)
            for job in jobs {
                let got = found[job] ?? .nan
                #expect(abs(got - value) < 1e-9, "\(query) of \(job): \(got), expected \(value)")
            }
        }
        _ = (aggregator, agent, prometheus)
    }

    /// An application using the real `openai` SDK, instrumented with the official
    /// `opentelemetry-instrumentation-openai-v2`, calling a stand-in OpenAI upstream and
    /// exporting its metrics (cumulative, twice) to the agent.
    static let instrumentedScript = #"""
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    # The stand-in upstream: each call's usage, in the order they come.
    usages = [(1200, 300), (800, 200), (1000, 500)]
    class Upstream(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            prompt, completion = usages.pop(0)
            body = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                               "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                               "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    upstream = HTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    results = []
    class Checked(OTLPMetricExporter):
        def export(self, metrics_data, *args, **kwargs):
            result = super().export(metrics_data, *args, **kwargs)
            results.append(result)
            return result
    agent, token = sys.argv[1], sys.argv[2]
    reader = PeriodicExportingMetricReader(Checked(endpoint=agent + "/v1/metrics", headers={"Authorization": "Bearer " + token}),
                                           export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "support-bot", "team": "research"}))
    metrics.set_meter_provider(provider)
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()
    import openai
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{upstream.server_port}/v1", api_key="sk-test")
    for call in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
        if call != 1:
            provider.force_flush()
    provider.shutdown()
    print(f"{len(results)} exports: {results}")
    sys.exit(0 if results and all(r == MetricExportResult.SUCCESS for r in results) else 1)
    """#

    @Test func anInstrumentedOpenAIApplicationIsCountedByModelAndAgentAtItsCloudPrice() async throws {
        let directory = try Environment.temporaryDirectory("otlp-openai")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, config: """
            cloud_prices: [{match: gpt-4o-mini, input: 0.15, output: 0.60}]
            costs: {interval: 1s}
            """)
        try "usage-secret".write(toFile: "\(directory)/usage.token", atomically: true, encoding: .utf8)
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "token-1",
                                                 config: "usage: {token_file: \(directory)/usage.token, attributes: [team, agent]}\n")
        try OTLPClientTests.instrumentedScript.write(toFile: "\(directory)/app.py", atomically: true, encoding: .utf8)
        let run = try await ChildProcess.run(Environment.python, ["\(directory)/app.py", agent.url, "usage-secret"], directory: directory)
        #expect(run.status == 0, "the application: \(run.output.suffix(3_000))")

        // 3,000 input and 1,000 output tokens in 3 calls, whatever the two cumulative exports
        // repeated; at 0.15 and 0.60 USD per million: 0.00045 + 0.0006.
        let row = try await HTTP.waitFor("the ledger to count the calls", seconds: 60) { () -> [String: String]? in
            let report = try await CLITests.run(["report", "--url", aggregator.url, "--by", "model,agent", "--format", "csv"], directory: directory)
            let lines = report.output.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            guard report.status == 0, let header = lines.first else { return nil }
            let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
            return rows.first { $0["model"] == "gpt-4o-mini" && $0["agent"] == "support-bot" && $0["tokens"] == "4000" }
        }
        #expect(row["input_tokens"] == "3000")
        #expect(row["output_tokens"] == "1000")
        #expect(row["requests"] == "3")
        #expect(Double(row["cloud_spend"] ?? "") == 0.00105, "\(row)")
        // The agent saw the exports' token and counted them under the team the resource named.
        let tokens = try await HTTP.get(agent.url + "/metrics").body
        #expect(tokens.contains("tokenwatt_tokens_total{agent=\"support-bot\",model=\"gpt-4o-mini\",provider=\"openai\",source=\"usage_api\",team=\"research\",type=\"input\"} 3000"))
        _ = aggregator
    }
}

