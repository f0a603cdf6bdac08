import Foundation
import SwiftProtobuf
import Testing
import TokenWattCore
import TokenWattTestSupport

/// The OTLP decoder against swift-protobuf's generated one, the JSON path against the
/// protobuf path, and every bound on hostile bodies.
@Suite struct OTLPDecodingTests {
    /// What swift-protobuf makes of the same bytes, in the decoder's model.
    static func reference(_ request: OTLP_ExportMetricsServiceRequest) -> OTLPExport {
        func text(_ value: OTLP_AnyValue) -> String {
            switch value.value {
            case .stringValue(let string): string
            case .boolValue(let bit): bit ? "true" : "false"
            case .intValue(let number): String(number)
            case .doubleValue(let number): ExpositionWriter.formatValue(number)
            default: ""
            }
        }
        func attributes(_ pairs: [OTLP_KeyValue]) -> [OTLPExport.Attribute] { pairs.map { OTLPExport.Attribute($0.key, text($0.value)) } }
        func point(_ attributes: [OTLP_KeyValue], _ start: UInt64, _ time: UInt64, _ flags: UInt32) -> OTLPExport.Point {
            OTLPExport.Point(attributes: OTLPDecodingTests.reference(attributes), startNanos: start, timeNanos: time, flags: flags)
        }
        func numbers(_ points: [OTLP_NumberDataPoint]) -> [OTLPExport.NumberPoint] {
            points.map { point in
                let value: Double = switch point.value {
                case .asDouble(let value): value
                case .asInt(let value): Double(value)
                case nil: 0
                }
                return OTLPExport.NumberPoint(point: OTLPExport.Point(attributes: attributes(point.attributes), startNanos: point.startTimeUnixNano,
                                                                      timeNanos: point.timeUnixNano, flags: point.flags), value: value)
            }
        }
        return OTLPExport(resources: request.resourceMetrics.map { resource in
            OTLPExport.Resource(attributes: attributes(resource.resource.attributes), scopes: resource.scopeMetrics.map { scope in
                OTLPExport.Scope(name: scope.scope.name, version: scope.scope.version, metrics: scope.metrics.map { metric in
                    let data: OTLPExport.Data = switch metric.data {
                    case .gauge(let gauge): .gauge(numbers(gauge.dataPoints))
                    case .sum(let sum): .sum(numbers(sum.dataPoints), OTLPExport.Temporality(rawValue: sum.aggregationTemporality.rawValue) ?? .unspecified,
                                             monotonic: sum.isMonotonic)
                    case .histogram(let histogram): .histogram(histogram.dataPoints.map { point in
                        OTLPExport.HistogramPoint(point: OTLPExport.Point(attributes: attributes(point.attributes), startNanos: point.startTimeUnixNano,
                                                                          timeNanos: point.timeUnixNano, flags: point.flags),
                                                  count: point.count, sum: point.hasSum ? point.sum : nil, bucketCounts: point.bucketCounts, bounds: point.explicitBounds)
                    }, OTLPExport.Temporality(rawValue: histogram.aggregationTemporality.rawValue) ?? .unspecified)
                    case .exponentialHistogram(let histogram): .exponentialHistogram(points: histogram.dataPoints.count)
                    case .summary, nil: .none
                    }
                    return OTLPExport.Metric(name: metric.name, unit: metric.unit, data: data)
                })
            })
        })
    }

    static func reference(_ pairs: [OTLP_KeyValue]) -> [OTLPExport.Attribute] {
        pairs.map { OTLPExport.Attribute($0.key, $0.value.stringValue) }
    }

    /// A request of every kind the SDKs send, with values drawn from `seed`.
    static func randomRequest(seed: UInt64) -> OTLP_ExportMetricsServiceRequest {
        var generator = SeededGenerator(seed: seed)
        func attributes() -> [String: String] {
            Dictionary(uniqueKeysWithValues: (0..<Int(generator.next() % 4)).map { ("k.\($0)", "v\(generator.next() % 100)") })
        }
        let ms: Int64 = 1_800_000_000_000
        var resources: [OTLP_ResourceMetrics] = []
        for r in 0..<Int(1 + generator.next() % 3) {
            var metrics: [OTLP_Metric] = []
            for m in 0..<Int(1 + generator.next() % 5) {
                let value = Double(generator.next() % 10_000) / 7
                switch generator.next() % 4 {
                case 0: metrics.append(OTLPRequests.gauge("g.\(m)", unit: "s", OTLPRequests.point(value, at: ms, attributes())))
                case 1: metrics.append(OTLPRequests.sum("c.\(m)", unit: "By", delta: generator.next() % 2 == 0, OTLPRequests.point(value, at: ms, attributes(), start: ms - 10)))
                case 2:
                    var point = OTLPRequests.point(0, at: ms, attributes())
                    point.asInt = Int64(generator.next() % 1_000) - 500
                    metrics.append(OTLPRequests.sum("i.\(m)", monotonic: false, point))
                default:
                    metrics.append(OTLPRequests.histogram("h.\(m)", unit: "ms", OTLPRequests.histogramPoint(
                        at: ms, bounds: [1, 5, 10], counts: (0..<4).map { _ in generator.next() % 9 }, sum: generator.next() % 2 == 0 ? value : nil, attributes())))
                }
            }
            resources.append(OTLPRequests.resource(["service.name": "svc-\(r)", "host.name": "h\(r)"], metrics: metrics))
        }
        var request = OTLP_ExportMetricsServiceRequest()
        request.resourceMetrics = resources
        return request
    }

    @Test func theWireDecoderReadsWhatSwiftProtobufReads() throws {
        for seed in 0..<200 as Range<UInt64> {
            let request = OTLPDecodingTests.randomRequest(seed: seed)
            let bytes = OTLPRequests.protobuf(request)
            let decoded = try OTLPWireDecoder.decode(bytes)
            #expect(decoded == OTLPDecodingTests.reference(try OTLP_ExportMetricsServiceRequest(serializedBytes: bytes)), "seed \(seed)")
            // The same request as JSON, and gzipped, decodes the same.
            #expect(try OTLPCodec.decode(OTLPRequests.json(request), encoding: .json, contentEncoding: nil, maxDecodedBytes: 1 << 20) == decoded)
            #expect(try OTLPCodec.decode(Deflate.compress(bytes), encoding: .protobuf, contentEncoding: "gzip", maxDecodedBytes: 1 << 20) == decoded)
        }
    }

    @Test func jsonAsTheSpecificationWritesIt() throws {
        // The OTLP/HTTP JSON example's shape: camelCase names, 64-bit numbers as strings,
        // enums as numbers, an exemplar's hex ids (skipped).
        let body = """
        {"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeMetrics":[{"scope":{"name":"my.library","version":"1.0.0"},"metrics":[
            {"name":"my.counter","unit":"1","description":"I am a Counter","sum":{"aggregationTemporality":1,"isMonotonic":true,
              "dataPoints":[{"asDouble":5,"startTimeUnixNano":"1544712660300000000","timeUnixNano":"1544712660300000000",
                "attributes":[{"key":"my.counter.attr","value":{"stringValue":"some value"}}],
                "exemplars":[{"timeUnixNano":"1544712660300000000","asDouble":5,"spanId":"eee19b7ec3c1b174","traceId":"5b8efff798038103d269b633813fc60c"}]}]}},
            {"name":"my.histogram","unit":"1","histogram":{"aggregationTemporality":2,"dataPoints":[{"startTimeUnixNano":"1544712660300000000",
              "timeUnixNano":"1544712660300000000","count":"2","sum":2,"bucketCounts":["1","1"],"explicitBounds":[1],"min":0,"max":2}]}},
            {"name":"my.int.gauge","gauge":{"dataPoints":[{"asInt":"-7","timeUnixNano":"1544712660300000000","attributes":[
              {"key":"flag","value":{"boolValue":true}},{"key":"n","value":{"intValue":"42"}},
              {"key":"list","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}},
              {"key":"map","value":{"kvlistValue":{"values":[{"key":"x","value":{"doubleValue":1.5}}]}}}]}]}}]}]}]}
        """
        let export = try OTLPCodec.decode(Array(body.utf8), encoding: .json, contentEncoding: nil, maxDecodedBytes: 1 << 20)
        let metrics = try #require(export.resources.first?.scopes.first?.metrics)
        #expect(export.resources[0]["service.name"] == "my.service")
        #expect(metrics.map(\.name) == ["my.counter", "my.histogram", "my.int.gauge"])
        guard case .sum(let points, .delta, monotonic: true) = metrics[0].data else { Issue.record("not a delta sum"); return }
        #expect(points.first?.value == 5 && points.first?.point.timeNanos == 1_544_712_660_300_000_000)
        #expect(metrics[1].data == .histogram([OTLPExport.HistogramPoint(point: OTLPExport.Point(startNanos: 1_544_712_660_300_000_000, timeNanos: 1_544_712_660_300_000_000),
                                                                         count: 2, sum: 2, bucketCounts: [1, 1], bounds: [1])], .cumulative))
        guard case .gauge(let gauge) = metrics[2].data else { Issue.record("not a gauge"); return }
        #expect(gauge.first?.value == -7)
        #expect(gauge.first?.point.attributes == [OTLPExport.Attribute("flag", "true"), OTLPExport.Attribute("n", "42"),
                                                  OTLPExport.Attribute("list", "[\"a\",1]"), OTLPExport.Attribute("map", "{\"x\":\"1.5\"}")])
    }

    /// Bodies that would decode into far more memory than they take: each stops at its bound.
    @Test func hostileBodiesStopAtTheirBounds() throws {
        let ms: Int64 = 1_800_000_000_000
        var limits = OTLPLimits()
        limits.maxAttributes = 50_000
        // 10,000 attributes on one point.
        let wide = OTLPRequests.request(OTLPRequests.resource([:], metrics: [OTLPRequests.gauge("g", OTLPRequests.point(1, at: ms, Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("k\($0)", "v") })))]))
        #expect(throws: CoreError.limit("a data point has more than 64 attributes")) { try OTLPWireDecoder.decode(OTLPRequests.protobuf(wide), limits: limits) }
        // 100,000 points of empty attributes, a few bytes each: the request total stops it.
        var many = OTLPRequests.gauge("g")
        many.gauge.dataPoints = (0..<100_000).map { _ in OTLPRequests.point(1, at: ms, ["a": ""]) }
        #expect(throws: CoreError.tooLarge("more than 50000 attributes in one request")) {
            try OTLPWireDecoder.decode(OTLPRequests.protobuf(OTLPRequests.request(OTLPRequests.resource([:], metrics: [many]))), limits: limits)
        }
        // A histogram point that claims a million buckets: refused before one is made.
        let wideHistogram = OTLPRequests.histogram("h", OTLPRequests.histogramPoint(at: ms, bounds: [], counts: Array(repeating: 1, count: 1_000_000), sum: nil))
        #expect(throws: CoreError.limit("a histogram point has 1000000 buckets, over the limit of 1024")) {
            try OTLPWireDecoder.decode(OTLPRequests.protobuf(OTLPRequests.request(OTLPRequests.resource([:], metrics: [wideHistogram]))))
        }
        // Arrays nested 50 deep in one attribute value.
        var value = OTLP_AnyValue()
        value.stringValue = "leaf"
        for _ in 0..<50 {
            var outer = OTLP_AnyValue()
            outer.arrayValue.values = [value]
            value = outer
        }
        var deep = OTLPRequests.point(1, at: ms)
        var pair = OTLP_KeyValue()
        pair.key = "deep"
        pair.value = value
        deep.attributes = [pair]
        #expect(throws: CoreError.limit("an attribute value nests arrays and maps over 8 deep")) {
            try OTLPWireDecoder.decode(OTLPRequests.protobuf(OTLPRequests.request(OTLPRequests.resource([:], metrics: [OTLPRequests.gauge("g", deep)]))))
        }
        // A gzip bomb: 1 GB of zeros in about 1 MB, stopped at the decoded limit.
        let bomb = Deflate.compress([UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 100_000)
        #expect(throws: CoreError.tooLarge("gzip body inflates to more than 1048576 bytes")) {
            try OTLPCodec.decode(bomb, encoding: .protobuf, contentEncoding: "gzip", maxDecodedBytes: 1 << 20)
        }
        // JSON of empty objects and of deep nesting.
        let objects = "{\"resourceMetrics\":[" + Array(repeating: "{}", count: 200_000).joined(separator: ",") + "]}"
        #expect(throws: CoreError.tooLarge("more than 150000 JSON values in one request")) {
            var small = OTLPLimits()
            small.maxSamples = 100_000
            small.maxAttributes = 50_000
            try OTLPCodec.decode(Array(objects.utf8), encoding: .json, contentEncoding: nil, maxDecodedBytes: 64 << 20, limits: small)
        }
        let nested = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: CoreError.limit("JSON nested over 40 deep")) {
            try OTLPCodec.decode(Array(nested.utf8), encoding: .json, contentEncoding: nil, maxDecodedBytes: 1 << 20)
        }
        // Truncated and corrupt bodies are errors, never crashes.
        let good = OTLPRequests.protobuf(OTLPDecodingTests.randomRequest(seed: 7))
        for cut in stride(from: 1, to: good.count, by: max(1, good.count / 50)) {
            _ = try? OTLPWireDecoder.decode(Array(good.prefix(cut)))
        }
        #expect(throws: CoreError.self) { try OTLPCodec.decode(Array(Deflate.compress(good).dropLast(4)), encoding: .protobuf, contentEncoding: "gzip", maxDecodedBytes: 1 << 20) }
        #expect(throws: CoreError.unsupportedEncoding("content encoding \"br\" is not supported; send gzip or none")) {
            try OTLPCodec.decode(good, encoding: .protobuf, contentEncoding: "br", maxDecodedBytes: 1 << 20)
        }
    }

    @Test func gzipMembersOneAfterAnotherAreOneBody() throws {
        let first = Array("hello, ".utf8), second = Array("world".utf8)
        #expect(try Deflate.decompress(Deflate.compress(first) + Deflate.compress(second), limit: 100) == first + second)
        #expect(throws: CoreError.self) { try Deflate.decompress(Array("not gzip".utf8), limit: 100) }
    }
}
