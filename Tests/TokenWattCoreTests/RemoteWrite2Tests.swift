import Testing
import TokenWattCore
import TokenWattTestSupport

/// Remote write 2.0's decoder: against a request written byte by byte from the
/// specification's field numbers, against swift-protobuf, and on broken and hostile input.
@Suite struct RemoteWrite2Tests {
    @Test func theSpecificationsMessageByHand() throws {
        let request = try RemoteWrite2Decoder.decode(RemoteWrite2Example.specificationMessage())
        #expect(request.series == [RemoteWrite2Series(
            labels: try LabelSet(validating: [Label("__name__", "http_requests_total"), Label("job", "api")]),
            samples: [Sample(timestamp: 1_700_000_010_000, value: 42)], isCumulative: true, startTimestamp: 1_700_000_000_000)])
        #expect(request.histograms == 1 && request.exemplars == 1)
        // swift-protobuf's generated decoder reads the same bytes the same way.
        let generated = try PrometheusV2_Request(serializedBytes: RemoteWrite2Example.specificationMessage())
        #expect(generated.symbols[generated.timeseries[0].labelsRefs.map(Int.init)[1]] == "http_requests_total")
        #expect(generated.timeseries[0].samples[0].startTimestamp == 1_700_000_000_000)
        #expect(generated.timeseries[0].metadata.type == .counter)
    }

    @Test func whatTheEncoderWritesDecodesBack() throws {
        var generator = SeededGenerator(seed: 2)
        for _ in 0..<100 {
            let series = (0..<Int(generator.next() % 20 + 1)).map { index in
                TimeSeries(labels: try! LabelSet(validating: [Label("__name__", "m\(index % 3)"), Label("i", "\(index)"), Label("z", "v\(generator.next() % 5)")]),
                           samples: (0..<Int(generator.next() % 4 + 1)).map { Sample(timestamp: 1_700_000_000_000 + Int64($0), value: Double(generator.next() % 1000)) })
            }
            let decoded = try RemoteWrite2Decoder.decode(RemoteWriteCodec.serializeV2(series, types: ["m0": .counter]))
            #expect(decoded.series.map { TimeSeries(labels: $0.labels, samples: $0.samples) } == series)
            #expect(decoded.series.map(\.isCumulative) == series.map { $0.labels.metricName == "m0" })
        }
    }

    @Test func brokenAndHostileRequestsAreErrorsNeverCrashes() throws {
        var bad = ProtobufWire()
        bad.string(4, "x")  // the table must start with ""
        var series = ProtobufWire()
        series.bytes(1, [1, 2])
        bad.bytes(5, series.bytes)
        #expect(throws: CoreError.protobuf("the symbols table must start with the empty string")) { try RemoteWrite2Decoder.decode(bad.bytes) }
        var outOfRange = ProtobufWire()
        outOfRange.string(4, "")
        var reference = ProtobufWire()
        reference.bytes(1, [0, 9])
        outOfRange.bytes(5, reference.bytes)
        #expect(throws: CoreError.protobuf("a reference to symbol 9 of 1")) { try RemoteWrite2Decoder.decode(outOfRange.bytes) }
        var odd = ProtobufWire()
        odd.string(4, "")
        var oddSeries = ProtobufWire()
        oddSeries.bytes(1, [0])
        odd.bytes(5, oddSeries.bytes)
        #expect(throws: CoreError.protobuf("series 1 has an odd number of label references")) { try RemoteWrite2Decoder.decode(odd.bytes) }
        // A million labels in one series, by reference: stopped at the per-series bound.
        var wide = ProtobufWire()
        wide.string(4, "")
        wide.string(4, "__name__")
        var many = ProtobufWire()
        many.bytes(1, [UInt8](repeating: 1, count: 2_000_000))
        wide.bytes(5, many.bytes)
        #expect(throws: CoreError.limit("series 1 has more than 64 labels")) { try RemoteWrite2Decoder.decode(wide.bytes) }
        // Every prefix of a good request decodes or fails cleanly.
        let good = RemoteWrite2Example.specificationMessage()
        for cut in 0..<good.count { _ = try? RemoteWrite2Decoder.decode(Array(good.prefix(cut))) }
    }
}
