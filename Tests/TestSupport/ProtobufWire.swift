/// A protobuf writer small enough to check by eye: requests written byte by byte from a
/// specification's field numbers, independent of any generated code.
public struct ProtobufWire {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
    public mutating func key(_ field: UInt64, _ type: UInt64) { varint(field << 3 | type) }
    public mutating func bytes(_ field: UInt64, _ content: [UInt8]) {
        key(field, 2)
        varint(UInt64(content.count))
        bytes += content
    }
    public mutating func string(_ field: UInt64, _ text: String) { bytes(field, Array(text.utf8)) }
    public mutating func double(_ field: UInt64, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }
    public mutating func int(_ field: UInt64, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }
}

/// Remote write 2.0 requests written by hand from the specification.
public enum RemoteWrite2Example {
    /// The specification's message by hand: symbols (field 4) after the series (field 5), labels
    /// as packed references (field 1), a sample with its start timestamp (fields 1, 2, 3), the
    /// metadata's type (field 5.1 = COUNTER), an exemplar (field 4) and a native histogram (field 3).
    public static func specificationMessage() -> [UInt8] {
        var sample = ProtobufWire()
        sample.double(1, 42)
        sample.int(2, 1_700_000_010_000)
        sample.int(3, 1_700_000_000_000)
        var references = ProtobufWire()
        for reference in [1, 2, 3, 4] as [UInt64] { references.varint(reference) }  // __name__=http_requests_total, job=api
        var metadata = ProtobufWire()
        metadata.int(1, 1)
        metadata.int(3, 5)  // help
        var exemplar = ProtobufWire()
        exemplar.bytes(1, [])
        exemplar.double(2, 1)
        exemplar.int(3, 1_700_000_010_000)
        var series = ProtobufWire()
        series.bytes(1, references.bytes)
        series.bytes(2, sample.bytes)
        series.bytes(4, exemplar.bytes)
        series.bytes(5, metadata.bytes)
        var histogramOnly = ProtobufWire()
        histogramOnly.bytes(1, references.bytes)
        histogramOnly.bytes(3, [])
        var request = ProtobufWire()
        request.bytes(5, series.bytes)
        request.bytes(5, histogramOnly.bytes)
        for symbol in ["", "__name__", "http_requests_total", "job", "api", "Requests served."] { request.string(4, symbol) }
        return request.bytes
    }
}
