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
        var writer = BitWriter(reservingBytes: 20 + samples.count * 2)
        writer.writeVarint(UInt64(samples.count))
        guard let first = samples.first else { return writer.bytes }
        writer.writeVarint(UInt64(bitPattern: (first.timestamp << 1) ^ (first.timestamp >> 63)))
        writer.write(first.value.bitPattern, bits: 64)
        var previous = first
        var previousDelta: Int64 = 0
        var leading = Int.max  // no window yet
        var trailing = 0
        for sample in samples.dropFirst() {
            let delta = sample.timestamp - previous.timestamp
            writeDeltaOfDelta(delta &- previousDelta, to: &writer)
            previousDelta = delta

            let xor = sample.value.bitPattern ^ previous.value.bitPattern
            if xor == 0 {
                writer.writeBit(false)
            } else {
                writer.writeBit(true)
                let newLeading = Swift.min(xor.leadingZeroBitCount, 31)
                let newTrailing = xor.trailingZeroBitCount
                if leading != .max && newLeading >= leading && newTrailing >= trailing {
                    writer.writeBit(false)
                    writer.write(xor >> UInt64(trailing), bits: 64 - leading - trailing)
                } else {
                    leading = newLeading
                    trailing = newTrailing
                    let length = 64 - leading - trailing
                    writer.writeBit(true)
                    writer.write(UInt64(leading), bits: 5)
                    writer.write(UInt64(length & 63), bits: 6)
                    writer.write(xor >> UInt64(trailing), bits: length)
                }
            }
            previous = sample
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(ChunkError) -> [Sample] {
        var reader = BitReader(bytes)
        let encodedCount = try reader.readVarint()
        guard encodedCount > 0 else { return [] }
        // Each further sample takes at least two bits: a bound that stops a damaged count early.
        guard encodedCount - 1 <= UInt64(max(0, reader.bitsLeft / 2)) else { throw .countMismatch }
        let count = Int(encodedCount)
        var samples: [Sample] = []
        samples.reserveCapacity(count)
        let zigzag = try reader.readVarint()
        var timestamp = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
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

    private static func writeDeltaOfDelta(_ value: Int64, to writer: inout BitWriter) {
        guard value != 0 else {
            writer.writeBit(false)
            return
        }
        for (index, width) in deltaWidths.enumerated() {
            let bound = Int64(1) << Int64(width - 1)
            if value >= -bound && value < bound {
                // Prefix: index + 1 ones and a zero.
                writer.write((1 << UInt64(index + 2)) - 2, bits: index + 2)
                writer.write(UInt64(bitPattern: value), bits: width)
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
