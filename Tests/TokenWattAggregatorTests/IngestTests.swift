import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// An aggregator over a temporary database, tested through Hummingbird's router client.
func withAggregator(_ configure: (inout AggregatorConfiguration) -> Void = { _ in },
                    now: @escaping @Sendable () -> Int64 = { 1_800_000_000_000 },
                    _ test: @escaping @Sendable (any TestClientProtocol, Aggregator) async throws -> Void) async throws {
    var configuration = AggregatorConfiguration()
    let temporary = Environment.temporaryPath("agg")
    configuration.storage.directory = temporary
    configuration.nodes = [SenderCredential(name: "gpu-01", token: "secret-1"), SenderCredential(name: "gpu-02", token: "secret-2")]
    configuration.gateways = [SenderCredential(name: "gw-1", role: .gateway, token: "gateway-secret")]
    configure(&configuration)
    // A directory the test chose is the test's to remove (it may open it again).
    defer { if configuration.storage.directory == temporary { try? FileManager.default.removeItem(atPath: temporary) } }
    let aggregator = try Aggregator(configuration: configuration, logger: Logger(label: "test"), now: now)
    do {
        try await aggregator.application.test(.router) { client in try await test(client, aggregator) }
    } catch {
        try? await aggregator.shutdownClient()
        throw error
    }
    try await aggregator.shutdownClient()
    try aggregator.stores.database.close()
}

let remoteWriteHeaders: HTTPFields = [
    .contentType: "application/x-protobuf", .contentEncoding: "snappy",
    HTTPField.Name("X-Prometheus-Remote-Write-Version")!: "0.1.0", .authorization: "Bearer secret-1",
]

func push(_ series: [TimeSeries], headers: HTTPFields = remoteWriteHeaders) -> (HTTPFields, ByteBuffer) {
    (headers, ByteBuffer(bytes: RemoteWriteCodec.encode(series)))
}

func ts(_ name: String, _ labels: [String: String] = [:], _ samples: [(Int64, Double)]) -> TimeSeries {
    var all = labels
    all["__name__"] = name
    return TimeSeries(labels: try! LabelSet(dictionary: all), samples: samples.map { Sample(timestamp: $0.0, value: $0.1) })
}

let t0: Int64 = 1_800_000_000_000 - 60_000

@Suite struct IngestTests {
    @Test func storesAPushUnderTheTokensNodeAndAnswers204() async throws {
        try await withAggregator { client, aggregator in
            // The pushed node label is overridden by the token's node.
            let (headers, body) = push([ts("tokenwatt_gpu_power_watts", ["gpu": "0", "node": "someone-else"], [(t0, 300)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .noContent)
            }
            let stored = aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: "tokenwatt_gpu_power_watts")])
            #expect(stored.map { $0.labels["node"] } == ["gpu-01"])
        }
    }

    @Test func aRetriedPushIsStoredOnceAndOutOfOrderIsAccepted() async throws {
        try await withAggregator { client, aggregator in
            for samples in [[(t0, 1.0), (t0 + 10_000, 2.0)], [(t0, 1.0), (t0 + 10_000, 2.0)], [(t0 - 10_000, 0.5)]] {
                let (headers, body) = push([ts("m", [:], samples)])
                try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            }
            let id = try #require(aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: "m")]).first?.id)
            #expect(try await aggregator.stores.samples.rawSamples(seriesID: id, from: 0, to: .max).map(\.timestamp) == [t0 - 10_000, t0, t0 + 10_000])
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("tokenwatt_aggregator_duplicate_samples_total 2"))
            }
        }
    }

    @Test func anInvalidSeriesRejectsTheWholeRequest() async throws {
        try await withAggregator { client, aggregator in
            let future: Int64 = 1_800_000_000_000 + Milliseconds.hour
            let (headers, body) = push([ts("good", [:], [(t0, 1)]), ts("bad", [:], [(future, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("timestamp \(future)"))
            }
            #expect(aggregator.stores.samples.seriesCount == 0)
        }
    }

    @Test(arguments: [
        (nil, HTTPResponse.Status.unauthorized), ("Bearer wrong", .unauthorized), ("Basic c2VjcmV0LTE=", .unauthorized),
        ("Bearer secret-2", .noContent),
    ] as [(String?, HTTPResponse.Status)])
    func pushesNeedAKnownToken(authorization: String?, status: HTTPResponse.Status) async throws {
        try await withAggregator { client, aggregator in
            var headers = remoteWriteHeaders
            headers[.authorization] = authorization
            let (_, body) = push([ts("m", [:], [(t0, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { response in
                #expect(response.status == status)
                if status == .unauthorized { #expect(response.headers[.wwwAuthenticate] != nil) }
            }
            #expect(aggregator.stores.samples.seriesCount == (status == .noContent ? 1 : 0))
        }
    }

    @Test func builtInDefaultAcceptsLocalPushesWithoutToken() async throws {
        try await withAggregator({ $0.nodes = []; $0.anonymousNode = "this-host" }) { client, aggregator in
            var headers = remoteWriteHeaders
            headers[.authorization] = nil
            let (_, body) = push([ts("m", [:], [(t0, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            #expect(aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: "m")]).first?.labels["node"] == "this-host")
        }
    }

    @Test(arguments: [
        (HTTPField.Name.contentType, "application/json", HTTPResponse.Status.unsupportedMediaType),
        (.contentType, "application/x-protobuf;proto=io.prometheus.write.v3.Request", .unsupportedMediaType),
        // A 2.0 content type on a request that says it is 1.0: one of the two is wrong.
        (.contentType, "application/x-protobuf;proto=io.prometheus.write.v2.Request", .badRequest),
        (.contentEncoding, "gzip", .unsupportedMediaType),
        (HTTPField.Name("X-Prometheus-Remote-Write-Version")!, "2.0.0", .badRequest),
    ])
    func checksHeaders(field: HTTPField.Name, value: String, status: HTTPResponse.Status) async throws {
        try await withAggregator { client, _ in
            var headers = remoteWriteHeaders
            headers[field] = value
            let (_, body) = push([ts("m", [:], [(t0, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == status) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let reason = status == .badRequest ? "invalid" : "unsupported_media_type"
                #expect(String(buffer: response.body).contains("tokenwatt_aggregator_rejected_requests_total{reason=\"\(reason)\"} 1"))
            }
        }
    }

    @Test func refusesBodiesOverTheLimitWith413() async throws {
        try await withAggregator({ $0.ingest.maxBodyBytes = 100 }) { client, aggregator in
            let many = (0..<50).map { ts("m", ["i": "\($0)"], [(t0, Double($0))]) }
            let (headers, body) = push(many)
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .contentTooLarge) }
            #expect(aggregator.stores.samples.seriesCount == 0)
        }
    }

    @Test func refusesGarbageWith400AndAOneLineReason() async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: "/api/v1/write", method: .post, headers: remoteWriteHeaders, body: ByteBuffer(string: "not snappy")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).split(separator: "\n").count == 1)
            }
        }
    }
}
