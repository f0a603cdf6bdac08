import Testing
import TokenWattCore
import TokenWattTestSupport

/// OTLP points as series, by Prometheus's receiver's rules, and the points it rejects.
@Suite struct OTLPTranslationTests {
    static let now: Int64 = 1_800_000_000_000

    static func translate(_ request: OTLP_ExportMetricsServiceRequest, isReserved: (String) -> Bool = { _ in false }) throws -> OTLPTranslation {
        OTLPTranslation(try OTLPWireDecoder.decode(OTLPRequests.protobuf(request)), now: now, maxFutureSkewMs: 600_000, isReserved: isReserved)
    }

    static func rendered(_ translation: OTLPTranslation) -> [String] {
        translation.series.flatMap { series in series.samples.map { "\(series.labels) \(ExpositionWriter.formatValue($0.value))@\($0.timestamp)\(series.delta ? " delta" : "")" } }.sorted()
    }

    @Test func namesLabelsJobInstanceAndTargetInfo() throws {
        let t = OTLPTranslationTests.now - 1_000
        let request = OTLPRequests.request(OTLPRequests.resource(
            ["service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-7", "host.name": "node-3", "k8s.pod.uid": "abc"],
            metrics: [
                OTLPRequests.sum("http.server.requests", unit: "{request}", OTLPRequests.point(12, at: t, ["http.route": "/pay", "http.method": "POST"])),
                OTLPRequests.gauge("process.memory.usage", unit: "By", OTLPRequests.point(2048, at: t)),
                OTLPRequests.histogram("http.server.duration", unit: "s", OTLPRequests.histogramPoint(at: t, bounds: [0.1, 1], counts: [3, 2, 1], sum: 2.5, ["http.route": "/pay"])),
            ]))
        let translation = try OTLPTranslationTests.translate(request)
        #expect(translation.rejections.count == 0)
        #expect(OTLPTranslationTests.rendered(translation) == [
            "http_server_duration_seconds_bucket{http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\",le=\"+Inf\"} 6@\(t)",
            "http_server_duration_seconds_bucket{http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\",le=\"0.1\"} 3@\(t)",
            "http_server_duration_seconds_bucket{http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\",le=\"1\"} 5@\(t)",
            "http_server_duration_seconds_count{http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\"} 6@\(t)",
            "http_server_duration_seconds_sum{http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\"} 2.5@\(t)",
            "http_server_requests_total{http_method=\"POST\",http_route=\"/pay\",instance=\"pod-7\",job=\"shop/checkout\"} 12@\(t)",
            "process_memory_usage_bytes{instance=\"pod-7\",job=\"shop/checkout\"} 2048@\(t)",
            "target_info{host_name=\"node-3\",instance=\"pod-7\",job=\"shop/checkout\",k8s_pod_uid=\"abc\"} 1@\(t)",
        ].sorted())
    }

    @Test func deltasAreMarkedAndAttributesThatCollideJoin() throws {
        let t = OTLPTranslationTests.now
        let request = OTLPRequests.request(OTLPRequests.resource(["service.name": "agent"], metrics: [
            OTLPRequests.sum("tokens", delta: true, OTLPRequests.point(5, at: t, ["a.b": "1", "a_b": "2"])),
            OTLPRequests.histogram("latency", unit: "ms", delta: true, OTLPRequests.histogramPoint(at: t, bounds: [10], counts: [1, 0], sum: 3)),
        ]))
        #expect(OTLPTranslationTests.rendered(try OTLPTranslationTests.translate(request)) == [
            "latency_milliseconds_bucket{job=\"agent\",le=\"+Inf\"} 1@\(t) delta",
            "latency_milliseconds_bucket{job=\"agent\",le=\"10\"} 1@\(t) delta",
            "latency_milliseconds_count{job=\"agent\"} 1@\(t) delta",
            "latency_milliseconds_sum{job=\"agent\"} 3@\(t) delta",
            "tokens_total{a_b=\"1;2\",job=\"agent\"} 5@\(t) delta",
        ])
    }

    @Test func pointsThatCannotBeStoredAreRejectedOneByOneWithTheirReason() throws {
        let t = OTLPTranslationTests.now
        var exponential = OTLP_Metric()
        exponential.name = "exp"
        exponential.exponentialHistogram.aggregationTemporality = .delta
        exponential.exponentialHistogram.dataPoints = [OTLP_ExponentialHistogramDataPoint(), OTLP_ExponentialHistogramDataPoint()]
        var noTemporality = OTLPRequests.sum("c", OTLPRequests.point(1, at: t))
        noTemporality.sum.aggregationTemporality = .unspecified
        var stale = OTLPRequests.point(0, at: t, ["which": "stale"])
        stale.flags = 1
        let request = OTLPRequests.request(OTLPRequests.resource(["service.name": "s"], metrics: [
            OTLPRequests.gauge("ok", OTLPRequests.point(1, at: t), stale, OTLPRequests.point(.nan, at: t, ["which": "nan"])),
            OTLPRequests.gauge("at.zero", OTLPRequests.point(1, at: 0)),
            OTLPRequests.gauge("future", OTLPRequests.point(1, at: t + 3_600_000)),
            OTLPRequests.sum("tokens", delta: true, OTLPRequests.point(-5, at: t), OTLPRequests.point(.nan, at: t, ["x": "1"]), OTLPRequests.point(3, at: t, ["x": "2"])),
            OTLPRequests.histogram("h", OTLPRequests.histogramPoint(at: t, bounds: [1, 2], counts: [1], sum: 1)),
            OTLPRequests.histogram("h2", OTLPRequests.histogramPoint(at: t, bounds: [2, 1], counts: [1, 1, 1], sum: 1)),
            OTLPRequests.gauge("tokenwatt_cost_usd", OTLPRequests.point(1, at: t)),
            OTLPRequests.gauge("__", OTLPRequests.point(1, at: t)),
            OTLPRequests.gauge("reserved.label", OTLPRequests.point(1, at: t, ["__x": "1"])),
            exponential, noTemporality,
        ]))
        let translation = try OTLPTranslationTests.translate(request) { $0.hasPrefix("tokenwatt_cost_") }
        let rendered = OTLPTranslationTests.rendered(translation)
        #expect(rendered.contains("ok{job=\"s\"} 1@\(t)"))
        #expect(rendered.contains("ok{job=\"s\",which=\"nan\"} NaN@\(t)"))
        #expect(translation.series.contains { $0.labels["which"] == "stale" && $0.samples.first?.isStaleMarker == true })
        #expect(rendered.contains("tokens_total{job=\"s\",x=\"2\"} 3@\(t) delta"))
        #expect(translation.rejections.count == 12)
        #expect(translation.rejections.reasons == [
            "metric \"at.zero\": time_unix_nano 0 is not between the epoch and now plus the allowed skew": 1,
            "metric \"future\": time_unix_nano \(UInt64(t + 3_600_000) * 1_000_000) is not between the epoch and now plus the allowed skew": 1,
            "delta sum \"tokens\": -5.0 cannot be added to a counter": 1,
            "delta sum \"tokens\": nan cannot be added to a counter": 1,
            "histogram \"h\": 1 bucket counts for 2 bounds (must be one more)": 1,
            "histogram \"h2\": bounds not in increasing order": 1,
            "tokenwatt_cost_usd: the aggregator computes this family itself; rename the metric": 1,
            "metric \"__\" has no name Prometheus can store": 1,
            "metric \"reserved.label\": label name \"__x\" is reserved (starts with __)": 1,
            "exponential histogram \"exp\" is not stored (no native histograms here): export explicit buckets (OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram)": 2,
            "sum \"c\" has no aggregation temporality": 1,
        ])
        #expect(translation.rejections.message.hasPrefix("12 data points rejected: exponential histogram \"exp\""))
        #expect(translation.rejections.message.hasSuffix("; and 6 more reasons"))
    }
}
