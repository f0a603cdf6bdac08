import Logging
import ServiceLifecycle
import Testing
import TokenWattCore
@testable import TokenWattStore

@Suite struct SampleWriterTests {
    @Test func refusesWhenTheQueueIsFullAndCommitsWhatItQueued() async throws {
        try await withTemporaryStore({ $0.maxPendingSamples = 3 }) { store, _ in
            let writer = SampleWriter(store: store, logger: Logger(label: "test"))
            // Given a writer that is not running yet, holding a queued batch of 3 samples
            let queued = Task { try await writer.write([series("a", [:], [(1, 1), (2, 2), (3, 3)])]) }
            while writer.queuedSamples < 3 { await Task.yield() }
            // When another batch arrives, it is refused at once
            await #expect(throws: StoreError.self) { try await writer.write([series("b", [:], [(1, 1)])]) }
            #expect(!writer.hasRoom(for: 1))
            // Then once the writer runs, the queued batch is committed and acknowledged
            let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                #expect(try await queued.value == AppendResult(stored: 3, duplicates: 0, newSeries: 1))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(store.seriesCount == 1)
            // And after shutdown it takes nothing more
            await #expect(throws: StoreError.self) { try await writer.write([series("c", [:], [(1, 1)])]) }
        }
    }

    /// A group's samples enter the head while the next group commits: a retry in that next
    /// group (the same samples, other values) must still find them stored.
    @Test func retriesInBackToBackGroupsAreStoredOnce() async throws {
        try await withTemporaryStore { store, _ in
            let writer = SampleWriter(store: store, logger: Logger(label: "test"))
            let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // 8 pushers each send 50 rounds of the same 20 series; each round twice at once
                // (a retry racing the original), the second with other values.
                let results = try await withThrowingTaskGroup(of: [AppendResult].self) { pushers in
                    for pusher in 0..<8 {
                        pushers.addTask {
                            var results: [AppendResult] = []
                            for round in 0..<50 {
                                let original = SampleWriterTests.round(round, pusher: pusher, value: Double(round))
                                let resent = SampleWriterTests.round(round, pusher: pusher, value: -1)
                                async let first = writer.write(original)
                                async let retry = writer.write(resent)
                                results += [try await first, try await retry]
                            }
                            return results
                        }
                    }
                    return try await pushers.reduce(into: []) { $0 += $1 }
                }
                #expect(results.reduce(0) { $0 + $1.stored } == 8 * 50 * 20)
                #expect(results.reduce(0) { $0 + $1.duplicates } == 8 * 50 * 20)
                for id in 1...Int64(160) {
                    let samples = try await store.rawSamples(seriesID: id, from: 0, to: .max)
                    #expect(samples.count == 50)
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    static func round(_ round: Int, pusher: Int, value: Double) -> [TimeSeries] {
        (0..<20).map { i in series("p", ["pusher": "\(pusher)", "i": "\(i)"], [(Int64(round + 1) * 1_000, value)]) }
    }
}
