/// Decodes a serialised `WriteRequest` straight into `TimeSeries`, one pass over the wire
/// bytes: the three messages remote write 1.0 sends (`TimeSeries`, `Label`, `Sample`) and
/// nothing else. swift-protobuf's generated decoder built every message and string through
/// its generic visitor first, and then they were copied again; ingest spends its time here.
/// It reads as swift-protobuf does (`RemoteWriteDecoderTests` checks the two agree on random
/// and broken requests): unknown fields and known ones of another wire type are skipped, the
/// last of a repeated scalar wins, strings must be UTF-8.
enum RemoteWriteDecoder {
    static func decode(_ raw: [UInt8]) throws(CoreError) -> [TimeSeries] {
        var result: [TimeSeries] = []
        var request = WireReader(raw, 0..<raw.count)
        while let field = try request.next() {
            guard field.number == 1, case .bytes(let message) = field.value else { continue }  // metadata, unknown fields
            var labels: [Label] = []
            var samples: [Sample] = []
            var reader = WireReader(raw, message)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let label)): labels.append(try decodeLabel(raw, label))
                case (2, .bytes(let sample)): samples.append(try decodeSample(raw, sample))
                default: continue  // exemplars, histograms: not kept
                }
            }
            result.append(TimeSeries(labels: LabelSet(trusted: labels), samples: samples))
        }
        return result
    }

    private static func decodeLabel(_ raw: [UInt8], _ range: Range<Int>) throws(CoreError) -> Label {
        var name = "", value = ""
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            guard case .bytes(let text) = field.value, field.number == 1 || field.number == 2 else { continue }
            guard let string = String(validating: raw[text], as: UTF8.self) else { throw .protobuf("a label that is not UTF-8") }
            if field.number == 1 { name = string } else { value = string }
        }
        return Label(name, value)
    }

    private static func decodeSample(_ raw: [UInt8], _ range: Range<Int>) throws(CoreError) -> Sample {
        var value = 0.0
        var timestamp: Int64 = 0
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .fixed64(let bits)): value = Double(bitPattern: bits)
            case (2, .varint(let number)): timestamp = Int64(bitPattern: number)
            default: continue
            }
        }
        return Sample(timestamp: timestamp, value: value)
    }
}
