import Foundation
import Testing
@testable import TokenWattStore

/// Slices of hard caps leased to gateways: carved from the cap's room in one transaction, so
/// that what was spent, reserved and leased never passes the limit; charged at expiry what
/// their gateway may have used; never granted twice.
@Suite struct LeaseStoreTests {
    static let period: Int64 = 1_798_758_000_000
    static let cap = CapRoom(periodStart: period, limit: 10_000, spentBefore: 1_000)

    static func report(_ id: String, settled: Double = 0, held: Double = 0, headroom: Double = 0, want: Double = 0, need: Double = 0,
                       admitted: Double = 0) -> SliceReport {
        SliceReport(id: id, budget: "cap", settled: settled, held: held, headroom: headroom, want: want, need: need, admitted: admitted)
    }

    static func sync(_ store: any ReservationStore, _ gateway: String, _ report: SliceReport, cap: CapRoom = LeaseStoreTests.cap, recalled: Bool = false,
                     now: Int64 = 0, boot: Int64 = 0) async throws -> (outcome: LeaseSync.Outcome, starved: Bool) {
        let sync = try await store.syncLeases(gateway: gateway, reports: [report], caps: ["cap": cap], recalled: recalled ? ["cap"] : [], nowMs: now,
                                              expiryMs: 5_000, bootMs: boot)
        return (sync.outcomes[0], sync.starved.contains("cap"))
    }

    /// What the cap period holds: spent outside, reserved and leased.
    static func used(_ store: any ReservationStore) async throws -> Double {
        cap.spentBefore + (try await store.totals(budget: "cap", periodStart: period).values.reduce(0) { $0 + $1.amount })
    }

    @Test func slicesAreCarvedFromTheCapsRoomAndNeverPassItsLimit() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            // The first slice gets what it asks within the room: 9,000 of the 10,000 after 1,000 spent.
            let a = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", want: 20_000))
            #expect(a.outcome.state == .open && a.outcome.free == 9_000)
            #expect(try await LeaseStoreTests.used(store) == 10_000)
            // Nothing left for a second gateway but what the first has not spent: a recall can bring it back.
            let b = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", want: 5_000, need: 131))
            #expect(b.outcome.state == .closed && b.outcome.free == 0 && b.starved)
            #expect(try await store.capPeriods([("cap", LeaseStoreTests.period)])["cap"]!.open.unspent == 9_000)
            // The first reports: 500 used, 131 in flight, 393 of headroom; it wants 2,000: its slice shrinks to 2,631.
            let resized = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 500, held: 131, headroom: 393, want: 2_000,
                                                                                                admitted: 762), now: 1_000)
            #expect(resized.outcome.free == 2_000)
            #expect(try await LeaseStoreTests.used(store) == 1_000 + 2_631)
            // The second now gets half the room (another slice shares the cap): (10,000 - 3,631) / 2.
            let second = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b2", want: 5_000), now: 1_000)
            #expect(second.outcome.free == 6_369.0 / 2)
            #expect(try await LeaseStoreTests.used(store) <= 10_000)
            let open = try await store.capPeriods([("cap", LeaseStoreTests.period)])["cap"]!.open
            #expect(open.count == 2 && open.amount == 2_631 + 6_369.0 / 2 && open.settled == 500 && open.held == 131)
        }
    }

    @Test func aRecallCutsTheOtherSlicesToTheirHeadroomAndTheWaitingRequestTakesTheRoom() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", want: 9_000))
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 100, headroom: 300, want: 9_000, admitted: 100), now: 100)
            let waiting = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", want: 1_000, need: 500), now: 200)
            #expect(waiting.starved && waiting.outcome.state == .closed)
            #expect(try await store.capPeriods([("cap", LeaseStoreTests.period)])["cap"]!.open.unspent == 9_000 - 100)
            // Recalled: the first keeps what it used and its headroom; the room goes back to the cap.
            let recalled = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 100, headroom: 300, want: 9_000, admitted: 100),
                                                          recalled: true, now: 300)
            #expect(recalled.outcome.free == 300)
            let served = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", want: 1_000, need: 500), recalled: true, now: 400)
            // Only what waits, while the cap is recalled.
            #expect(served.outcome.state == .open && served.outcome.free == 500 && !served.starved)
        }
    }

    @Test func anUnreportedSliceIsChargedWhatItsGatewayMayHaveUsedAndOneFromAnEarlierRunInFull() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", want: 4_000))
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 100, held: 262, headroom: 393, want: 4_000, admitted: 362),
                                               now: 1_000)
            _ = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", want: 1_000), now: 1_000)
            _ = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", settled: 50, headroom: 100, want: 1_000, admitted: 50), now: 2_000)
            // The aggregator restarts at 3,000: it lets the gateways report first.
            try await store.extendLeases(bootMs: 3_000)
            try await store.expireLeases(nowMs: 6_500, bootMs: 3_000)
            #expect(try await store.capPeriods([("cap", LeaseStoreTests.period)])["cap"]!.open.count == 2)
            // gw-b reports to this run; gw-a is silent.
            _ = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", settled: 60, headroom: 100, want: 1_000, admitted: 60), now: 4_000,
                                               boot: 3_000)
            try await store.expireLeases(nowMs: 9_500, bootMs: 3_000)
            // gw-a, last heard by the earlier run, is charged its whole slice; gw-b what it used, had in flight and might have admitted.
            let totals = try await store.totals(budget: "cap", periodStart: LeaseStoreTests.period)
            #expect(totals["lease_expired"]?.count == 2 && totals["lease_expired"]?.amount == 362 + 4_000 + 60 + 100)
            #expect(totals["leased"]?.count == 0 && totals["leased"]?.amount == 0)
            // A late report of an expired slice is answered closed, never granted again.
            let late = try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_b", settled: 60, want: 1_000, admitted: 60), now: 10_000)
            #expect(late.outcome.state == .closed)
        }
    }

    @Test func aSliceAskedTwiceIsCarvedOnceAndALateReportChangesNothing() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            // The answer was lost; the gateway asks again under the same id.
            for _ in 0..<2 { _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", headroom: 2_000, want: 2_000)) }
            #expect(try await store.totals(budget: "cap", periodStart: LeaseStoreTests.period)["leased"]?.count == 1)
            #expect(try await LeaseStoreTests.used(store) == 1_000 + 2_000)
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 300, headroom: 200, want: 2_000, admitted: 300), now: 100)
            // The report before it, overtaken, arrives: nothing changes.
            let stale = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 100, headroom: 200, want: 9_000, admitted: 100), now: 200)
            #expect(stale.outcome.free == 2_000)
            #expect(try await LeaseStoreTests.used(store) == 1_000 + 2_300)
            // Another gateway cannot report a slice it was not granted.
            #expect(try await LeaseStoreTests.sync(store, "gw-b", LeaseStoreTests.report("slice_a", want: 9_000, admitted: 400), now: 300).outcome.state == .closed)
            // Returned: charged what its requests used.
            let returned = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 320, admitted: 320), now: 400)
            #expect(returned.outcome.state == .closed)
            let totals = try await store.totals(budget: "cap", periodStart: LeaseStoreTests.period)
            #expect(totals["lease_returned"]?.amount == 320 && totals["leased"]?.count == 0)
        }
    }

    @Test func aSliceOfAPeriodThatEndedAdmitsNothingMore() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            _ = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", want: 2_000))
            let next = CapRoom(periodStart: LeaseStoreTests.period + 86_400_000, limit: 10_000, spentBefore: 0)
            let ended = try await LeaseStoreTests.sync(store, "gw-a", LeaseStoreTests.report("slice_a", settled: 100, held: 131, headroom: 262, want: 2_000, admitted: 231),
                                                       cap: next, now: 100)
            #expect(ended.outcome.state == .ended && ended.outcome.free == 262)
            // It stays in its own period at what it may be using.
            #expect(try await store.capPeriods([("cap", LeaseStoreTests.period)])["cap"]!.open.amount == 100 + 131 + 262)
        }
    }

    @Test func aSessionIsKeptUntilItHasBeenIdleForItsCapsKeepThenForgotten() async throws {
        try await withTemporaryStores { stores, _ in
            let store = stores.reservations
            let key = "cap\u{1E}run-1"
            var report = SliceReport(id: "slice_s", budget: key, settled: 0, held: 0, headroom: 0, want: 500, need: 0, admitted: 0, session: "run-1", capName: "cap")
            _ = try await store.syncLeases(gateway: "gw-a", reports: [report], caps: [key: LeaseStoreTests.cap], recalled: [], nowMs: 1_000, expiryMs: 5_000, bootMs: 0)
            report = SliceReport(id: "slice_s", budget: key, settled: 240, held: 0, headroom: 0, want: 0, need: 0, admitted: 262, session: "run-1", capName: "cap")
            _ = try await store.syncLeases(gateway: "gw-a", reports: [report], caps: [key: LeaseStoreTests.cap], recalled: [], nowMs: 2_000, expiryMs: 5_000, bootMs: 0)
            #expect(try await store.capSessions(budget: "cap") == [CapSession(key: key, session: "run-1", firstMs: 1_000, lastMs: 2_000)])
            #expect(try await store.totals(budget: key, periodStart: LeaseStoreTests.period)["lease_returned"]?.amount == 240)
            // Not idle long enough: kept; then forgotten with its figures.
            #expect(try await store.pruneSessions(budget: "cap", idleBefore: 2_000) == 0)
            #expect(try await store.pruneSessions(budget: "cap", idleBefore: 2_001) == 1)
            #expect(try await store.capSessions(budget: "cap").isEmpty)
            #expect(try await store.totals(budget: key, periodStart: LeaseStoreTests.period).isEmpty)
        }
    }
}
