import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore

@Suite struct XORChunkTests {
    @Test func roundTripsRegularAndIrregularSeries() throws {
        // Regular 10 s steps, a jitter, a long gap, a negative timestamp step size change, every
        // kind of value (equal, close, far, negative, zero, infinities, NaN, the stale marker).
        let timestamps: [Int64] = [-5_000, 5_000, 15_000, 25_001, 34_999, 45_000, Milliseconds.hour, 3_600_001, 90_000_000_000, 90_000_000_010]
        let values: [Double] = [0, 0, 1.5, 1.5000001, -273.15, .infinity, -.infinity, .nan, Sample.staleMarker, 1e300]
        let samples = zip(timestamps, values).map { Sample(timestamp: $0, value: $1) }
        let decoded = try XORChunk.decode(XORChunk.encode(samples))
        #expect(decoded == samples)
        #expect(decoded[7].value.isNaN && !decoded[7].isStaleMarker)
        #expect(decoded[8].isStaleMarker)
    }

    @Test func roundTripsEdgeCases() throws {
        #expect(try XORChunk.decode(XORChunk.encode([])) == [])
        let one = [Sample(timestamp: .max, value: -0.0)]
        #expect(try XORChunk.decode(XORChunk.encode(one)) == one)
        // A head row's usual header: a one-byte count, six bytes of today's milliseconds, the value
        #expect(XORChunk.encode([Sample(timestamp: 1_800_000_000_000, value: 1)]).count == 1 + 6 + 8)
        // Deltas of deltas at each bucket's edges, and a value XOR with all 64 bits meaningful.
        var timestamp: Int64 = 0
        var previousDelta: Int64 = 0
        var samples = [Sample(timestamp: 0, value: 1)]
        for dod in [8_191, -8_192, 65_535, -65_536, 524_287, -524_288, 524_288, 0] as [Int64] {
            previousDelta += dod
            timestamp += previousDelta
            samples.append(Sample(timestamp: timestamp, value: Double(bitPattern: samples.last!.value.bitPattern ^ 0x8000_0000_0000_0001)))
        }
        #expect(try XORChunk.decode(XORChunk.encode(samples)) == samples)
    }

    @Test func aSlowGaugeEvery10sTakesAboutTwoBytesASample() throws {
        var generator = SeededGenerator(seed: 42)
        var value = 50.0
        let samples = (0..<720).map { index -> Sample in
            value += Double(Int.random(in: -2...2, using: &generator)) * 0.5
            return Sample(timestamp: 1_700_000_000_000 + Int64(index) * 10_000, value: value)
        }
        let bytes = XORChunk.encode(samples)
        #expect(try XORChunk.decode(bytes) == samples)
        #expect(Double(bytes.count) / Double(samples.count) < 2.5)
    }

    @Test func damagedChunksAreReportedNotMisread() {
        let bytes = XORChunk.encode((0..<100).map { Sample(timestamp: Int64($0) * 1_000, value: Double($0)) })
        #expect(throws: ChunkError.truncated) { try XORChunk.decode(Array(bytes.prefix(bytes.count / 2))) }
        // The count (a one-byte varint, 100) replaced by 1,000,000: more samples than the bits can hold
        let inflated = [0xc0, 0x84, 0x3d] + bytes.dropFirst()
        #expect(throws: ChunkError.countMismatch) { try XORChunk.decode(inflated) }
    }
}
