import GRDB
import TokenWattCore

/// A gateway's account of one slice (cumulative: repeating it changes nothing).
public struct SliceReport: Sendable, Equatable {
    public var id: String
    public var budget: String
    public var settled: Double
    public var held: Double
    public var headroom: Double
    public var want: Double
    public var need: Double
    public var admitted: Double
    /// A cap per session: the session (`budget` is then the session's key).
    public var session: String?
    public var capName: String?

    public init(id: String, budget: String, settled: Double, held: Double, headroom: Double, want: Double, need: Double, admitted: Double,
                session: String? = nil, capName: String? = nil) {
        self.session = session
        self.capName = capName
        self.id = id
        self.budget = budget
        self.settled = settled
        self.held = held
        self.headroom = headroom
        self.want = want
        self.need = need
        self.admitted = admitted
    }
}

/// A hard cap's current period: its limit and what it spent outside the gateway's slices and
/// reservations (the ledger, as the budget engine last read it).
public struct CapRoom: Sendable, Equatable {
    public var periodStart: Int64
    public var limit: Double
    public var spentBefore: Double

    public init(periodStart: Int64, limit: Double, spentBefore: Double) {
        self.periodStart = periodStart
        self.limit = limit
        self.spentBefore = spentBefore
    }
}

/// A cap period's open slices: how many, their amount, and what their gateways last reported
/// settled and held in flight.
public struct OpenLeases: Sendable, Equatable {
    public var count: Int
    public var amount: Double
    public var settled: Double
    public var held: Double

    /// What they hold and have not spent or put in flight: room a recall can bring back.
    public var unspent: Double { max(0, amount - settled - held) }
}

/// A cap period (or one session's) read in one snapshot: what its totals hold in every state
/// (`held`), its pending reservations, and its open slices.
public struct CapPeriod: Sendable, Equatable {
    public var held: Double
    public var pending: Double
    public var open: OpenLeases
}

/// A session of a cap held per session: its key, and when it was first and last reported.
public struct CapSession: Sendable, Equatable {
    public var key: String
    public var session: String
    public var firstMs: Int64
    public var lastMs: Int64
}

/// What became of each reported slice, and the caps a request waited on without room.
public struct LeaseSync: Sendable, Equatable {
    public enum State: String, Sendable {
        case open, ended, closed
    }

    public struct Outcome: Sendable, Equatable {
        public var id: String
        public var state: State
        /// Room to admit from on top of the reported settled and held amounts.
        public var free: Double
        public var expiresMs: Int64
    }

    public var outcomes: [Outcome]
    /// Caps where a waiting request found less room than it needs.
    public var starved: Set<String>
}

/// Slices of hard caps leased to gateways, in the `leases` table, counted in the same
/// `reservation_totals` as requests' reservations so that one check covers both.
///
/// The invariant every transaction keeps: for each cap period, what was spent outside the
/// gateways plus every reservation plus every slice's amount stays within the limit. A slice
/// grows only into room the cap has; it shrinks no lower than what its gateway may already have
/// admitted (`settled + held + headroom`), so a resize can never take back room in use.
extension SQLiteReservationStore {
    static let closedLeaseKeepMs: Int64 = Milliseconds.day

    public func syncLeases(gateway: String, reports: [SliceReport], caps: [String: CapRoom], recalled: Set<String>, nowMs: Int64, expiryMs: Int64,
                           bootMs: Int64) async throws(StoreError) -> LeaseSync {
        try await database.write("lease slices to \(gateway)") { db in
            try SQLiteReservationStore.expireLeases(db, nowMs: nowMs, bootMs: bootMs)
            var sync = LeaseSync(outcomes: [], starved: [])
            for report in reports {
                if let session = report.session, let capName = report.capName {
                    try db.execute(sql: """
                        INSERT INTO cap_sessions (key, budget, session, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?4)
                        ON CONFLICT (key) DO UPDATE SET last_ms = ?4
                        """, arguments: [report.budget, capName, session, nowMs])
                }
                let outcome = try SQLiteReservationStore.apply(report, gateway: gateway, cap: caps[report.budget], recalled: recalled.contains(report.budget),
                                                               nowMs: nowMs, expiryMs: expiryMs, db: db)
                if outcome.starved { sync.starved.insert(report.budget) }
                sync.outcomes.append(outcome.outcome)
            }
            return sync
        }
    }

    public func expireLeases(nowMs: Int64, bootMs: Int64) async throws(StoreError) {
        try await database.write("expire lease slices") { db in
            try SQLiteReservationStore.expireLeases(db, nowMs: nowMs, bootMs: bootMs)
        }
    }

    public func capPeriods(_ keys: [(budget: String, periodStart: Int64)]) async throws(StoreError) -> [String: CapPeriod] {
        try await database.read("read caps' periods") { db in
            var periods: [String: CapPeriod] = [:]
            for (budget, periodStart) in keys {
                var period = CapPeriod(held: 0, pending: 0, open: OpenLeases(count: 0, amount: 0, settled: 0, held: 0))
                for row in try Row.fetchAll(db, sql: "SELECT state, amount FROM reservation_totals WHERE budget = ? AND period_start = ?",
                                            arguments: [budget, periodStart]) {
                    let amount: Double = row[1]
                    period.held += amount
                    if row[0] as String == "pending" { period.pending = amount }
                }
                let open = try Row.fetchOne(db, sql: """
                    SELECT COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(settled), 0), COALESCE(SUM(held), 0) FROM leases
                    WHERE budget = ? AND period_start = ? AND closed_ms IS NULL
                    """, arguments: [budget, periodStart])
                period.open = OpenLeases(count: open?[0] ?? 0, amount: open?[1] ?? 0, settled: open?[2] ?? 0, held: open?[3] ?? 0)
                periods[budget] = period
            }
            return periods
        }
    }

    public func capSessions(budget: String) async throws(StoreError) -> [CapSession] {
        try await database.read("read a cap's sessions") { db in
            try Row.fetchAll(db, sql: "SELECT key, session, first_ms, last_ms FROM cap_sessions WHERE budget = ? ORDER BY last_ms DESC",
                             arguments: [budget]).map { CapSession(key: $0[0], session: $0[1], firstMs: $0[2], lastMs: $0[3]) }
        }
    }

    public func pruneSessions(budget: String, idleBefore: Int64) async throws(StoreError) -> Int {
        try await database.write("prune a cap's sessions") { db in
            let keys = try String.fetchAll(db, sql: """
                SELECT key FROM cap_sessions WHERE budget = ? AND last_ms < ?
                AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.budget = cap_sessions.key AND closed_ms IS NULL)
                """, arguments: [budget, idleBefore])
            for key in keys {
                try db.execute(sql: "DELETE FROM reservation_totals WHERE budget = ?", arguments: [key])
                try db.execute(sql: "DELETE FROM leases WHERE budget = ?", arguments: [key])
                try db.execute(sql: "DELETE FROM cap_sessions WHERE key = ?", arguments: [key])
            }
            return keys.count
        }
    }

    public func extendLeases(bootMs: Int64) async throws(StoreError) {
        try await database.write("extend lease slices") { db in
            try db.execute(sql: """
                UPDATE leases SET expires_ms = MAX(expires_ms, ?1 + expires_ms - reported_ms) WHERE closed_ms IS NULL
                """, arguments: [bootMs])
        }
    }

    private static func apply(_ report: SliceReport, gateway: String, cap: CapRoom?, recalled: Bool, nowMs: Int64, expiryMs: Int64,
                              db: Database) throws -> (outcome: LeaseSync.Outcome, starved: Bool) {
        let expires = nowMs + expiryMs
        func closed() -> (LeaseSync.Outcome, Bool) {
            (.init(id: report.id, state: .closed, free: 0, expiresMs: nowMs), false)
        }
        let ask = max(report.want, report.need)
        guard let row = try Row.fetchOne(db, sql: """
            SELECT gateway, budget, period_start, amount, closed_ms, settled, held, admitted, expires_ms FROM leases WHERE id = ?
            """, arguments: [report.id]) else {
            // A new slice: carved from the cap's free room, if it has any.
            guard let cap, report.settled == 0, report.held == 0, ask > 0 else { return closed() }
            let (room, others) = try self.room(db, budget: report.budget, cap: cap, excluding: report.id)
            let free = grant(ask: ask, need: report.need, headroom: 0, room: room, others: others, recalled: recalled)
            let starved = report.need > 0 && room < report.need
            guard free > 0 else { return (closed().0, starved) }
            // Until its next report, its gateway may admit from all of it.
            try db.execute(sql: """
                INSERT INTO leases (id, gateway, budget, period_start, amount, settled, held, headroom, admitted, reported_ms, expires_ms)
                VALUES (?, ?, ?, ?, ?, 0, 0, ?, 0, ?, ?)
                """, arguments: [report.id, gateway, report.budget, cap.periodStart, free, free, nowMs, expires])
            try addToReservationTotal(db, budget: report.budget, periodStart: cap.periodStart, state: "leased", count: 1, amount: free)
            return (.init(id: report.id, state: .open, free: free, expiresMs: expires), starved)
        }
        let (owner, budget, periodStart, amount, closedMs): (String, String, Int64, Double, Int64?) = (row[0], row[1], row[2], row[3], row[4])
        // Closed, or another gateway's id: nothing to change.
        guard closedMs == nil, owner == gateway, budget == report.budget else { return closed() }
        let (storedSettled, storedHeld, storedAdmitted, storedExpires): (Double, Double, Double, Int64) = (row[5], row[6], row[7], row[8])
        // A report older than the one applied (a retry overtaken by the next report): as it stands.
        if report.admitted < storedAdmitted {
            return (.init(id: report.id, state: .open, free: max(0, amount - storedSettled - storedHeld), expiresMs: storedExpires), false)
        }
        let committed = report.settled + report.held
        if ask == 0 && report.held == 0 && report.headroom == 0 {
            // Returned: charged what its requests used.
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "leased", count: -1, amount: -amount)
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "lease_returned", count: 1, amount: report.settled)
            try db.execute(sql: "UPDATE leases SET amount = ?, settled = ?, held = 0, headroom = 0, reported_ms = ?, closed_ms = ? WHERE id = ?",
                           arguments: [report.settled, report.settled, nowMs, nowMs, report.id])
            return closed()
        }
        var state = LeaseSync.State.open
        // What the gateway may admit before this report is answered: its headroom, within the room it had.
        let headroom = min(report.headroom, max(0, amount - committed))
        var free = headroom
        var starved = false
        if let cap, cap.periodStart == periodStart {
            let (room, others) = try self.room(db, budget: budget, cap: cap, excluding: report.id)
            // This slice's own unspent part is room it may keep.
            let own = room + amount - committed
            free = grant(ask: ask, need: report.need, headroom: headroom, room: own, others: others, recalled: recalled)
            starved = report.need > 0 && own < report.need
        } else {
            // Its period is over or its cap is gone: it keeps only what may be in use.
            state = .ended
        }
        let newAmount = committed + free
        try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "leased", count: 0, amount: newAmount - amount)
        try db.execute(sql: """
            UPDATE leases SET amount = ?, settled = ?, held = ?, headroom = ?, admitted = ?, reported_ms = ?, expires_ms = ? WHERE id = ?
            """, arguments: [newAmount, report.settled, report.held, min(report.headroom, free), report.admitted, nowMs, expires, report.id])
        return (.init(id: report.id, state: state, free: free, expiresMs: expires), starved)
    }

    /// The free room a slice is granted: what it asks, within the cap's room (half of it when
    /// other slices share the cap and nothing waits here, so that each leaves some to the
    /// others); while the cap is recalled for a request that waits, only what waits here. Never
    /// less than its headroom (within the room it had), which it may already have admitted.
    private static func grant(ask: Double, need: Double, headroom: Double, room: Double, others: Int, recalled: Bool) -> Double {
        let share = recalled ? min(need, room) : min(ask, others > 0 && need == 0 ? room / 2 : room)
        return max(headroom, max(0, share))
    }

    /// What the cap period has left, and how many other slices of it are open.
    private static func room(_ db: Database, budget: String, cap: CapRoom, excluding id: String) throws -> (Double, Int) {
        let held = try Double.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM reservation_totals WHERE budget = ? AND period_start = ?",
                                       arguments: [budget, cap.periodStart]) ?? 0
        let others = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM leases WHERE budget = ? AND period_start = ? AND closed_ms IS NULL AND id <> ?
            """, arguments: [budget, cap.periodStart, id]) ?? 0
        return (cap.limit - cap.spentBefore - held, others)
    }

    /// Slices unreported past their time close, charged what their gateway may have used:
    /// settled + held + headroom as last reported, or their whole amount when that report
    /// reached an earlier run of the aggregator (the gateway may have admitted from all of it
    /// while this one was away). Closed rows older than a day go.
    static func expireLeases(_ db: Database, nowMs: Int64, bootMs: Int64) throws {
        let lapsed = try Row.fetchAll(db, sql: """
            SELECT id, budget, period_start, amount, settled, held, headroom, reported_ms FROM leases
            WHERE closed_ms IS NULL AND expires_ms <= ?
            """, arguments: [nowMs])
        for row in lapsed {
            let (id, budget, periodStart, amount): (String, String, Int64, Double) = (row[0], row[1], row[2], row[3])
            let (settled, held, headroom, reported): (Double, Double, Double, Int64) = (row[4], row[5], row[6], row[7])
            let charge = reported < bootMs ? amount : min(amount, settled + held + headroom)
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "leased", count: -1, amount: -amount)
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "lease_expired", count: 1, amount: charge)
            try db.execute(sql: "UPDATE leases SET amount = ?, closed_ms = ? WHERE id = ?", arguments: [charge, nowMs, id])
        }
        try db.execute(sql: "DELETE FROM leases WHERE closed_ms < ?", arguments: [nowMs - closedLeaseKeepMs])
    }
}
