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

    static func run(_ ticker: Ticker, for time: Duration) async throws -> Duration {
        let group = ServiceGroup(services: [ticker], logger: Logger(label: "test"))
        let clock = ContinuousClock()
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: time)
            let stopping = clock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return stopping.duration(to: clock.now)
        }
    }

    @Test func roundsRunOnTimeAndAShutdownCutsTheWaitShort() async throws {
        let ticker = Ticker(interval: .milliseconds(100), waitFirst: false)
        _ = try await PeriodicWorkTests.run(ticker, for: .milliseconds(450))
        // At once, then about every 100 ms: 5 by 450 ms (a busy machine may lose one).
        #expect((4...5).contains(ticker.rounds.withLock { $0 }))

        let slow = Ticker(interval: .seconds(3_600), waitFirst: false)
        let stopped = try await PeriodicWorkTests.run(slow, for: .milliseconds(100))
        #expect(slow.rounds.withLock { $0 } == 1)
        #expect(stopped < .seconds(5), "the shutdown waited \(stopped) for an hour's interval")
    }

    @Test func waitFirstRunsNoRoundBeforeTheFirstInterval() async throws {
        let ticker = Ticker(interval: .seconds(3_600), waitFirst: true)
        let stopped = try await PeriodicWorkTests.run(ticker, for: .milliseconds(100))
        #expect(ticker.rounds.withLock { $0 } == 0)
        #expect(stopped < .seconds(5))
    }
}
