import Foundation
import Logging
import ServiceLifecycle
import TokenWattCore

/// Flushes the head (chunks and rollups), checkpoints it when due, and tells the ledger of
/// changed hours every maintenance interval, and enforces retention every hour (samples and rollups, and finished
/// alert messages, which are kept as long as raw samples), in the background, in small
/// transactions that interleave with ingest commits.
public struct MaintenanceService: Service {
    static let retentionIntervalMs: Int64 = Milliseconds.hour

    let store: SampleStore
    let ledger: any LedgerStore
    let outbox: any OutboxStore
    let logger: Logger
    let now: @Sendable () -> Int64

    public init(store: SampleStore, ledger: any LedgerStore, outbox: any OutboxStore, logger: Logger, now: @escaping @Sendable () -> Int64 = TimeBounds.nowMilliseconds) {
        self.store = store
        self.ledger = ledger
        self.outbox = outbox
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        var lastRetention: Int64?
        await PeriodicWork.run(every: .milliseconds(store.configuration.maintenanceIntervalMs)) {
            do {
                let clock = ContinuousClock()
                let began = clock.now
                let compacted = try await store.compact(now: now())
                // After a flush the head is smaller and its checkpoint holds flushed windows.
                if compacted > 0 || store.needsCheckpoint { try await store.checkpointHead() }
                let hours = try await store.markChangedHours(now: now(), in: ledger)
                if compacted + hours > 0 {
                    logger.info("maintenance round", metadata: [
                        "compacted_samples": "\(compacted)", "ledger_hours": "\(hours)",
                        "seconds": "\(began.duration(to: clock.now).seconds)",
                    ])
                }
                if lastRetention.map({ now() - $0 >= MaintenanceService.retentionIntervalMs }) ?? true {
                    try await store.enforceRetention(now: now())
                    try await outbox.deleteFinished(before: now() - store.configuration.rawRetentionMs)
                    lastRetention = now()
                }
            } catch {
                // Logged and retried next round: rollups stay pending, nothing is lost.
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
