import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import TokenWattCore

/// The loop behind every periodic service: rounds on time, and a graceful shutdown that does
/// not wait out an interval.
@Suite struct PeriodicWorkTests {
    /// A periodic service as the daemons write theirs.
    final class Ticker: Service {
        let interval: Duration
        let waitFirst: Bool
        let rounds = Mutex(0)

        init(interval: Duration, waitFirst: Bool) {
            self.interval = interval
            self.waitFirst = waitFirst
        }

        func run() async throws {
            await PeriodicWork.run(every: interval, waitFirst: waitFirst) { rounds.withLock { $0 += 1 } }
        }
    }

    /// Runs the ticker until `done` says so (at most 30 s), then shuts its group down; returns
    /// how long it ran and how long the shutdown took.
    static func run(_ ticker: Ticker, until done: @escaping @Sendable (Int) -> Bool) async throws -> (ran: Duration, stopping: Duration) {
        let group = ServiceGroup(services: [ticker], logger: Logger(label: "test"))
        let clock = ContinuousClock()
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            let start = clock.now
            tasks.addTask { try await group.run() }
            let deadline = start + .seconds(30)
            while !done(ticker.rounds.withLock { $0 }) && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let stopping = clock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return (start.duration(to: stopping), stopping.duration(to: clock.now))
        }
    }

    @Test func roundsComeOneIntervalApart() async throws {
        let ticker = Ticker(interval: .milliseconds(100), waitFirst: false)
        let (ran, _) = try await PeriodicWorkTests.run(ticker) { $0 >= 4 }
        // The first at once, then one per interval: four rounds take at least three intervals.
        #expect(ticker.rounds.withLock { $0 } >= 4)
        #expect(ran >= .milliseconds(300))
    }

    @Test func aShutdownDoesNotWaitOutTheInterval() async throws {
        let ticker = Ticker(interval: .seconds(3_600), waitFirst: false)
        let (_, stopping) = try await PeriodicWorkTests.run(ticker) { $0 >= 1 }
        #expect(ticker.rounds.withLock { $0 } == 1)
        // Bounded far below the hour it would wait, far above what a loaded 2-core runner
        // takes to schedule the shutdown (10.4 s was seen with the whole suite beside it).
        #expect(stopping < .seconds(120), "the shutdown waited \(stopping) for an hour's interval")
    }

    @Test func waitFirstRunsNoRoundBeforeTheFirstInterval() async throws {
        let ticker = Ticker(interval: .seconds(3_600), waitFirst: true)
        let (_, stopping) = try await PeriodicWorkTests.run(ticker) { _ in true }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ticker.rounds.withLock { $0 } == 0)
        #expect(stopping < .seconds(120), "the shutdown waited \(stopping) for an hour's interval")
    }
}
