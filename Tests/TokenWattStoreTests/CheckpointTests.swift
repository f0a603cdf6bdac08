import Foundation
import GRDB
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore
@testable import TokenWattConfiguration

@Suite struct CheckpointTests {
    /// A gauge of `count` samples 10 s apart from `start`, in tenths.
    static func gauge(_ name: String, start: Int64 = 0, count: Int) -> TimeSeries {
        series(name, [:], (0..<count).map { (start + Int64($0) * 10_000, Double($0 % 37) / 10) })
    }

    /// A store in a folder of its own that a test closes and reopens.
    final class Reopening {
        var configuration = StorageConfiguration()
        var stores: Stores
        var store: SampleStore { stores.samples }

        init() throws {
            configuration.directory = Environment.temporaryPath("checkpoint")
            stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        }

        func reopen() throws {
            try stores.close()
            stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        }

        func count(_ sql: String) async throws -> Int {
            try await store.pool.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
        }

        deinit {
            try? stores.close()
            try? FileManager.default.removeItem(atPath: configuration.directory)
        }
    }

    @Test func theHeadGoesToDiskPackedInPlaceOfItsLogAndComesBackWhole() async throws {
        let disk = try Reopening()
        // An hour of 50 series, pushed a round at a time as agents push: a log row per round.
        let batches = (0..<360).map { round in
            (0..<50).map { index in series("g", ["i": "\(index)"], [(Int64(round) * 10_000, Double((round + index) % 37) / 10)]) }
        }
        for batch in batches { _ = try await disk.store.append([batch]) }
        let expected = try await (1...50).asyncMap { try await disk.store.rawSamples(seriesID: Int64($0), from: 0, to: .max) }
        #expect(try await disk.count("SELECT count(*) FROM wal") == 360)
        let logBytes = try await disk.count("SELECT sum(length(body)) FROM wal")

        #expect(try await disk.store.checkpointHead() == 18_000)
        #expect(try await disk.count("SELECT count(*) FROM wal") == 0)
        #expect(try await disk.count("SELECT count(*) FROM head_chunks") == 50)
        let packedBytes = try await disk.count("SELECT sum(length(data)) FROM head_chunks")
        // The same samples in a tenth of the log's bytes.
        #expect(packedBytes * 10 < logBytes, "\(packedBytes) bytes packed against \(logBytes) in the log")

        // Samples after the checkpoint are in the log again, and both come back.
        _ = try await disk.store.append([[series("g", ["i": "0"], [(3_600_000, 1.5)])]])
        try disk.reopen()
        #expect(disk.store.headSamples == 18_001)
        var afterwards = expected
        afterwards[0].append(Sample(timestamp: 3_600_000, value: 1.5))
        #expect(try await (1...50).asyncMap { try await disk.store.rawSamples(seriesID: Int64($0), from: 0, to: .max) } == afterwards)
        // A sample the checkpoint holds is a duplicate, as it was before.
        #expect(try await disk.store.append([[series("g", ["i": "3"], [(10_000, 9)])]]) == [AppendResult(stored: 0, duplicates: 1, newSeries: 0)])
    }

    @Test func aCheckpointCutShortByACrashIsNotReadAndGoes() async throws {
        let disk = try Reopening()
        _ = try await disk.store.append([[CheckpointTests.gauge("g", count: 100)]])
        try await disk.store.checkpointHead()
        _ = try await disk.store.append([[CheckpointTests.gauge("g", start: 1_000_000, count: 10)]])
        // The next generation's first batch was written, the switch to it was not.
        try await disk.store.pool.write { db in
            try db.execute(sql: "INSERT INTO head_chunks (generation, series_id, window_start, data) VALUES (2, 1, 0, ?)",
                           arguments: [StoredChunk.frame(samples: [Sample(timestamp: 5, value: 99)])])
        }
        try disk.reopen()
        let samples = try await disk.store.rawSamples(seriesID: 1, from: 0, to: .max)
        #expect(samples.count == 110)
        #expect(!samples.contains { $0.timestamp == 5 })
        #expect(try await disk.count("SELECT count(*) FROM head_chunks WHERE generation = 2") == 0)
    }

    @Test func windowsFlushedAfterTheCheckpointAreNotReadTwice() async throws {
        let disk = try Reopening()
        // Three hours: the first window flushes once the newest sample is past its end and grace.
        _ = try await disk.store.append([[CheckpointTests.gauge("g", count: 1_100)]])
        try await disk.store.checkpointHead()
        #expect(try await disk.store.compact(now: 100 * Milliseconds.hour) == 720)
        // A crash before the next checkpoint: the old one still holds the flushed window.
        try disk.reopen()
        let samples = try await disk.store.rawSamples(seriesID: 1, from: 0, to: .max)
        #expect(samples == CheckpointTests.gauge("g", count: 1_100).samples)
        #expect(disk.store.headSamples == 380)
        #expect(try await disk.store.compact(now: 100 * Milliseconds.hour) == 0)
        #expect(try await disk.store.rawSamples(seriesID: 1, from: 0, to: .max) == samples)
    }

    @Test func maintenanceCheckpointsOnceTheLogOutgrowsTheLastCheckpoint() async throws {
        let disk = try Reopening()
        #expect(!disk.store.needsCheckpoint)
        // 2,000 series, 50 samples each a push, of values whose float bits change a lot.
        var round = 0
        while !disk.store.needsCheckpoint {
            let batch = (0..<2_000).map { index in
                series("g", ["i": "\(index)"], (0..<50).map { step in
                    let time = round * 50 + step
                    return (Int64(time) * 10_000, Double(time * index).squareRoot() * .pi)
                })
            }
            _ = try await disk.store.append([batch])
            round += 1
            try #require(round < 100)
        }
        #expect(try await disk.count("SELECT sum(length(body)) FROM wal") > SampleStore.checkpointLogBytes)
        // (2,000 series ask for no more log than the minimum: 64 bytes each is 128 KB.)
        #expect(disk.store.headSeries * SampleStore.checkpointLogBytesPerSeries < SampleStore.checkpointLogBytes)
        try await disk.store.checkpointHead()
        #expect(!disk.store.needsCheckpoint)
        #expect(try await disk.count("SELECT count(*) FROM wal") == 0)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
