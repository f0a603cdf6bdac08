import Foundation
import Logging
import Testing
@testable import TokenWattStore

@Suite struct ReservationStoreTests {
    static let period: Int64 = 1_798_758_000_000

    static func hold(_ budget: String, _ amount: Double, limit: Double = 10) -> CapHold {
        CapHold(budget: budget, periodStart: period, amount: amount, limit: limit, spentBefore: 0)
    }

    /// A month of requests leaves no row behind for each: what a cap holds is its running
    /// totals, and only reservations still pending keep a row of their own.
    @Test func settledReservationsLiveOnInTheTotalsOnly() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            for index in 0..<200 {
                #expect(try await store.reserve(id: "r\(index)", holds: [ReservationStoreTests.hold("cap", 0.05)], nowMs: 0, expiresMs: 1_000) == .granted)
                #expect(try await store.settle(id: "r\(index)", amounts: ["cap": 0.01], nowMs: 0))
            }
            #expect(try await CompactionTests.rows(stores.database, "SELECT count(*) FROM reservations") == 0)
            let totals = try await store.totals(budget: "cap", periodStart: ReservationStoreTests.period)
            #expect(totals["settled"]?.count == 200 && abs((totals["settled"]?.amount ?? 0) - 2.0) < 1e-9)
            #expect(totals["pending"]?.count == 0 && totals["pending"]?.amount == 0)
            // 2.00 settled + 0.05 × 160 pending = 10.00: the 161st does not fit.
            for index in 0..<160 {
                #expect(try await store.reserve(id: "p\(index)", holds: [ReservationStoreTests.hold("cap", 0.05)], nowMs: 0, expiresMs: 1_000) == .granted)
            }
            let over = try await store.reserve(id: "over", holds: [ReservationStoreTests.hold("cap", 0.05)], nowMs: 0, expiresMs: 1_000)
            guard case .denied("cap", let used, 10) = over else { Issue.record("granted past the cap: \(over)"); return }
            #expect(abs(used - 10) < 1e-9)
            #expect(try await store.counts(nowMs: 0) == ["pending": 160, "settled": 200])
            #expect(try await store.counts(nowMs: 1_000) == ["pending": 0, "settled": 200, "expired": 160])
        }
    }

    /// A version 7 database (a row per reservation in every state) keeps what each cap holds.
    @Test func migrationFromVersion7KeepsWhatEachCapHolds() async throws {
        let period = ReservationStoreTests.period
        try await withStoreMigrated(from: "v7: reservations against hard caps", seed: { db in
            try db.execute(sql: """
                INSERT INTO reservations (id, budget, period_start, amount, state, created_ms, expires_ms) VALUES
                    ('a', 'usd', \(period), 0.5, 'pending', 0, 5000),
                    ('a', 'tokens', \(period), 2000, 'pending', 0, 5000),
                    ('b', 'usd', \(period), 0.25, 'settled', 0, 5000),
                    ('c', 'usd', \(period), 1.0, 'expired', 0, 100);
                """)
        }) { stores in
            let store = stores.reservations
            let usd = try await store.totals(budget: "usd", periodStart: period)
            #expect(usd["pending"]?.count == 1 && usd["pending"]?.amount == 0.5)
            #expect(usd["settled"]?.count == 1 && usd["settled"]?.amount == 0.25)
            #expect(usd["expired"]?.count == 1 && usd["expired"]?.amount == 1.0)
            #expect(try await store.counts(nowMs: 0) == ["pending": 1, "settled": 1, "expired": 1])
            #expect(try await CompactionTests.rows(stores.database, "SELECT count(*) FROM reservations") == 2)
            // The pending one settles as before; the settled one is not pending any more.
            #expect(try await store.settle(id: "a", amounts: ["usd": 0.125, "tokens": 500], nowMs: 1_000))
            #expect(!(try await store.settle(id: "b", amounts: ["usd": 0], nowMs: 1_000)))
            let tokens = try await store.totals(budget: "tokens", periodStart: period)
            #expect(tokens["settled"]?.amount == 500 && tokens["pending"]?.amount == 0)
            #expect(try await store.counts(nowMs: 1_000) == ["pending": 0, "settled": 2, "expired": 1])
        }
    }
}
