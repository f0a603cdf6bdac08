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

    url, token = sys.argv[1], sys.argv[2]
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
            resource = Resource.create({"service.name": f"app-{encoding}-{temporality}", "service.instance.id": "i-1",
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
        try OTLPClientTests.sdkScript.write(toFile: "\(directory)/sdk.py", atomically: true, encoding: .utf8)
        let run = try await ChildProcess.run(Environment.python, ["\(directory)/sdk.py", aggregator.url, "token-1"], directory: directory)
        #expect(run.status == 0, "the SDK's exports: \(run.output.suffix(3_000))")

        let prometheusPort = Environment.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: tokenwatt
                honor_labels: true
                static_configs: [{targets: ['127.0.0.1:\(aggregatorPort)']}]
            """.write(toFile: "\(directory)/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus-data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ], logPath: "\(directory)/prometheus.log")
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
        let jobs = ["app-protobuf-cumulative", "app-protobuf-delta", "app-json-cumulative", "app-json-delta"]
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
        _ = (aggregator, prometheus)
    }
}
