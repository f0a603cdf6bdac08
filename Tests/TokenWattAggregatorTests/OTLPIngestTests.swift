import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAggregator

/// `POST /v1/metrics` on the aggregator: OTLP/HTTP export, as remote write's twin.
@Suite struct OTLPIngestTests {
    static let headers: HTTPFields = [.contentType: "application/x-protobuf", .authorization: "Bearer secret-1"]
    static let t = t0

    static func export(_ request: OTLP_ExportMetricsServiceRequest, _ client: any TestClientProtocol, headers: HTTPFields = headers,
                       gzip: Bool = false) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
        var headers = headers
        var body = headers[.contentType] == "application/json" ? OTLPRequests.json(request) : OTLPRequests.protobuf(request)
        if gzip {
            body = Deflate.compress(body)
            headers[.contentEncoding] = "gzip"
        }
        return try await client.execute(uri: "/v1/metrics", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
            (response.status, response.headers, Array(buffer: response.body))
        }
    }

    static func values(_ aggregator: Aggregator, _ selector: String) async throws -> [String: [Double]] {
        var result: [String: [Double]] = [:]
        for series in aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: selector)]) {
            result["\(series.labels)"] = try await aggregator.stores.samples.rawSamples(seriesID: series.id, from: 0, to: .max).map(\.value)
        }
        return result
    }

    @Test func anExportIsStoredUnderTheNodeAndAnsweredInItsOwnEncoding() async throws {
        try await withAggregator { client, aggregator in
            let request = OTLPRequests.request(OTLPRequests.resource(["service.name": "api", "host.name": "h1"], metrics: [
                OTLPRequests.sum("http.requests", OTLPRequests.point(7, at: OTLPIngestTests.t, ["route": "/a"])),
                OTLPRequests.histogram("http.duration", unit: "s", OTLPRequests.histogramPoint(at: OTLPIngestTests.t, bounds: [0.5], counts: [2, 1], sum: 1.25)),
            ]))
            let protobuf = try await OTLPIngestTests.export(request, client)
            #expect(protobuf.status == .ok)
            #expect(protobuf.headers[.contentType] == "application/x-protobuf")
            #expect(try OTLP_ExportMetricsServiceResponse(serializedBytes: protobuf.body) == OTLP_ExportMetricsServiceResponse())
            #expect(try await OTLPIngestTests.values(aggregator, "{job=\"api\"}") == [
                "http_requests_total{job=\"api\",node=\"gpu-01\",route=\"/a\"}": [7],
                "http_duration_seconds_bucket{job=\"api\",le=\"0.5\",node=\"gpu-01\"}": [2],
                "http_duration_seconds_bucket{job=\"api\",le=\"+Inf\",node=\"gpu-01\"}": [3],
                "http_duration_seconds_sum{job=\"api\",node=\"gpu-01\"}": [1.25],
                "http_duration_seconds_count{job=\"api\",node=\"gpu-01\"}": [3],
                "target_info{host_name=\"h1\",job=\"api\",node=\"gpu-01\"}": [1],
            ])
            // JSON, gzipped, answered in JSON.
            var json = OTLPIngestTests.headers
            json[.contentType] = "application/json"
            let later = OTLPRequests.request(OTLPRequests.resource(["service.name": "api"], metrics: [
                OTLPRequests.sum("http.requests", OTLPRequests.point(9, at: OTLPIngestTests.t + 10_000, ["route": "/a"]))]))
            let answer = try await OTLPIngestTests.export(later, client, headers: json, gzip: true)
            #expect(answer.status == .ok && answer.headers[.contentType] == "application/json")
            #expect(String(decoding: answer.body, as: UTF8.self) == "{}")
            #expect(try await OTLPIngestTests.values(aggregator, "http_requests_total") == ["http_requests_total{job=\"api\",node=\"gpu-01\",route=\"/a\"}": [7, 9]])
        }
    }

    @Test func rejectedPointsAreNamedInThePartialSuccessAndCountedTheRestStored() async throws {
        try await withAggregator { client, aggregator in
            let request = OTLPRequests.request(OTLPRequests.resource(["service.name": "api"], metrics: [
                OTLPRequests.gauge("ok", OTLPRequests.point(1, at: OTLPIngestTests.t)),
                OTLPRequests.gauge("late", OTLPRequests.point(1, at: 0)),
                OTLPRequests.gauge("tokenwatt_cost_usd", OTLPRequests.point(1, at: OTLPIngestTests.t)),
            ]))
            let answer = try await OTLPIngestTests.export(request, client)
            #expect(answer.status == .ok)
            let response = try OTLP_ExportMetricsServiceResponse(serializedBytes: answer.body)
            #expect(response.partialSuccess.rejectedDataPoints == 2)
            #expect(response.partialSuccess.errorMessage.contains("tokenwatt_cost_usd: the aggregator computes this family itself"))
            #expect(response.partialSuccess.errorMessage.contains("time_unix_nano 0"))
            #expect(try await OTLPIngestTests.values(aggregator, "ok") == ["ok{job=\"api\",node=\"gpu-01\"}": [1]])
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("tokenwatt_aggregator_otlp_rejected_points_total 2"))
            }
        }
    }

    @Test func deltasBecomeCountersThatSurviveARestartAndARetryCountsOnce() async throws {
        let directory = Environment.temporaryPath("otlp-delta")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        @Sendable func push(_ value: Double, at offset: Int64, _ client: any TestClientProtocol) async throws -> OTLP_ExportMetricsServiceResponse {
            let request = OTLPRequests.request(OTLPRequests.resource(["service.name": "agent"], metrics: [
                OTLPRequests.sum("tokens", delta: true, OTLPRequests.point(value, at: OTLPIngestTests.t + offset, ["type": "input"]))]))
            let answer = try await OTLPIngestTests.export(request, client)
            #expect(answer.status == .ok)
            return try OTLP_ExportMetricsServiceResponse(serializedBytes: answer.body)
        }
        let series = "tokens_total{job=\"agent\",node=\"gpu-01\",type=\"input\"}"
        try await withAggregator({ $0.storage.directory = directory }) { client, aggregator in
            _ = try await push(100, at: 0, client)
            _ = try await push(50, at: 10_000, client)
            // The exporter retried a push the aggregator had stored: not added again.
            let retried = try await push(50, at: 10_000, client)
            #expect(retried.partialSuccess.rejectedDataPoints == 1)
            #expect(retried.partialSuccess.errorMessage.contains("at or before their series' newest point"))
            #expect(try await OTLPIngestTests.values(aggregator, "tokens_total") == [series: [100, 150]])
        }
        try await withAggregator({ $0.storage.directory = directory }) { client, aggregator in
            _ = try await push(25, at: 20_000, client)
            #expect(try await OTLPIngestTests.values(aggregator, "tokens_total") == [series: [100, 150, 175]])
        }
    }

    @Test(arguments: [
        ([HTTPField.Name.contentType: "application/x-protobuf"] as HTTPFields, Array("x".utf8), HTTPResponse.Status.unauthorized, Int32(16)),
        ([.contentType: "text/plain", .authorization: "Bearer secret-1"], Array("x".utf8), .unsupportedMediaType, 3),
        ([.contentType: "application/x-protobuf", .authorization: "Bearer secret-1"], [0xFF, 0xFF, 0xFF], .badRequest, 3),
        ([.contentType: "application/json", .authorization: "Bearer secret-1"], Array("{\"resourceMetrics\": 5}".utf8), .badRequest, 3),
        ([.contentType: "application/x-protobuf", .authorization: "Bearer secret-1", .contentEncoding: "gzip"],
         Deflate.compress([UInt8](repeating: 0, count: 80 << 20)), .contentTooLarge, 8),
        ([.contentType: "application/x-protobuf", .authorization: "Bearer secret-1", .contentEncoding: "zstd"], Array("x".utf8), .unsupportedMediaType, 3),
    ] as [(HTTPFields, [UInt8], HTTPResponse.Status, Int32)])
    func refusalsAreStatusBodies(headers: HTTPFields, body: [UInt8], status: HTTPResponse.Status, code: Int32) async throws {
        try await withAggregator { client, aggregator in
            try await client.execute(uri: "/v1/metrics", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == status)
                let encoding = OTLPCodec.Encoding(contentType: headers[.contentType]) ?? .protobuf
                let answer = Array(buffer: response.body)
                let decoded = encoding == .json ? try OTLP_Status(jsonUTF8Bytes: answer) : try OTLP_Status(serializedBytes: answer)
                #expect(decoded.code == code)
                #expect(!decoded.message.isEmpty)
                if status == .unauthorized { #expect(response.headers[.wwwAuthenticate] != nil) }
            }
            #expect(aggregator.stores.samples.seriesCount == 0)
        }
    }

    @Test func aRemoteWriteWithoutTheVersionHeaderIsTakenAs1Point0() async throws {
        try await withAggregator { client, aggregator in
            var headers = remoteWriteHeaders
            headers[HTTPField.Name("X-Prometheus-Remote-Write-Version")!] = nil
            let (_, body) = push([ts("m", [:], [(t0, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            #expect(aggregator.stores.samples.seriesCount == 1)
        }
    }
}

/// Remote write 2.0 on `/api/v1/write`, beside 1.0.
@Suite struct RemoteWrite2IngestTests {
    static let headers: HTTPFields = [
        .contentType: RemoteWriteCodec.contentTypeV2, .contentEncoding: "snappy",
        HTTPField.Name(RemoteWriteCodec.versionHeader)!: "2.0.0", .authorization: "Bearer secret-1",
    ]

    static func written(_ headers: HTTPFields) -> [String?] {
        [RemoteWriteCodec.samplesWrittenHeader, RemoteWriteCodec.histogramsWrittenHeader, RemoteWriteCodec.exemplarsWrittenHeader]
            .map { headers[HTTPField.Name($0)!] }
    }

    @Test func aRequestIsStoredAndItsWrittenCountsAnsweredANewCounterStartsAtZero() async throws {
        try await withAggregator { client, aggregator in
            // A counter with its start timestamp on the sample, and a gauge.
            var request = PrometheusV2_Request()
            request.symbols = ["", "__name__", "requests_total", "temperature"]
            var counter = PrometheusV2_TimeSeries()
            counter.labelsRefs = [1, 2]
            counter.metadata.type = .counter
            var sample = PrometheusV2_Sample()
            sample.value = 5
            sample.timestamp = t0
            sample.startTimestamp = t0 - 30_000
            counter.samples = [sample]
            var gauge = PrometheusV2_TimeSeries()
            gauge.labelsRefs = [1, 3]
            gauge.metadata.type = .gauge
            sample.value = 21.5
            sample.startTimestamp = 0
            gauge.samples = [sample]
            request.timeseries = [counter, gauge]
            for round in 0..<2 {
                if round == 1 { request.timeseries[0].samples[0].timestamp = t0 + 10_000; request.timeseries[0].samples[0].value = 7 }
                let body = ByteBuffer(bytes: Snappy.compress(try request.serializedBytes()))
                try await client.execute(uri: "/api/v1/write", method: .post, headers: RemoteWrite2IngestTests.headers, body: body) { response in
                    #expect(response.status == .noContent)
                    #expect(RemoteWrite2IngestTests.written(response.headers) == ["2", "0", "0"])
                }
            }
            // The zero at the counter's start came with its first push only.
            #expect(try await OTLPIngestTests.values(aggregator, "requests_total") == ["requests_total{node=\"gpu-01\"}": [0, 5, 7]])
            #expect(try await OTLPIngestTests.values(aggregator, "temperature") == ["temperature{node=\"gpu-01\"}": [21.5]])
        }
    }

    @Test func nativeHistogramsAreAPartialWriteAnswered400() async throws {
        try await withAggregator { client, aggregator in
            var headers = RemoteWrite2IngestTests.headers
            headers[HTTPField.Name(RemoteWriteCodec.versionHeader)!] = nil  // taken by its content type
            // The specification's message (RemoteWrite2Tests): one float sample, one native histogram sample.
            let body = ByteBuffer(bytes: Snappy.compress(RemoteWrite2Example.specificationMessage()))
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .badRequest)
                #expect(RemoteWrite2IngestTests.written(response.headers) == ["1", "0", "0"])
                #expect(String(buffer: response.body).contains("1 native histogram samples not written"))
            }
            #expect(try await OTLPIngestTests.values(aggregator, "http_requests_total")["http_requests_total{job=\"api\",node=\"gpu-01\"}"]?.last == 42)
        }
    }
}
