import Foundation
import GRDB
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore
@testable import TokenWattConfiguration

@Suite struct CompactionTests {
    static let hour: Int64 = Milliseconds.hour

    /// `count` samples 10 s apart from `start`, a counter that grows by 1 per sample.
    static func counter(_ name: String, from start: Int64 = 0, count: Int) -> TimeSeries {
        series(name, [:], (0..<count).map { (start + Int64($0) * 10_000, Double($0)) })
    }

    static func rows(_ database: StoreDatabase, _ sql: String) async throws -> Int {
        try await database.pool.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }

    @Test func foldsSealedWindowsIntoChunksAndReadsThemBack() async throws {
        try await withTemporaryStore { store, _ in
            // Given 4 hours of two series at 10 s
            let original = [CompactionTests.counter("a_total", count: 1_440), CompactionTests.counter("b_total", count: 1_440)]
            _ = try await store.append([original])
            // When compaction runs: the newest sample is at 4 h, so windows ending by 3 h are sealed
            let moved = try await store.compact(now: 100 * CompactionTests.hour)
            // Then the first 2-hour window of each series is one chunk, the rest stays in the head
            #expect(moved == 2 * 720)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 2)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM head WHERE first_ts < \(2 * CompactionTests.hour)") == 0)
            #expect(try await CompactionTests.rows(store.database, "PRAGMA freelist_count") == 0)
            #expect(store.compactedSamples == 1_440)
            // and every sample reads back, across the chunk/head boundary
            #expect(try await store.rawSamples(seriesID: 1, from: 0, to: 5 * CompactionTests.hour) == original[0].samples)
            #expect(try await store.rawSamples(seriesID: 2, from: 7_190_000, to: 7_210_001).map(\.timestamp) == [7_190_000, 7_200_000, 7_210_000])
            // and nothing is due until new samples arrive
            #expect(try await store.compact(now: 100 * CompactionTests.hour) == 0)
        }
    }

    @Test func aSampleAlreadyInAChunkIsADuplicateAndLateOnesAreMerged() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.append([[CompactionTests.counter("a_total", count: 1_440)]])
            try await store.compact(now: 100 * CompactionTests.hour)
            // When a retry resends compacted samples with other values, plus one new late sample
            let retry = try await store.append([[series("a_total", [:], [(0, 99), (10_000, 99), (15_000, 0.5)])]])
            // Then the resent ones are duplicates and the first values stay
            #expect(retry == [AppendResult(stored: 1, duplicates: 2, newSeries: 0)])
            // and the next round merges the late sample into its window's chunk
            #expect(try await store.compact(now: 100 * CompactionTests.hour) == 1)
            #expect(try await CompactionTests.rows(store.database, "SELECT count FROM chunks WHERE window_start = 0") == 721)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM head WHERE first_ts < \(2 * CompactionTests.hour)") == 0)
            let first = try await store.rawSamples(seriesID: 1, from: 0, to: 20_001)
            #expect(first == [Sample(timestamp: 0, value: 0), Sample(timestamp: 10_000, value: 1),
                              Sample(timestamp: 15_000, value: 0.5), Sample(timestamp: 20_000, value: 2)])
        }
    }

    @Test func chunksSurviveReopeningWithTheirLatestSamplesAndDuplicateChecks() async throws {
        var configuration = StorageConfiguration()
        configuration.directory = Environment.temporaryPath("chunks")
        defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
        do {
            let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
            let store = stores.samples
            // A series that stopped early lives only in chunks after compaction.
            _ = try await store.append([[CompactionTests.counter("old_total", count: 100), CompactionTests.counter("new_total", count: 1_440)]])
            try await store.compact(now: 100 * CompactionTests.hour)
            try stores.close()
        }
        let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        let store = stores.samples
        #expect(store.liveSeries(since: 0).map(\.sample).sorted { $0.timestamp < $1.timestamp } == [
            Sample(timestamp: 990_000, value: 99), Sample(timestamp: 14_390_000, value: 1_439),
        ])
        #expect(try await store.append([[series("old_total", [:], [(500_000, 7)])]]) == [AppendResult(stored: 0, duplicates: 1, newSeries: 0)])
        #expect(try await store.rawSamples(seriesID: 1, from: 0, to: .max).count == 100)
        try stores.close()
    }

    @Test func rollupsReadThroughChunks() async throws {
        try await withTemporaryStore { store, _ in
            let original = CompactionTests.counter("c_total", count: 1_440)
            _ = try await store.append([[original]])
            try await store.compact(now: 100 * CompactionTests.hour)
            // Every minute (start, end] sees its 6 samples but the last, which ends after the series;
            // the minute that closes the chunk's window holds 5 samples of the chunk and 1 of the head.
            let minutes = try await store.rollups(.minute, seriesID: 1, from: 0, to: 4 * CompactionTests.hour)
            #expect(minutes.count == 240)
            #expect(minutes.dropLast().allSatisfy { $0.count == 6 } && minutes.last?.count == 5)
            let boundary = try #require(minutes.first { $0.bucket == 2 * CompactionTests.hour - 60_000 })
            #expect(boundary.increase == 6 && boundary.min == 715 && boundary.last == 720)
            let hours = try await store.rollups(.hour, seriesID: 1, from: 0, to: 4 * CompactionTests.hour)
            #expect(hours.map(\.increase) == [360, 360, 360, 359])
        }
    }

    @Test func retentionDropsWholeWindows() async throws {
        try await withTemporaryStore({ $0.rawRetentionMs = CompactionTests.hour }) { store, _ in
            _ = try await store.append([[CompactionTests.counter("r_total", count: 1_440)]])
            try await store.compact(now: 100 * CompactionTests.hour)
            // At 3 h, the window [0, 2 h) is not yet entirely older than the cutoff (2 h)...
            try await store.enforceRetention(now: 3 * CompactionTests.hour)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 1)
            // ...a millisecond later it is.
            try await store.enforceRetention(now: 3 * CompactionTests.hour + 1)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 0)
        }
    }

    @Test func retentionKeepsTheMinutesOfTheChunksItDrops() async throws {
        try await withTemporaryStore({ $0.rawRetentionMs = CompactionTests.hour }) { store, _ in
            // Five and a half hours of a counter that resets once, and a gauge: two windows flush.
            var counter = CompactionTests.counter("r_total", count: 2_000)
            counter.samples[900...] = ArraySlice(counter.samples[900...].map { Sample(timestamp: $0.timestamp, value: $0.value - 800) })
            _ = try await store.append([[counter, series("g", [:], (0..<2_000).map { (Int64($0) * 10_000, Double($0 % 13) / 4) })]])
            try await store.compact(now: 100 * CompactionTests.hour)
            func minutes(_ id: Int64) async throws -> [RollupBucket] {
                try await store.rollups(.minute, seriesID: id, from: 0, to: 4 * CompactionTests.hour)
            }
            let before = [try await minutes(1), try await minutes(2)]
            #expect(before[0].count == 240)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 4)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1m_chunks") == 0)
            // The first window's chunks go, its minutes are stored as they go; then the second's,
            // whose first minute's step starts from the first window's stored minutes.
            try await store.enforceRetention(now: 3 * CompactionTests.hour + 1)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 2)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1m_chunks") == 2)
            #expect([try await minutes(1), try await minutes(2)] == before)
            try await store.enforceRetention(now: 5 * CompactionTests.hour + 1)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 0)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1m_chunks") == 4)
            #expect([try await minutes(1), try await minutes(2)] == before)
        }
        // Where minute rollups are kept no longer than raw samples, none are written.
        try await withTemporaryStore({ $0.rawRetentionMs = CompactionTests.hour; $0.minuteRollupRetentionMs = CompactionTests.hour }) { store, _ in
            _ = try await store.append([[CompactionTests.counter("r_total", count: 1_440)]])
            try await store.compact(now: 100 * CompactionTests.hour)
            try await store.enforceRetention(now: 5 * CompactionTests.hour + 1)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1m_chunks") == 0)
        }
    }

    @Test func migrationMovesVersion1RowsIntoChunks() async throws {
        // Given a database as version 1 left it: a row per sample, NaN as text, stale as NULL
        try await withStoreMigrated(from: "v1: series, samples, rollups", seed: { db in
            try db.execute(sql: """
                INSERT INTO series (id, name, labels) VALUES (1, 'g', '{"__name__":"g"}');
                INSERT INTO samples VALUES (1, 1000, 1.5), (1, 2000, 'NaN'), (1, 3000, NULL), (1, \(2 * CompactionTests.hour), 4);
                """)
        }) { stores in
            let store = stores.samples
            // When the store opens it, then every sample is there, with its kind of NaN, one chunk per window
            let samples = try await store.rawSamples(seriesID: 1, from: 0, to: .max)
            #expect(samples.map(\.timestamp) == [1000, 2000, 3000, 2 * CompactionTests.hour])
            #expect(samples[0].value == 1.5 && samples[1].value.isNaN && !samples[1].isStaleMarker && samples[2].isStaleMarker)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM chunks") == 2)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM head") == 0)
            #expect(store.liveSeries(since: 0).first?.sample == Sample(timestamp: 2 * CompactionTests.hour, value: 4))
        }
    }
}
