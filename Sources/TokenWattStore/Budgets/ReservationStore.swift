import GRDB

/// What one request asks to hold against one hard cap.
public struct CapHold: Sendable, Equatable {
    public var budget: String
    public var periodStart: Int64
    public var amount: Double
    /// The cap's limit and what its period had spent outside reservations when asked.
    public var limit: Double
    public var spentBefore: Double

    public init(budget: String, periodStart: Int64, amount: Double, limit: Double, spentBefore: Double) {
        self.budget = budget
        self.periodStart = periodStart
        self.amount = amount
        self.limit = limit
        self.spentBefore = spentBefore
    }
}

/// The answer to a reservation: granted, or the first cap without room and what it has used.
public enum ReservationOutcome: Sendable, Equatable {
    case granted
    case denied(budget: String, used: Double, limit: Double)
}

/// Hard caps' reservations: a request's worst case held against each cap it falls under until
/// it settles (the actual amounts) or expires (the worst case stays), with running totals per
/// cap period and state.
public protocol ReservationStore: Sendable {
    /// Holds `holds` under `id` if every cap still has room for its amount, else nothing.
    func reserve(id: String, holds: [CapHold], nowMs: Int64, expiresMs: Int64) async throws(StoreError) -> ReservationOutcome
    /// Replaces a pending reservation's worst cases by the actual amounts (by budget); false
    /// when no pending reservation has that id (unknown, settled already, or expired).
    func settle(id: String, amounts: [String: Double], nowMs: Int64) async throws(StoreError) -> Bool
    /// What a cap's period holds in reservations, by state.
    func totals(budget: String, periodStart: Int64) async throws(StoreError) -> [String: (count: Int, amount: Double)]
    /// Reservations made, by state: `pending`, `settled`, and `expired`.
    func counts(nowMs: Int64) async throws(StoreError) -> [String: Int]

    /// Applies a gateway's report of its slices (`LeaseStore.swift`): one write transaction.
    func syncLeases(gateway: String, reports: [SliceReport], caps: [String: CapRoom], recalled: Set<String>, nowMs: Int64, expiryMs: Int64,
                    bootMs: Int64) async throws(StoreError) -> LeaseSync
    /// Expires slices unreported past their time (`LeaseStore.swift`).
    func expireLeases(nowMs: Int64, bootMs: Int64) async throws(StoreError)
    /// Cap periods (or sessions'), each read in the same snapshot as the others.
    func capPeriods(_ keys: [(budget: String, periodStart: Int64)]) async throws(StoreError) -> [String: CapPeriod]
    /// The sessions of a cap held per session, the latest first.
    func capSessions(budget: String) async throws(StoreError) -> [CapSession]
    /// Forgets the sessions of `budget` last reported before `idleBefore` with no slice open:
    /// their totals and closed slices go; how many went.
    func pruneSessions(budget: String, idleBefore: Int64) async throws(StoreError) -> Int
    /// Gives every open slice at least its own time to live from `bootMs`: an aggregator that
    /// was away lets the gateways report before it charges what they hold.
    func extendLeases(bootMs: Int64) async throws(StoreError)
}

/// Reservations in the `reservations`, `reservation_totals` and `reservation_counts` tables.
public final class SQLiteReservationStore: ReservationStore {
    let database: StoreDatabase

    public init(database: StoreDatabase) {
        self.database = database
    }

    /// Holds `holds` under `id` if every cap still has room for its amount, else nothing: one
    /// write transaction, so no two requests can both pass a check the second would fail. What
    /// a cap's period holds is read from its running totals (a few rows), not summed over its
    /// reservations, so a grant costs the same on the first day of a month as on the last.
    public func reserve(id: String, holds: [CapHold], nowMs: Int64, expiresMs: Int64) async throws(StoreError) -> ReservationOutcome {
        try await database.write("reserve \(id)") { db in
            let held = try db.cachedStatement(sql: "SELECT COALESCE(SUM(amount), 0) FROM reservation_totals WHERE budget = ? AND period_start = ?")
            for hold in holds {
                let used = hold.spentBefore + (try Double.fetchOne(held, arguments: [hold.budget, hold.periodStart]) ?? 0)
                if used + hold.amount > hold.limit { return .denied(budget: hold.budget, used: used, limit: hold.limit) }
            }
            let insert = try db.cachedStatement(sql: """
                INSERT INTO reservations (id, budget, period_start, amount, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)
                """)
            for hold in holds {
                try insert.execute(arguments: [id, hold.budget, hold.periodStart, hold.amount, nowMs, expiresMs])
                try SQLiteReservationStore.addToReservationTotal(db, budget: hold.budget, periodStart: hold.periodStart, state: "pending", count: 1, amount: hold.amount)
            }
            try SQLiteReservationStore.addToReservationCount(db, state: "pending", 1)
            return .granted
        }
    }

    /// Replaces a pending reservation's worst cases by the actual amounts (by budget); false
    /// when no pending reservation has that id (unknown, settled already, or expired). Expires
    /// every reservation past its time to live first, in the same transaction: they keep their
    /// worst case. Only pending reservations keep a row; the others live on in the totals.
    public func settle(id: String, amounts: [String: Double], nowMs: Int64) async throws(StoreError) -> Bool {
        try await database.write("settle \(id)") { db in
            try SQLiteReservationStore.expireReservations(db, nowMs: nowMs)
            let pending = try Row.fetchAll(db, sql: "SELECT budget, period_start, amount FROM reservations WHERE id = ?", arguments: [id])
            guard !pending.isEmpty else { return false }
            for row in pending {
                let budget: String = row[0]
                let periodStart: Int64 = row[1]
                let worst: Double = row[2]
                try SQLiteReservationStore.addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "pending", count: -1, amount: -worst)
                try SQLiteReservationStore.addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "settled", count: 1, amount: amounts[budget] ?? 0)
            }
            try db.execute(sql: "DELETE FROM reservations WHERE id = ?", arguments: [id])
            try SQLiteReservationStore.addToReservationCount(db, state: "pending", -1)
            try SQLiteReservationStore.addToReservationCount(db, state: "settled", 1)
            return true
        }
    }

    /// What a cap's period holds in reservations, by state (pending ones past their time to
    /// live still pending until the next settle expires them).
    public func totals(budget: String, periodStart: Int64) async throws(StoreError) -> [String: (count: Int, amount: Double)] {
        try await database.read("read reservations") { db in
            var totals: [String: (count: Int, amount: Double)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count, amount FROM reservation_totals WHERE budget = ? AND period_start = ?",
                                        arguments: [budget, periodStart]) {
                totals[row[0]] = (row[1], row[2])
            }
            return totals
        }
    }

    /// Reservations made, by state: `pending`, `settled`, and `expired` (pending ones past
    /// their time to live count as expired, as the next write will mark them).
    public func counts(nowMs: Int64) async throws(StoreError) -> [String: Int] {
        try await database.read("read reservations") { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count FROM reservation_counts") {
                counts[row[0]] = row[1]
            }
            let lapsed = try SQLiteReservationStore.lapsedReservations(db, nowMs: nowMs)
            if lapsed > 0 {
                counts["pending", default: 0] -= lapsed
                counts["expired", default: 0] += lapsed
            }
            return counts
        }
    }

    /// Pending reservations past their time to live become expired at their worst case.
    private static func expireReservations(_ db: Database, nowMs: Int64) throws {
        let lapsed = try Row.fetchAll(db, sql: """
            SELECT budget, period_start, COUNT(*), SUM(amount) FROM reservations WHERE expires_ms <= ? GROUP BY budget, period_start
            """, arguments: [nowMs])
        guard !lapsed.isEmpty else { return }
        for row in lapsed {
            let (budget, periodStart, count, amount): (String, Int64, Int, Double) = (row[0], row[1], row[2], row[3])
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "pending", count: -count, amount: -amount)
            try addToReservationTotal(db, budget: budget, periodStart: periodStart, state: "expired", count: count, amount: amount)
        }
        let reservations = try lapsedReservations(db, nowMs: nowMs)
        try db.execute(sql: "DELETE FROM reservations WHERE expires_ms <= ?", arguments: [nowMs])
        try addToReservationCount(db, state: "pending", -reservations)
        try addToReservationCount(db, state: "expired", reservations)
    }

    /// Pending reservations past their time to live (one may hold several caps).
    private static func lapsedReservations(_ db: Database, nowMs: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT id) FROM reservations WHERE expires_ms <= ?", arguments: [nowMs]) ?? 0
    }

    /// Moves a cap period's total in one state; a total whose count reaches zero holds exactly
    /// zero (no residue of adding and taking away floating-point amounts).
    static func addToReservationTotal(_ db: Database, budget: String, periodStart: Int64, state: String, count: Int, amount: Double) throws {
        try db.cachedStatement(sql: """
            INSERT INTO reservation_totals (budget, period_start, state, count, amount) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (budget, period_start, state) DO UPDATE SET
                count = count + ?4, amount = CASE WHEN count + ?4 = 0 THEN 0 ELSE amount + ?5 END
            """).execute(arguments: [budget, periodStart, state, count, amount])
    }

    static func addToReservationCount(_ db: Database, state: String, _ count: Int) throws {
        try db.cachedStatement(sql: """
            INSERT INTO reservation_counts (state, count) VALUES (?1, ?2) ON CONFLICT (state) DO UPDATE SET count = count + ?2
            """).execute(arguments: [state, count])
    }
}
