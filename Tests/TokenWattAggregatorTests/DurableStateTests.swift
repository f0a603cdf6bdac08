import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TokenWattCore
import TokenWattService
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// State the aggregator keeps on disk is never forgotten for want of reading it: a budget
/// state saved by an earlier version still decodes with the alerts it fired, and a forwarding
/// cursor that cannot be read is waited for, not taken as the log's first row.
@Suite struct DurableStateTests {
    @Test(arguments: [
        // As the first version of budgets saved it (no gateway, runaway or refresh fields).
        #"{"periodStart":1795824000000,"periodEnd":1798502400000,"fired":["threshold:0.5","forecast"],"runawayFiring":false,"spent":612.5,"forecast":1400,"lastRefreshMs":0}"#,
        // Only what a state cannot do without, and what it fired.
        #"{"periodStart":1795824000000,"periodEnd":1798502400000,"fired":["threshold:0.5","forecast"]}"#,
    ])
    func aBudgetStateOfAnEarlierVersionStillDecodes(_ saved: String) throws {
        let state = try JSONDecoder().decode(BudgetState.self, from: Data(saved.utf8))
        #expect(state.periodStart == 1_795_824_000_000 && state.periodEnd == 1_798_502_400_000)
        #expect(state.fired == ["threshold:0.5", "forecast"])
        #expect(state.lastRefreshMs == 0 && state.runawayFiring == false && state.gatewaySpent == nil)
        // Written again and read back, it is the same state.
        #expect(try JSONDecoder().decode(BudgetState.self, from: JSONEncoder().encode(state)) == state)
    }

    /// A log of three rows whose target has taken two; its first reads of the cursor fail.
    final class FlakyLog: ForwardLog {
        let failuresLeft = Mutex(2)
        let asked = Mutex<[Int64]>([])

        func append(_ series: [TimeSeries]) async throws(StoreError) {}

        func batches(after id: Int64, maxBytes: Int) async throws(StoreError) -> [RemoteWriteBatch] {
            asked.withLock { $0.append(id) }
            return (1...3).filter { $0 > id }.map { RemoteWriteBatch(id: $0, createdMs: 0, samples: 1, body: RemoteWriteCodec.serialize([])) }
        }

        func cursor(target: String) async throws(StoreError) -> Int64 {
            let fail = failuresLeft.withLock { left in
                defer { left -= 1 }
                return left > 0
            }
            if fail { throw StoreError.database("read the forwarding cursor: disk I/O error") }
            return 2
        }

        func advanceCursor(target: String, to id: Int64, targets: [String]) async throws(StoreError) {}

        func backlog(after id: Int64) async throws(StoreError) -> (rows: Int, samples: Int, oldestMs: Int64?) { (0, 0, nil) }
    }

    @Test func aFailedCursorReadDoesNotResendTheLogFromItsStart() async throws {
        let log = FlakyLog()
        let client = OutboundClient.makeHTTPClient()
        // Nobody listens there: every send fails and is retried, asking the log again.
        let target = ForwardTarget(name: "vm", url: "http://127.0.0.1:9/api/v1/write")
        let forwarder = RemoteWriteForwarder(log: log, targets: [target], client: OutboundClient(http: client), snapshotSources: [],
                                             snapshotIntervalMs: Milliseconds.hour, logger: Logger(label: "test"), now: { 0 })
        let group = ServiceGroup(services: [forwarder], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while log.asked.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await client.shutdown()
        #expect(!log.asked.withLock { $0 }.isEmpty, "forwarding never resumed")
        #expect(log.asked.withLock { $0 }.allSatisfy { $0 == 2 }, "rows the target had taken were read again: \(log.asked.withLock { $0 })")
        let errors = try await forwarder.families().first { $0.name == MetricDescriptor.forwardCursorErrors.name }?.samples.first?.value
        #expect(errors == 2)
    }
}
