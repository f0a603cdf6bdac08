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
}
