import SwiftProtobuf
import Testing
@_spi(Benchmark) @testable import TokenWattCore

/// The wire decoder against swift-protobuf's generated one, on the same bytes: random requests,
/// the same with unknown fields and fields of another wire type, and broken ones (bytes
/// flipped, cut short). Both take a request or both refuse it, and what they take is the same.
@Suite struct RemoteWriteDecoderTests {
    /// Labels and samples, with values compared by their bits (NaN and stale markers included).
    static func same(_ lhs: [TimeSeries], _ rhs: [TimeSeries]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { left, right in
            left.labels.labels == right.labels.labels && left.samples.map(\.timestamp) == right.samples.map(\.timestamp)
                && left.samples.map(\.value.bitPattern) == right.samples.map(\.value.bitPattern)
        }
    }

    static let alphabet = Array("az_Z09:é€😀 \"\\") + ["\u{0}"]
    static let values: [Double] = [0, -0.0, 1.5, -2e300, .infinity, -.infinity, .nan, Sample.staleMarker, .leastNonzeroMagnitude]

    static func randomRequest(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var request = Prometheus_WriteRequest()
        request.timeseries = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
            var series = Prometheus_TimeSeries()
            series.labels = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                var label = Prometheus_Label()
                label.name = String((0..<Int.random(in: 0...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                label.value = String((0..<Int.random(in: 0...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                return label
            }
            series.samples = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                var sample = Prometheus_Sample()
                sample.value = values.randomElement(using: &generator)!
                sample.timestamp = Bool.random(using: &generator) ? Int64.random(in: .min ... .max, using: &generator) : Int64.random(in: -5...5, using: &generator)
                return sample
            }
            return series
        }
        var raw = try! request.serializedBytes() as [UInt8]
        // Fields the reduced schema does not know, and a known number with another wire type:
        // metadata (3, bytes), a varint 5, timeseries (1) as a varint, a fixed32 and a fixed64,
        // a group (field 4) holding a varint, and one holding a group (field 5).
        let extras: [[UInt8]] = [[0x1A, 0x02, 0x08, 0x01], [0x28, 0x96, 0x01], [0x08, 0x07], [0x35, 1, 2, 3, 4], [0x39, 1, 2, 3, 4, 5, 6, 7, 8],
                                 [0x23, 0x08, 0x01, 0x24], [0x23, 0x2B, 0x08, 0x01, 0x2C, 0x24]]
        if Bool.random(using: &generator) { raw += extras.randomElement(using: &generator)! }
        return raw
    }

    static func broken(_ raw: [UInt8], using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes = raw
        guard !bytes.isEmpty else { return [0x0A] }
        if Bool.random(using: &generator) {
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
        } else {
            for _ in 0..<Int.random(in: 1...3, using: &generator) { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = .random(in: 0...255, using: &generator) }
        }
        return bytes
    }

    @Test func agreesWithSwiftProtobufOnRandomAndBrokenRequests() throws {
        var generator = SystemRandomNumberGenerator()
        var taken = 0, refused = 0
        for round in 0..<5_000 {
            let valid = RemoteWriteDecoderTests.randomRequest(using: &generator)
            let raw = round.isMultiple(of: 2) ? valid : RemoteWriteDecoderTests.broken(valid, using: &generator)
            let ours = Result { () throws(CoreError) in try RemoteWriteDecoder.decode(raw) }
            let theirs = Result { try RemoteWriteDecoding.swiftProtobuf(raw) }
            switch (ours, theirs) {
            case (.success(let ours), .success(let theirs)):
                #expect(RemoteWriteDecoderTests.same(ours, theirs), "bytes \(raw)")
                taken += 1
            case (.failure, .failure):
                refused += 1
            default:
                Issue.record("one decoder took what the other refused: ours \(ours), swift-protobuf \(theirs), bytes \(raw)")
            }
        }
        // Both kinds were exercised.
        #expect(taken > 2_500 && refused > 100, "taken \(taken), refused \(refused)")
    }

    /// A series' wire key follows its label bytes alone: the same series in any request, at
    /// any position, has the same key; other labels, or the same bytes cut apart elsewhere,
    /// have another. A series the caller knows comes without labels, its samples the same.
    @Test func keysFollowTheLabelBytesAndKnownSeriesComeWithoutLabels() throws {
        func series(_ labels: [String: String], _ value: Double) -> TimeSeries {
            TimeSeries(labels: try! LabelSet(dictionary: labels), samples: [Sample(timestamp: 1_000, value: value)])
        }
        let a = series(["__name__": "m", "a": "bc"], 1), b = series(["__name__": "m", "ab": "c"], 2), c = series(["__name__": "n"], 3)
        let decoded = try RemoteWriteDecoder.decode(RemoteWriteCodec.serialize([a, b, a, c])) { _, _ in false }
        #expect(decoded.map(\.labels) == [a, b, a, c].map(\.labels))
        #expect(decoded[0].key == decoded[2].key)
        #expect(Set(decoded.map(\.key)).count == 3)
        let alone = try RemoteWriteDecoder.decode(RemoteWriteCodec.serialize([c])) { _, _ in false }
        #expect(alone[0].key == decoded[3].key)

        var asked: [(Int, WireSeriesKey)] = []
        let known = try RemoteWriteDecoder.decode(RemoteWriteCodec.serialize([a, b, a, c])) { position, key in
            asked.append((position, key))
            return position == 1 || position == 2
        }
        #expect(asked.map(\.0) == [0, 1, 2, 3] && asked.map(\.1) == decoded.map(\.key))
        #expect(known.map(\.labels) == [a.labels, nil, nil, c.labels])
        #expect(known.map(\.samples) == [a, b, a, c].map(\.samples))
    }

    /// On random requests, decoding with keys gives what decoding without them gives, and a
    /// series' key is the one it has in a request of its own.
    @Test func keyedDecodingAgreesOnRandomRequests() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let raw = RemoteWriteDecoderTests.randomRequest(using: &generator)
            guard let plain = try? RemoteWriteDecoder.decode(raw) else { continue }
            let keyed = try RemoteWriteDecoder.decode(raw) { _, _ in false }
            #expect(RemoteWriteDecoderTests.same(plain, keyed.map { TimeSeries(labels: $0.labels!, samples: $0.samples) }))
            for (series, decoded) in zip(plain, keyed) {
                let alone = try RemoteWriteDecoder.decode(RemoteWriteCodec.serialize([series])) { _, _ in false }
                #expect(alone.first?.key == decoded.key, "labels \(series.labels)")
            }
        }
    }

    /// Groups are skipped as swift-protobuf skips them; nested past its depth limit, or a
    /// million deep, they are refused, not followed down the stack.
    @Test func groupsAreSkippedAndDeepNestingIsRefused() throws {
        func nested(_ depth: Int) -> [UInt8] {
            Array(repeating: 0x23, count: depth) + Array(repeating: 0x24, count: depth)
        }
        let series = RemoteWriteCodec.serialize([TimeSeries(labels: try LabelSet(dictionary: ["__name__": "m"]), samples: [Sample(timestamp: 1, value: 2)])])
        #expect(try RemoteWriteDecoder.decode(nested(50) + series).map(\.labels.metricName) == ["m"])
        #expect(try RemoteWriteDecoding.swiftProtobuf(nested(50) + series).map(\.labels.metricName) == ["m"])
        #expect(try RemoteWriteDecoder.decode(nested(WireReader.maxGroupDepth) + series).count == 1)
        for depth in [WireReader.maxGroupDepth + 1, 1_000_000] {
            #expect(throws: CoreError.protobuf("groups nested over \(WireReader.maxGroupDepth) deep")) { try RemoteWriteDecoder.decode(nested(depth) + series) }
        }
        #expect(throws: (any Error).self) { try RemoteWriteDecoding.swiftProtobuf(nested(1_000_000) + series) }
        #expect(throws: CoreError.protobuf("a group of field 4 ended as field 5")) { try RemoteWriteDecoder.decode([0x23, 0x2C] + series) }
        #expect(throws: CoreError.self) { try RemoteWriteDecoder.decode([0x24] + series) }  // an end without a start
    }
}
