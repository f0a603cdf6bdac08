/// Bounds on one remote-write request, checked on the protobuf wire bytes before anything is
/// decoded: a small body of empty labels or samples would otherwise decode into gigabytes of
/// objects. With the defaults, a request decodes into at most a few hundred MB, whatever it holds.
public struct RemoteWriteLimits: Sendable, Equatable {
    /// Series in one request (default 100,000).
    public var maxSeries = 100_000
    /// Samples in one request (default 1,000,000).
    public var maxSamples = 1_000_000
    /// Labels of all series in one request together (default 1,000,000).
    public var maxLabels = 1_000_000
    /// Labels of one series, its name included (default 64).
    public var maxLabelsPerSeries = 64
    /// Bytes of one label name (default 1,024) and one label value (default 4,096).
    public var maxLabelNameBytes = 1024
    public var maxLabelValueBytes = 4096

    public init() {}

    /// What a request holds, counted on the wire.
    public struct Counts: Equatable, Sendable {
        public var series = 0
        public var samples = 0
        public var labels = 0
    }

    /// Walks a serialised `WriteRequest` and throws the first bound it passes: `.tooLarge` for
    /// the request's totals (a sender can split it), `.limit` for one series' labels.
    @discardableResult
    public func check(_ raw: [UInt8]) throws(CoreError) -> Counts {
        var counts = Counts()
        var request = WireReader(raw, 0..<raw.count)
        while let field = try request.next() {
            guard field.number == 1, case .bytes(let series) = field.value else { continue }  // metadata and unknown fields
            counts.series += 1
            guard counts.series <= maxSeries else { throw .tooLarge("more than \(maxSeries) series in one request") }
            var labelsHere = 0
            var reader = WireReader(raw, series)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let label)):
                    labelsHere += 1
                    counts.labels += 1
                    guard labelsHere <= maxLabelsPerSeries else { throw .limit("series \(counts.series) has more than \(maxLabelsPerSeries) labels") }
                    guard counts.labels <= maxLabels else { throw .tooLarge("more than \(maxLabels) labels in one request") }
                    try checkLabel(raw, label, series: counts.series)
                case (2, .bytes):
                    counts.samples += 1
                    guard counts.samples <= maxSamples else { throw .tooLarge("more than \(maxSamples) samples in one request") }
                default:
                    continue  // exemplars, histograms: not kept
                }
            }
        }
        return counts
    }

    private func checkLabel(_ raw: [UInt8], _ range: Range<Int>, series: Int) throws(CoreError) {
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            guard case .bytes(let text) = field.value else { continue }
            if field.number == 1 && text.count > maxLabelNameBytes {
                throw .limit("series \(series) has a label name of \(text.count) bytes, over the limit of \(maxLabelNameBytes)")
            }
            if field.number == 2 && text.count > maxLabelValueBytes {
                throw .limit("series \(series) has a label value of \(text.count) bytes, over the limit of \(maxLabelValueBytes)")
            }
        }
    }
}

/// Reads protobuf fields from a range of bytes without decoding their contents.
struct WireReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32
        case bytes(Range<Int>)
    }

    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], _ range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    /// The next field, or nil at the end.
    mutating func next() throws(CoreError) -> (number: UInt64, value: Value)? {
        guard position < end else { return nil }
        let key = try varint()
        let number = key >> 3
        // A key is 32 bits: field numbers run from 1 to 2^29 − 1.
        guard number > 0, key <= UInt64(UInt32.max) else { throw .protobuf("field number \(number) out of range") }
        switch key & 7 {
        case 0:
            return (number, .varint(try varint()))
        case 1:
            try advance(8)
            // Little-endian, as protobuf writes fixed-width numbers.
            let value = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position - 8, as: UInt64.self)) }
            return (number, .fixed64(value))
        case 5:
            try advance(4)
            return (number, .fixed32)
        case 2:
            let length = try varint()
            guard length <= UInt64(end - position) else { throw .protobuf("a field of \(length) bytes runs past the end of its message") }
            let start = position
            position += Int(length)
            return (number, .bytes(start..<position))
        default:
            throw .protobuf("unsupported wire type \(key & 7)")
        }
    }

    private mutating func advance(_ count: Int) throws(CoreError) {
        guard end - position >= count else { throw .protobuf("truncated field") }
        position += count
    }

    private mutating func varint() throws(CoreError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw .protobuf("varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw .protobuf("truncated varint")
    }
}
