import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore

@Suite struct PackedChunkTests {
    static let start: Int64 = 1_800_000_000_000

    /// `values` every 10 s from `start`.
    static func every10s(_ values: [Double]) -> [Sample] {
        values.enumerated().map { Sample(timestamp: start + Int64($0.offset) * 10_000, value: $0.element) }
    }

    @Test func decimalsOfEveryKindRoundTripToTheirVeryBits() throws {
        let cases: [[Double]] = [
            [0, 0, 1.5, 1.5, -273.15, 1e15, -1e15, 4.611686018427387e18 / 1e6],
            [312.456, 312.457, 299.999, 0.001, 1_000_000],
            [0.1, 0.2, 0.30000000000000004],  // 0.1 + 0.2 as a float sum writes it: 17 places
            [1_700_000_000.123, 1_700_000_010.456],
            [Double(Int64(1) << 53), Double(Int64(1) << 53) + 2],
        ]
        for values in cases {
            let samples = PackedChunkTests.every10s(values)
            let packed = try #require(PackedChunk.encode(samples), "\(values)")
            let decoded = try PackedChunk.decode(packed)
            #expect(decoded.map(\.value.bitPattern) == values.map(\.bitPattern))
            #expect(decoded.map(\.timestamp) == samples.map(\.timestamp))
        }
        // Irregular timestamps, negative ones and a long gap.
        let irregular = zip([-5_000, 5_000, 15_000, 25_001, 34_999, Milliseconds.hour, 90_000_000_000] as [Int64], 0...)
            .map { Sample(timestamp: $0, value: Double($1) * 0.25) }
        #expect(try PackedChunk.decode(try #require(PackedChunk.encode(irregular))) == irregular)
        #expect(try PackedChunk.decode(try #require(PackedChunk.encode([Sample(timestamp: .min / 4, value: 7)]))) == [Sample(timestamp: .min / 4, value: 7)])
    }

    @Test func whatIsNoDecimalIsLeftToTheGorillaBits() throws {
        for odd: Double in [.nan, Sample.staleMarker, .infinity, -.infinity, -0.0, 1e300, 5e-324, 1.5e-19] {
            #expect(PackedChunk.encode(PackedChunkTests.every10s([1, odd, 2])) == nil, "\(odd)")
        }
        #expect(PackedChunk.encode([]) == nil)
        // Binary fractions are decimals at 16 or 17 places: they pack, exactly.
        let thirds = PackedChunkTests.every10s([1.0 / 3, 2.0 / 3, .pi])
        #expect(try PackedChunk.decode(try #require(PackedChunk.encode(thirds))) == thirds)
    }

    @Test func aSlowGaugeEvery10sTakesUnderTwoFifthsOfItsGorillaBytes() throws {
        // The ingest benchmark's series: a walk in steps of 0.5 (log2(5) = 2.3 bits of news a sample).
        var generator = SeededGenerator(seed: 42)
        var value = 50.0
        let samples = PackedChunkTests.every10s((0..<720).map { _ in
            value += Double(Int.random(in: -2...2, using: &generator)) * 0.5
            return value
        })
        let packed = try #require(PackedChunk.encode(samples))
        #expect(try PackedChunk.decode(packed) == samples)
        #expect(Double(packed.count) / Double(samples.count) < 0.4)
        #expect(packed.count * 5 < XORChunk.encode(samples).count * 2)
    }

    @Test func aCounterGrowingSteadilyCostsAlmostNothing() throws {
        // Joules at 300.5 W: deltas of deltas are zero, and deflate makes their run a few bytes.
        let samples = PackedChunkTests.every10s((0..<720).map { 1_000_000 + Double($0) * 3_005 })
        let packed = try #require(PackedChunk.encode(samples))
        #expect(try PackedChunk.decode(packed) == samples)
        #expect(packed.count < 40)
    }

    @Test func noiseCostsItsSpreadNotItsLevelItsStepsOrItsJumps() throws {
        var generator = SeededGenerator(seed: 3)
        // GPU power from NVML's milliwatts: 250 W ± 5 W, 10,001 values (13.3 bits, 1.7 bytes) a
        // sample, each a two-byte varint whose two bytes deflate codes as one alphabet.
        let power = PackedChunkTests.every10s((0..<720).map { _ in Double(250_000 + Int.random(in: -5_000...5_000, using: &generator)) / 1_000 })
        // Energy in joules from NVML's millijoule counter, 3,000 J ± 50 J a step: 100,001 steps (16.6 bits).
        var millijoules = 1_000_000_000
        let energy = PackedChunkTests.every10s((0..<720).map { _ in
            millijoules += 3_000_000 + Int.random(in: -50_000...50_000, using: &generator)
            return Double(millijoules) / 1_000
        })
        // Memory in bytes that holds for ten rounds on average and then jumps: its deltas are mostly 0.
        var bytes = 1 << 30
        let memory = PackedChunkTests.every10s((0..<720).map { _ in
            if Int.random(in: 0..<10, using: &generator) == 0 { bytes = Int.random(in: 1_000...80_000, using: &generator) << 20 }
            return Double(bytes)
        })
        for (samples, most) in [(power, 2.1), (energy, 2.6), (memory, 0.8)] {
            let packed = try #require(PackedChunk.encode(samples))
            #expect(try PackedChunk.decode(packed) == samples)
            #expect(Double(packed.count) / 720 < most, "\(packed.count) bytes")
        }
    }

    @Test func damagedBytesAreReportedNotMisreadOrTrappedOn() throws {
        let samples = PackedChunkTests.every10s((0..<200).map { Double($0 % 17) * 1.25 })
        let packed = try #require(PackedChunk.encode(samples))
        for length in 0..<packed.count {
            #expect(throws: ChunkError.self) { try PackedChunk.decode(Array(packed.prefix(length))) }
        }
        // A count no window can hold, a scale byte no version writes.
        #expect(throws: ChunkError.countMismatch) { try PackedChunk.decode([0xff, 0xff, 0xff, 0xff, 0x7f] + packed.dropFirst(2)) }
        var badScale = packed
        badScale[Varint.length(200) + Varint.length(Varint.zigzag(PackedChunkTests.start))] = 0x1f
        #expect(throws: ChunkError.countMismatch) { try PackedChunk.decode(badScale) }
        // Any flipped byte decodes to something or fails, never traps (the frame's checksum
        // stops it before this in the store).
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2_000 {
            var damaged = packed
            damaged[Int.random(in: 0..<damaged.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            _ = try? PackedChunk.decode(damaged)
        }
    }
}
