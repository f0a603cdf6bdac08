import Testing
@testable import TokenWattStore

/// `BitWriter` gathers bits in a word; what it writes must be the bits given, in order, most
/// significant first: checked against a writer of one bit at a time, and read back.
@Suite struct BitStreamTests {
    /// The reference: bits one by one, packed most significant first, the last byte padded.
    static func reference(_ writes: [(UInt64, Int)]) -> [UInt8] {
        var bits: [Bool] = []
        for (value, count) in writes {
            for position in stride(from: count - 1, through: 0, by: -1) { bits.append(value >> UInt64(position) & 1 == 1) }
        }
        return stride(from: 0, to: bits.count, by: 8).map { start in
            (0..<8).reduce(UInt8(0)) { byte, offset in byte << 1 | (start + offset < bits.count && bits[start + offset] ? 1 : 0) }
        }
    }

    @Test func writesTheBitsGivenMostSignificantFirst() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let writes = (0..<Int.random(in: 0...40, using: &generator)).map { _ -> (UInt64, Int) in
                (UInt64.random(in: .min ... .max, using: &generator), [0, 1, 2, 7, 8, 13, 31, 56, 57, 63, 64].randomElement(using: &generator)!)
            }
            var writer = BitWriter()
            for (value, count) in writes { writer.write(value, bits: count) }
            let expected = BitStreamTests.reference(writes)
            #expect(writer.byteCount == expected.count)
            #expect(writer.bytes == expected)
            // Going on after what an earlier writer finished, as a batch's chunks share one buffer.
            var bytes = writer.finish()
            var next = BitWriter(continuing: &bytes)
            next.write(0b101, bits: 3)
            #expect(next.finish() == expected + [0b1010_0000])
            var reader = BitReader(expected)
            for (value, count) in writes {
                let mask: UInt64 = count == 64 ? .max : (1 << UInt64(count)) - 1
                #expect(try reader.read(bits: count) == value & mask)
            }
        }
    }
}
