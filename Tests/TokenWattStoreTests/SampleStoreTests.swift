import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore
@testable import TokenWattConfiguration

@Suite struct SampleStoreTests {
    @Test func storesEachSampleOnceAndAcceptsOutOfOrder() async throws {
        try await withTemporaryStore { store, _ in
            // Given a batch stored once
            let first = try await store.append([[series("up", ["job": "a"], [(2_000, 1), (3_000, 1)])]])
            #expect(first == [AppendResult(stored: 2, duplicates: 0, newSeries: 1)])
            // When the same samples come again with an older one and a changed value
            let second = try await store.append([[series("up", ["job": "a"], [(1_000, 0), (2_000, 5), (3_000, 1)])]])
            // Then only the new timestamp is stored and the first value wins
            #expect(second == [AppendResult(stored: 1, duplicates: 2, newSeries: 0)])
            let id = try #require(store.series(matching: [SeriesSelector(parsing: "up")]).first?.id)
            let samples = try await store.rawSamples(seriesID: id, from: 0, to: 10_000)
            #expect(samples == [Sample(timestamp: 1_000, value: 0), Sample(timestamp: 2_000, value: 1), Sample(timestamp: 3_000, value: 1)])
            #expect(store.liveSeries(since: 0).map(\.sample) == [Sample(timestamp: 3_000, value: 1)])
        }
    }

    @Test func duplicatesInsideOneRequestAndOneGroupCommitAreStoredOnce() async throws {
        try await withTemporaryStore { store, _ in
            // Two batches committed together, the second repeating the first; the first batch
            // itself unsorted and repeating a timestamp
            let results = try await store.append([
                [series("d", [:], [(3_000, 3), (1_000, 1), (3_000, 9), (2_000, 2)])],
                [series("d", [:], [(2_000, 7), (4_000, 4)])],
            ])
            #expect(results == [AppendResult(stored: 3, duplicates: 1, newSeries: 1), AppendResult(stored: 1, duplicates: 1, newSeries: 0)])
            #expect(try await store.rawSamples(seriesID: 1, from: 0, to: 10_000) == [
                Sample(timestamp: 1_000, value: 1), Sample(timestamp: 2_000, value: 2),
                Sample(timestamp: 3_000, value: 3), Sample(timestamp: 4_000, value: 4),
            ])
        }
    }

    @Test func keepsNaNAndStaleMarkersApart() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.append([[series("q", [:], [(1_000, .nan), (2_000, Sample.staleMarker), (3_000, 2.5)])]])
            let samples = try await store.rawSamples(seriesID: 1, from: 0, to: 10_000)
            #expect(samples.count == 3)
            #expect(samples[0].value.isNaN && !samples[0].isStaleMarker)
            #expect(samples[1].isStaleMarker)
            #expect(samples[2].value == 2.5)
        }
    }

    @Test func staleMarkerRemovesSeriesFromLiveSet() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.append([[series("a", [:], [(1_000, 1)]), series("b", [:], [(1_000, 1), (2_000, Sample.staleMarker)])]])
            #expect(store.liveSeries(since: 0).map(\.name) == ["a"])
            #expect(store.liveSeries(since: 1_000).isEmpty)
        }
    }

    @Test func everythingCommittedIsThereAfterReopening() async throws {
        var configuration = StorageConfiguration()
        configuration.directory = Environment.temporaryPath("reopen")
        defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
        do {
            let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
            let store = stores.samples
            _ = try await store.append([[series("m", ["node": "x"], [(1_000, 1), (2_000, 2)])], [series("n", [:], [(5_000, 7)])]])
            try stores.close()
        }
        let reopenedStores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        let reopened = reopenedStores.samples
        #expect(reopened.seriesCount == 2)
        #expect(try await reopened.rawSamples(seriesID: 1, from: 0, to: 10_000).count == 2)
        #expect(reopened.liveSeries(since: 0).count == 2)
        // Interning survives too: the same labels map to the same series.
        #expect(try await reopened.append([[series("m", ["node": "x"], [(3_000, 3)])]]) == [AppendResult(stored: 1, duplicates: 0, newSeries: 0)])
        try reopenedStores.close()
    }

    @Test func rollsUpMinutesAndHoursWithCounterResets() async throws {
        try await withTemporaryStore { store, _ in
            // Given a counter that resets in the second minute, and a gauge; a sample on a
            // minute's boundary closes the minute before (TimeBucket: buckets are (start, end])
            let minute: Int64 = 60_000
            _ = try await store.append([[
                series("requests_total", [:], [(10_000, 10), (30_000, 20), (minute, 25), (minute + 30_000, 5), (minute + 50_000, 8)]),
                series("temperature", [:], [(10_000, 40), (minute, 50), (minute + 30_000, 45)]),
            ]])
            // Then each minute holds min, max, sum, count, last and the increase across the reset,
            // computed from the head while the window is there, and from its chunk once it is
            // flushed (a sample 4 hours later seals the window): minute rollups are stored only
            // as raw retention drops the chunk
            for flushed in [false, true] {
                if flushed {
                    _ = try await store.append([[series("later", [:], [(4 * Milliseconds.hour, 1)])]])
                    #expect(try await store.compact(now: 10 * Milliseconds.hour) == 8)
                    #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1m_chunks") == 0)
                    #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM rollups_1h") == 2)
                }
                let counterMinutes = try await store.rollups(.minute, seriesID: 1, from: 0, to: Milliseconds.hour)
                #expect(counterMinutes == [
                    RollupBucket(bucket: 0, min: 10, max: 25, sum: 55, last: 25, count: 3, increase: 10 + 5),
                    RollupBucket(bucket: minute, min: 5, max: 8, sum: 13, last: 8, count: 2, increase: 5 + 3),
                ], "flushed: \(flushed)")
                let hour = try await store.rollups(.hour, seriesID: 1, from: 0, to: Milliseconds.hour)
                #expect(hour == [RollupBucket(bucket: 0, min: 5, max: 25, sum: 68, last: 8, count: 5, increase: 23)], "flushed: \(flushed)")
                let gaugeHour = try await store.rollups(.hour, seriesID: 2, from: 0, to: Milliseconds.hour)
                #expect(gaugeHour == [RollupBucket(bucket: 0, min: 40, max: 50, sum: 135, last: 45, count: 3, increase: nil)])
            }
            // And a late sample changes its minute and hour at the next flush, and the hour is
            // marked for the ledger once it has been closed for twice the rollup delay
            _ = try await store.append([[series("requests_total", [:], [(minute + 55_000, 9)])]])
            #expect(try await store.compact(now: 10 * Milliseconds.hour) == 1)
            #expect(try await store.rollups(.hour, seriesID: 1, from: 0, to: Milliseconds.hour).first?.increase == 24)
            #expect(try await store.rollups(.minute, seriesID: 1, from: minute, to: 2 * minute).first?.count == 3)
            // (hours 0 and 4, and the hour after each, where the next step starts)
            #expect(try await store.markChangedHours(now: 10 * Milliseconds.hour, in: SQLiteLedgerStore(database: store.database)) == 4)
            #expect(try await CompactionTests.rows(store.database, "SELECT count(*) FROM ledger_pending") == 4)
        }
    }

    @Test func theLedgerHearsOfAnHourOnceItHasBeenClosedForTwiceTheRollupDelay() async throws {
        try await withTemporaryStore { store, configuration in
            _ = try await store.append([[series("g", [:], [(10_000, 1)])]])
            let closed = Milliseconds.hour + 2 * configuration.rollupDelayMs
            #expect(try await store.markChangedHours(now: closed - 1, in: SQLiteLedgerStore(database: store.database)) == 0)
            #expect(try await store.markChangedHours(now: closed, in: SQLiteLedgerStore(database: store.database)) == 1)
            #expect(try await store.markChangedHours(now: closed, in: SQLiteLedgerStore(database: store.database)) == 0)
        }
    }

    @Test func retentionDeletesOnlyWhatIsTooOld() async throws {
        try await withTemporaryStore({ $0.rawRetentionMs = 10_000 }) { store, _ in
            // Raw samples go a whole 2-hour window at a time, in the head as in chunks.
            let window = Schema.chunkWindow
            _ = try await store.append([[series("g", [:], [(1_000, 1), (window + 1_000, 2), (window + 50_000, 3)])]])
            #expect(try await store.enforceRetention(now: window + 10_000) == 0)
            #expect(try await store.enforceRetention(now: window + 10_001) == 1)
            #expect(try await store.rawSamples(seriesID: 1, from: 0, to: .max).map(\.value) == [2, 3])
        }
    }
}

@Suite struct CounterIncreaseTests {
    static let minute: Int64 = 60_000

    /// A counter sampled every 30 s for an hour, climbing 10 a sample, reset to 0 at minute 30.
    static func counter() -> TimeSeries {
        series("tokens_total", [:], (0..<120).map { index in
            let t = Int64(index) * 30_000
            return (t, index < 60 ? Double(index * 10) : Double((index - 60) * 10))
        })
    }

    @Test func rawSamplesCountResetsAndTheStepIntoTheRange() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.append([[CounterIncreaseTests.counter()]])
            let now = 60 * CounterIncreaseTests.minute
            // (0, 60 min]: 59 steps of 10 before the reset, 0 at the reset, 59 steps after.
            #expect(try await store.counterIncrease(seriesID: 1, from: 0, to: now, now: now).increase == 1_180)
            // Back-to-back ranges add up to the whole.
            let first = try await store.counterIncrease(seriesID: 1, from: 0, to: 17 * CounterIncreaseTests.minute + 5_000, now: now).increase
            let second = try await store.counterIncrease(seriesID: 1, from: 17 * CounterIncreaseTests.minute + 5_000, to: now, now: now).increase
            #expect(first + second == 1_180)
            #expect(try await store.counterIncrease(seriesID: 1, from: now, to: now, now: now).increase == 0)
        }
    }

    @Test func rangesOlderThanRawRetentionAreReadFromWholeRollupBuckets() async throws {
        try await withTemporaryStore({ $0.rawRetentionMs = 10 * CounterIncreaseTests.minute }) { store, configuration in
            _ = try await store.append([[CounterIncreaseTests.counter()]])
            let end = 60 * CounterIncreaseTests.minute
            let now = end + 20 * CounterIncreaseTests.minute
            // Minutes 10–20 in 1-minute buckets: 20 steps of 10.
            #expect(try await store.counterIncrease(seriesID: 1, from: 10 * CounterIncreaseTests.minute, to: 20 * CounterIncreaseTests.minute, now: now).increase == 200)
            // Minutes 25–35 hold the reset at 30: 9 steps, the reset to 0, 10 steps.
            #expect(try await store.counterIncrease(seriesID: 1, from: 25 * CounterIncreaseTests.minute, to: 35 * CounterIncreaseTests.minute, now: now).increase == 190)
        }
    }
}
