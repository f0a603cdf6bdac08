/// Bounds on one remote-write request, checked on the protobuf wire bytes as they are decoded,
/// before what they describe is made: a small body of empty labels or samples would otherwise
/// decode into gigabytes of objects. With the defaults, a request decodes into at most a few
/// hundred MB, whatever it holds.
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

    /// What a request holds so far, counted on the wire as it is decoded: decoding stops at
    /// the first bound passed, so what it allocated stays within the bounds.
    struct Counts {
        var series = 0
        var samples = 0
        var labels = 0
        /// Labels of the series being read.
        var labelsInSeries = 0

        /// The bounds throw `.tooLarge` for the request's totals (a sender can split it) and
        /// `.limit` for one series' labels.
        mutating func addSeries(within limits: RemoteWriteLimits) throws(CoreError) {
            series += 1
            labelsInSeries = 0
            guard series <= limits.maxSeries else { throw .tooLarge("more than \(limits.maxSeries) series in one request") }
        }

        mutating func addLabel(within limits: RemoteWriteLimits) throws(CoreError) {
            labelsInSeries += 1
            labels += 1
            guard labelsInSeries <= limits.maxLabelsPerSeries else { throw .limit("series \(series) has more than \(limits.maxLabelsPerSeries) labels") }
            guard labels <= limits.maxLabels else { throw .tooLarge("more than \(limits.maxLabels) labels in one request") }
        }

        mutating func addSample(within limits: RemoteWriteLimits) throws(CoreError) {
            samples += 1
            guard samples <= limits.maxSamples else { throw .tooLarge("more than \(limits.maxSamples) samples in one request") }
        }
    }

    /// Checks the bytes of a label's name (field 1) or value (field 2) of series number `series`.
    func checkLabelField(_ number: UInt64, bytes: Int, series: Int) throws(CoreError) {
        if number == 1 && bytes > maxLabelNameBytes {
            throw .limit("series \(series) has a label name of \(bytes) bytes, over the limit of \(maxLabelNameBytes)")
        }
        if number == 2 && bytes > maxLabelValueBytes {
            throw .limit("series \(series) has a label value of \(bytes) bytes, over the limit of \(maxLabelValueBytes)")
        }
    }
}

/// Reads protobuf fields from a range of bytes without decoding their contents. It reads
/// through a pointer the caller holds valid: a reader is made for every message and sample,
/// and one holding the array would retain and release it each time.
struct WireReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32
        case bytes(Range<Int>)
        /// A group (proto2's start and end markers), skipped whole as protobuf's parsers skip it.
        case group
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int
    let end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    /// The next field, or nil at the end.
    mutating func next() throws(CoreError) -> (number: UInt64, value: Value)? {
        guard position < end else { return nil }
        let key = try fieldKey()
        if key.wireType == 3 {
            try skipGroup(key.number)
            return (key.number, .group)
        }
        return (key.number, try value(ofWireType: key.wireType))
    }

    private mutating func fieldKey() throws(CoreError) -> (number: UInt64, wireType: UInt64) {
        let key = try varint()
        let number = key >> 3
        // A key is 32 bits: field numbers run from 1 to 2^29 − 1.
        guard number > 0, key <= UInt64(UInt32.max) else { throw .protobuf("field number \(number) out of range") }
        return (number, key & 7)
    }

    private mutating func value(ofWireType wireType: UInt64) throws(CoreError) -> Value {
        switch wireType {
        case 0:
            return .varint(try varint())
        case 1:
            try advance(8)
            // Little-endian, as protobuf writes fixed-width numbers.
            return .fixed64(UInt64(littleEndian: UnsafeRawBufferPointer(bytes).loadUnaligned(fromByteOffset: position - 8, as: UInt64.self)))
        case 5:
            try advance(4)
            return .fixed32
        case 2:
            let length = try varint()
            guard length <= UInt64(end - position) else { throw .protobuf("a field of \(length) bytes runs past the end of its message") }
            let start = position
            position += Int(length)
            return .bytes(start..<position)
        default:
            throw .protobuf("unsupported wire type \(wireType)")
        }
    }

    /// Groups nest at most this deep (swift-protobuf's default depth limit, which also counts
    /// the messages around them).
    static let maxGroupDepth = 100

    /// Skips a group's fields, nested groups included, through its end marker; without
    /// recursion, so a request of nested groups cannot exhaust the stack.
    private mutating func skipGroup(_ number: UInt64) throws(CoreError) {
        var open = [number]
        while let innermost = open.last {
            guard position < end else { throw .protobuf("a group of field \(innermost) runs past the end of its message") }
            let key = try fieldKey()
            switch key.wireType {
            case 3:
                guard open.count < WireReader.maxGroupDepth else { throw .protobuf("groups nested over \(WireReader.maxGroupDepth) deep") }
                open.append(key.number)
            case 4:
                guard key.number == innermost else { throw .protobuf("a group of field \(innermost) ended as field \(key.number)") }
                open.removeLast()
            default:
                _ = try value(ofWireType: key.wireType)
            }
        }
    }

    private mutating func advance(_ count: Int) throws(CoreError) {
        guard end - position >= count else { throw .protobuf("truncated field") }
        position += count
    }

    /// The bytes as a String, refused unless they are UTF-8 (`what` names them in the error).
    /// `String(validating:as:)` went through the standard library's generic path (a metadata
    /// lookup per string: a fifth of a remote-write decode); decoding repairs what is not UTF-8
    /// with U+FFFD, so a string whose bytes differ from the input's was repaired.
    static func string(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, what: String) throws(CoreError) -> String {
        let bytes = UnsafeBufferPointer(rebasing: raw[range])
        let string = String(decoding: bytes, as: UTF8.self)
        // ASCII (nearly every label) is UTF-8 as it is: no comparison needed.
        var high: UInt8 = 0
        for byte in bytes { high |= byte }
        guard high < 0x80 || string.utf8.elementsEqual(bytes) else { throw .protobuf("\(what) that is not UTF-8") }
        return string
    }

    /// A varint at the position: also how packed repeated varints are read, one after another.
    mutating func varint() throws(CoreError) -> UInt64 {
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
