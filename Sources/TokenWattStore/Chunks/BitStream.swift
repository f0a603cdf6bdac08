/// Appends values of any bit width to a byte array, most significant bit first.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    /// Bits still free in the last byte (0 when a new byte is needed).
    private var free = 0

    init(reservingBytes capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Writes an unsigned number in 8-bit groups, 7 bits of it each, the high bit set on all
    /// but the last (LEB128, as protobuf's varints).
    mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            write(rest & 0x7f | 0x80, bits: 8)
            rest >>= 7
        }
        write(rest, bits: 8)
    }

    mutating func writeBit(_ bit: Bool) {
        write(bit ? 1 : 0, bits: 1)
    }

    /// Writes the low `count` bits of `value` (0...64).
    mutating func write(_ value: UInt64, bits count: Int) {
        var remaining = count
        while remaining > 0 {
            if free == 0 {
                bytes.append(0)
                free = 8
            }
            let take = Swift.min(free, remaining)
            // The next `take` bits of value, from the most significant of the remaining ones.
            let chunk = UInt8(truncatingIfNeeded: (value >> UInt64(remaining - take)) & ((1 << UInt64(take)) - 1))
            bytes[bytes.count - 1] |= chunk << UInt8(free - take)
            free -= take
            remaining -= take
        }
    }
}

/// Reads what a `BitWriter` wrote.
struct BitReader {
    private let bytes: [UInt8]
    private var position = 0  // in bits

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var bitsLeft: Int { bytes.count * 8 - position }

    mutating func readVarint() throws(ChunkError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            let group = try read(bits: 8)
            value |= (group & 0x7f) << UInt64(shift)
            if group & 0x80 == 0 { return value }
        }
        throw .truncated
    }

    mutating func readBit() throws(ChunkError) -> Bool {
        try read(bits: 1) == 1
    }

    /// Reads `count` bits (0...64) as the low bits of the result.
    mutating func read(bits count: Int) throws(ChunkError) -> UInt64 {
        guard count <= bitsLeft else { throw .truncated }
        var value: UInt64 = 0
        var remaining = count
        while remaining > 0 {
            let offset = position & 7
            let take = Swift.min(8 - offset, remaining)
            let byte = UInt64(bytes[position >> 3])
            let chunk = (byte >> UInt64(8 - offset - take)) & ((1 << UInt64(take)) - 1)
            value = (value << UInt64(take)) | chunk
            position += take
            remaining -= take
        }
        return value
    }
}

/// A stored chunk that cannot be decoded: the database was damaged or written by another program.
enum ChunkError: Error, Equatable {
    case truncated
    case countMismatch
}
