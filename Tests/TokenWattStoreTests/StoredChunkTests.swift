import Foundation
import GRDB
import Testing
import TokenWattCore
@testable import TokenWattStore

@Suite struct StoredChunkTests {
    static let samples = (0..<50).map { Sample(timestamp: 1_000 + Int64($0) * 10_000, value: Double($0) / 3) }

    @Test func aFramedChunkReadsBackAndADamagedOneIsRefused() throws {
        let framed = StoredChunk.frame(XORChunk.encode(StoredChunkTests.samples), as: .xor)
        let (encoding, payload) = try StoredChunk.payload(of: framed, format: StoredChunk.framed, bare: .rollups)
        #expect(encoding == .xor)
        #expect(try StoredChunk.samples(encoding, payload) == StoredChunkTests.samples)
        // Every single flipped bit is caught by the checksum.
        for index in framed.indices {
            for bit in 0..<8 {
                var damaged = framed
                damaged[index] ^= 1 << bit
                #expect(throws: ChunkError.self) { try StoredChunk.payload(of: damaged, format: StoredChunk.framed, bare: .xor) }
            }
        }
        // A rollup chunk is not samples; an encoding byte no version wrote is refused.
        #expect(throws: ChunkError.encoding(2)) { try StoredChunk.samples(.rollups, [1]) }
        var unknown = [UInt8](StoredChunk.frame([], as: .xor))
        unknown[0] = 9
        let reframed = Data(unknown.dropLast(4) + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: CRC32C.checksum(unknown.dropLast(4)) >> $0) })
        #expect(throws: ChunkError.encoding(9)) { try StoredChunk.payload(of: reframed, format: StoredChunk.framed, bare: .xor) }
        #expect(throws: ChunkError.truncated) { try StoredChunk.payload(of: Data([1, 2]), format: StoredChunk.framed, bare: .xor) }
        // A row written before framing is the bare encoding of its table.
        let bare = try StoredChunk.payload(of: Data(XORChunk.encode(StoredChunkTests.samples)), format: 0, bare: .xor)
        #expect(bare.encoding == .xor)
        #expect(try XORChunk.decode(bare.bytes) == StoredChunkTests.samples)
    }

    @Test func samplesAreFramedInTheShorterEncoding() throws {
        // Values past 18 places are no decimals here: the Gorilla bits.
        let tiny = StoredChunkTests.samples.map { Sample(timestamp: $0.timestamp, value: $0.value * 1e-20) }
        #expect(StoredChunk.frame(samples: tiny).first == StoredChunk.Encoding.xor.rawValue)
        // Tenths are: packed, and shorter.
        let tenths = StoredChunkTests.samples.map { Sample(timestamp: $0.timestamp, value: Double(Int($0.timestamp / 10_000) % 7) / 10) }
        let packed = StoredChunk.frame(samples: tenths)
        #expect(packed.first == StoredChunk.Encoding.packed.rawValue)
        #expect(packed.count < XORChunk.encode(tenths).count)
        let (encoding, payload) = try StoredChunk.payload(of: packed, format: StoredChunk.framed, bare: .xor)
        #expect(try StoredChunk.samples(encoding, payload) == tenths)
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        // The CRC-32C of "123456789" (RFC 3720, appendix B.4).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func chunksAndRollupChunksWrittenBeforeFramingStillRead() async throws {
        let buckets = [RollupBucket(bucket: -Schema.chunkWindow, min: 1, max: 2, sum: 3, last: 2, count: 2, increase: 1)]
        try await withStoreMigrated(from: "v10: 1-minute rollups compressed per series and window", seed: { db in
            try db.execute(sql: #"INSERT INTO series (id, name, labels) VALUES (1, 'c_total', '{"__name__":"c_total"}')"#)
            try db.execute(sql: "INSERT INTO chunks (series_id, window_start, first_ts, last_ts, count, data) VALUES (1, 0, ?, ?, ?, ?)",
                           arguments: [StoredChunkTests.samples.first!.timestamp, StoredChunkTests.samples.last!.timestamp,
                                       StoredChunkTests.samples.count, Data(XORChunk.encode(StoredChunkTests.samples))])
            // (of a window whose raw chunk is gone: v17 deletes those of windows that have one)
            try db.execute(sql: "INSERT INTO rollups_1m_chunks (series_id, window_start, data) VALUES (1, ?, ?)",
                           arguments: [-Schema.chunkWindow, Data(RollupChunk.encode(buckets))])
        }) { (stores: Stores) async throws in
            let store = stores.samples
            #expect(try await store.rawSamples(seriesID: 1, from: 0, to: .max) == StoredChunkTests.samples)
            #expect(try await store.rollups(.minute, seriesID: 1, from: -Schema.chunkWindow, to: -Schema.chunkWindow + 60_000) == buckets)
            #expect(store.liveSeries(since: 0).first?.sample == StoredChunkTests.samples.last)
        }
    }

    @Test func aDamagedChunkIsAnErrorThatNamesIt() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.append([[series("g", [:], StoredChunkTests.samples.map { ($0.timestamp, $0.value) } + [(5 * Milliseconds.hour, 1)])]])
            #expect(try await store.compact(now: 10 * Milliseconds.hour) > 0)
            try await store.pool.write { db in
                var data = try #require(try Data.fetchOne(db, sql: "SELECT data FROM chunks WHERE window_start = 0"))
                data[data.count / 2] ^= 0x10
                try db.execute(sql: "UPDATE chunks SET data = ? WHERE window_start = 0", arguments: [data])
            }
            let error = await #expect(throws: StoreError.self) { try await store.rawSamples(seriesID: 1, from: 0, to: .max) }
            #expect(error?.description == "database: damaged row in chunks: series 1, window from 1970-01-01T00:00:00Z: its CRC32C does not match its bytes")
        }
    }
}
