/// Appends values of any bit width to a byte array, most significant bit first.
struct BitWriter {
    /// The whole bytes written.
    private var storage: [UInt8] = []
    /// The bits after them (fewer than 8), in the low bits.
    private var pending: UInt64 = 0
    private var pendingCount = 0

    init(reservingBytes capacity: Int = 0) {
        storage.reserveCapacity(capacity)
    }

    /// What was written, the last byte padded with zero bits.
    var bytes: [UInt8] {
        pendingCount == 0 ? storage : storage + [UInt8(truncatingIfNeeded: pending << UInt64(8 - pendingCount))]
    }

    var byteCount: Int { storage.count + (pendingCount > 0 ? 1 : 0) }

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
        // The pending bits and the new ones must fit one word.
        guard count <= 56 else {
            write(value >> 32, bits: count - 32)
            write(value & 0xffff_ffff, bits: 32)
            return
        }
        var word = (pending << UInt64(count)) | (value & ((1 << UInt64(count)) - 1))
        var bits = pendingCount + count
        while bits >= 8 {
            bits -= 8
            storage.append(UInt8(truncatingIfNeeded: word >> UInt64(bits)))
        }
        word &= (1 << UInt64(bits)) - 1
        pending = word
        pendingCount = bits
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
