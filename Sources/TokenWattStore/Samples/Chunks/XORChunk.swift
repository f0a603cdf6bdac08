import TokenWattCore

/// The compressed form of one series' samples over one window, as in Facebook's Gorilla paper
/// (and Prometheus's TSDB chunks): timestamps as deltas of deltas, values as the XOR with the
/// previous value, each in as few bits as it needs.
///
/// Layout: sample count (varint), first timestamp (zigzag varint: 6 bytes for today's
/// milliseconds), first value's bits (64 bits), then per further sample a timestamp field and a
/// value field:
/// - delta of delta `0` → `0`; within 14, 17 or 20 signed bits → `10`, `110`, `1110` and the bits;
///   otherwise `1111` and 64 bits.
/// - value XOR 0 → `0`; else `1`, then `0` and the meaningful bits when they fit inside the
///   previous leading/trailing-zero window, or `1`, 5 bits of leading zeros, 6 bits of length
///   (64 written as 0) and the meaningful bits.
///
/// Values are kept as raw bits, so NaN and Prometheus's stale marker come back exactly.
enum XORChunk {
    /// Bucket widths for deltas of deltas, after their prefixes `10`, `110` and `1110`.
    private static let deltaWidths = [14, 17, 20]

    /// Encodes samples in strictly increasing timestamp order.
    static func encode(_ samples: some Collection<Sample>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 + samples.count * 2)
        encode(samples, appendingTo: &bytes)
        return bytes
    }

    /// Encodes samples in strictly increasing timestamp order after `bytes`: many chunks in
    /// one buffer, without a buffer of their own each.
    static func encode(_ samples: some Collection<Sample>, appendingTo bytes: inout [UInt8]) {
        Varint.append(UInt64(samples.count), to: &bytes)
        var appender = XORAppender(body: BitWriter(continuing: &bytes))
        for sample in samples { appender.append(sample) }
        bytes = appender.finishBody()
    }

    static func decode(_ bytes: [UInt8]) throws(ChunkError) -> [Sample] {
        var reader = BitReader(bytes)
        return try decode(count: try reader.readVarint(), from: &reader)
    }

    /// Decodes the samples after the count, which the head keeps apart from its chunks' bits.
    static func decode(count encodedCount: UInt64, from reader: inout BitReader) throws(ChunkError) -> [Sample] {
        guard encodedCount > 0 else { return [] }
        // Each further sample takes at least two bits: a bound that stops a damaged count early.
        guard encodedCount - 1 <= UInt64(max(0, reader.bitsLeft / 2)) else { throw .countMismatch }
        let count = Int(encodedCount)
        var samples: [Sample] = []
        samples.reserveCapacity(count)
        var timestamp = Varint.unzigzag(try reader.readVarint())
        var bits = try reader.read(bits: 64)
        samples.append(Sample(timestamp: timestamp, value: Double(bitPattern: bits)))
        var delta: Int64 = 0
        var leading = 0
        var trailing = 0
        for _ in 1..<count {
            delta &+= try readDeltaOfDelta(&reader)
            timestamp &+= delta
            if try reader.readBit() {
                if try reader.readBit() {
                    leading = Int(try reader.read(bits: 5))
                    var length = Int(try reader.read(bits: 6))
                    if length == 0 { length = 64 }
                    trailing = 64 - leading - length
                    guard trailing >= 0 else { throw .countMismatch }
                }
                bits ^= try reader.read(bits: 64 - leading - trailing) << UInt64(trailing)
            }
            samples.append(Sample(timestamp: timestamp, value: Double(bitPattern: bits)))
        }
        return samples
    }

    fileprivate static func writeDeltaOfDelta(_ value: Int64, to writer: inout BitWriter) {
        guard value != 0 else {
            writer.write(0, bits: 1)
            return
        }
        for (index, width) in deltaWidths.enumerated() {
            let bound = Int64(1) << Int64(width - 1)
            if value >= -bound && value < bound {
                // Prefix: index + 1 ones and a zero, then the value's low bits.
                let prefix: UInt64 = (1 << UInt64(index + 2)) - 2
                writer.write(prefix << UInt64(width) | (UInt64(bitPattern: value) & ((1 << UInt64(width)) - 1)), bits: index + 2 + width)
                return
            }
        }
        writer.write(0b1111, bits: 4)
        writer.write(UInt64(bitPattern: value), bits: 64)
    }

    private static func readDeltaOfDelta(_ reader: inout BitReader) throws(ChunkError) -> Int64 {
        var ones = 0
        while ones < 4, try reader.readBit() { ones += 1 }
        guard ones > 0 else { return 0 }
        guard ones < 4 else { return Int64(bitPattern: try reader.read(bits: 64)) }
        let width = deltaWidths[ones - 1]
        let raw = try reader.read(bits: width)
        // Sign-extend the `width`-bit two's complement value.
        let shift = UInt64(64 - width)
        return Int64(bitPattern: raw << shift) >> Int64(shift)
    }
}

/// A chunk being written one sample at a time, as the head appends: the bits of each sample
/// are added in place, nothing is encoded twice. Its fields are kept narrow: the head holds one
/// per series and window.
struct XORAppender {
    /// The bits after the count: first timestamp, first value, then each further sample.
    private(set) var body: BitWriter
    private var samples: UInt32 = 0
    /// The XOR window of the previous value: leading and trailing zero bits (`noWindow` before the first).
    private var leading: UInt8 = XORAppender.noWindow
    private var trailing: UInt8 = 0
    private(set) var firstTimestamp: Int64 = 0
    private var previous = Sample(timestamp: 0, value: 0)
    private var previousDelta: Int64 = 0

    private static let noWindow: UInt8 = .max

    var count: Int { Int(samples) }

    init(reservingBytes capacity: Int = 0) {
        body = BitWriter(reservingBytes: capacity)
    }

    init(body: BitWriter) {
        self.body = body
    }

    /// The body's bytes, handed over (see `BitWriter.finish`).
    mutating func finishBody() -> [UInt8] {
        body.finish()
    }

    /// The newest sample appended.
    var last: Sample? { samples > 0 ? previous : nil }

    /// The whole chunk: the count, then the body.
    var encoded: [UInt8] {
        var header = BitWriter(reservingBytes: 10 + body.byteCount)
        header.writeVarint(UInt64(count))
        return header.bytes + body.bytes
    }

    /// Appends a sample newer than `last`.
    mutating func append(_ sample: Sample) {
        defer {
            previous = sample
            samples += 1
        }
        guard samples > 0 else {
            firstTimestamp = sample.timestamp
            body.writeVarint(Varint.zigzag(sample.timestamp))
            body.write(sample.value.bitPattern, bits: 64)
            return
        }
        let delta = sample.timestamp &- previous.timestamp
        XORChunk.writeDeltaOfDelta(delta &- previousDelta, to: &body)
        previousDelta = delta

        let xor = sample.value.bitPattern ^ previous.value.bitPattern
        guard xor != 0 else {
            body.write(0, bits: 1)
            return
        }
        let newLeading = UInt8(Swift.min(xor.leadingZeroBitCount, 31))
        let newTrailing = UInt8(xor.trailingZeroBitCount)
        if leading != XORAppender.noWindow && newLeading >= leading && newTrailing >= trailing {
            body.write(0b10, bits: 2)
            body.write(xor >> UInt64(trailing), bits: 64 - Int(leading) - Int(trailing))
        } else {
            leading = newLeading
            trailing = newTrailing
            let length = 64 - Int(leading) - Int(trailing)
            // `11`, 5 bits of leading zeros and 6 of length in one write.
            body.write(0b11 << 11 | UInt64(leading) << 6 | UInt64(length & 63), bits: 13)
            body.write(xor >> UInt64(trailing), bits: length)
        }
    }

    /// Its samples, in timestamp order.
    func decoded() -> [Sample] {
        var reader = BitReader(body.bytes)
        do {
            return try XORChunk.decode(count: UInt64(count), from: &reader)
        } catch {
            preconditionFailure("a chunk the head wrote itself does not decode: \(error)")
        }
    }
}
