/// Appends values of any bit width to a byte array, most significant bit first. Bits gather in
/// one 64-bit word and go to the array eight bytes at a time: a sample's fields take a shift
/// each, not an append per byte.
struct BitWriter {
    /// The whole words written.
    private var storage: [UInt8] = []
    /// The bits after them (fewer than 64), in the low bits.
    private var pending: UInt64 = 0
    private var pendingCount: UInt8 = 0

    init(reservingBytes capacity: Int = 0) {
        storage.reserveCapacity(capacity)
    }

    /// Goes on writing after `bytes`, which it takes over (no copy): `finish` hands them back.
    init(continuing bytes: inout [UInt8]) {
        storage = bytes
        bytes = []
    }

    /// Pads the last byte with zero bits and hands the bytes over, leaving the writer empty.
    mutating func finish() -> [UInt8] {
        appendPending(to: &storage)
        pending = 0
        pendingCount = 0
        defer { storage = [] }
        return storage
    }

    /// What was written, the last byte padded with zero bits.
    var bytes: [UInt8] {
        var bytes = storage
        appendPending(to: &bytes)
        return bytes
    }

    var byteCount: Int { storage.count + (Int(pendingCount) + 7) / 8 }

    /// The pending bits as whole bytes, the last padded with zero bits.
    private func appendPending(to bytes: inout [UInt8]) {
        guard pendingCount > 0 else { return }
        let aligned = pending << UInt64(64 - pendingCount)  // the first pending bit at the top
        for index in 0..<(Int(pendingCount) + 7) / 8 {
            bytes.append(UInt8(truncatingIfNeeded: aligned >> UInt64(56 - 8 * index)))
        }
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
        // Shifts by 64 give 0 (Swift's `<<` and `>>` on a shift past the width), and the mask
        // wraps to all ones: `count` 64 and an empty word need no case of their own.
        let bits = value & ((1 << UInt64(count)) &- 1)
        let free = 64 - Int(pendingCount)
        guard count >= free else {
            pending = (pending << UInt64(count)) | bits
            pendingCount += UInt8(count)
            return
        }
        let rest = count - free
        let word = (pending << UInt64(free)) | (bits >> UInt64(rest))
        withUnsafeBytes(of: word.bigEndian) { storage.append(contentsOf: $0) }
        pending = bits & ((1 << UInt64(rest)) &- 1)
        pendingCount = UInt8(rest)
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
enum ChunkError: Error, Equatable, CustomStringConvertible {
    case truncated
    case countMismatch
    /// A framed row whose CRC32C does not match its bytes.
    case checksum
    /// A framed row of another encoding than its table holds.
    case encoding(UInt8)

    var description: String {
        switch self {
        case .truncated: "truncated"
        case .countMismatch: "its sample count does not match its bits"
        case .checksum: "its CRC32C does not match its bytes"
        case .encoding(let byte): "encoding \(byte) is not the one its table holds"
        }
    }
}

/// LEB128 varints on whole bytes, for the framing of log records and rollup chunks.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    static func read(_ bytes: [UInt8], at position: inout Int) throws(ChunkError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard position < bytes.count else { throw .truncated }
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw .truncated
    }

    /// The `length`-prefixed bytes at `position`, which moves past them.
    static func readFramed(_ bytes: [UInt8], at position: inout Int) throws(ChunkError) -> [UInt8] {
        let length = try read(bytes, at: &position)
        guard length <= UInt64(bytes.count - position) else { throw .truncated }
        defer { position += Int(length) }
        return Array(bytes[position..<position + Int(length)])
    }

    static func appendFramed(_ framed: some Collection<UInt8>, to bytes: inout [UInt8]) {
        append(UInt64(framed.count), to: &bytes)
        bytes += framed
    }

    /// A signed number as an unsigned one whose varint is as short as its magnitude: 0, −1, 1,
    /// −2, … become 0, 1, 2, 3, …
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// The bytes `append` takes for `value`.
    static func length(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }
}
