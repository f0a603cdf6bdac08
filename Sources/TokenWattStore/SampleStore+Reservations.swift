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

extension SampleStore {
    /// Holds `holds` under `id` if every cap still has room for its amount, else nothing: one
    /// write transaction, so no two requests can both pass a check the second would fail.
    public func reserve(id: String, holds: [CapHold], nowMs: Int64, expiresMs: Int64) async throws(StoreError) -> ReservationOutcome {
        do {
            return try await pool.write { db in
                let held = try db.cachedStatement(sql: "SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE budget = ? AND period_start = ?")
                for hold in holds {
                    let used = hold.spentBefore + (try Double.fetchOne(held, arguments: [hold.budget, hold.periodStart]) ?? 0)
                    if used + hold.amount > hold.limit { return .denied(budget: hold.budget, used: used, limit: hold.limit) }
                }
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO reservations (id, budget, period_start, amount, state, created_ms, expires_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?)
                    """)
                for hold in holds { try insert.execute(arguments: [id, hold.budget, hold.periodStart, hold.amount, nowMs, expiresMs]) }
                return .granted
            }
        } catch {
            throw .database("reserve \(id): \(error)")
        }
    }

    /// Replaces a pending reservation's worst cases by the actual amounts (by budget); false
    /// when no pending reservation has that id (unknown, settled already, or expired). Marks
    /// every reservation past its expiry as expired first, in the same transaction: they keep
    /// their worst case.
    public func settleReservation(id: String, amounts: [String: Double], nowMs: Int64) async throws(StoreError) -> Bool {
        do {
            return try await pool.write { db in
                try db.execute(sql: "UPDATE reservations SET state = 'expired' WHERE state = 'pending' AND expires_ms <= ?", arguments: [nowMs])
                let pending = try String.fetchAll(db, sql: "SELECT budget FROM reservations WHERE id = ? AND state = 'pending'", arguments: [id])
                guard !pending.isEmpty else { return false }
                let update = try db.cachedStatement(sql: "UPDATE reservations SET amount = ?, state = 'settled' WHERE id = ? AND budget = ?")
                for budget in pending { try update.execute(arguments: [amounts[budget] ?? 0, id, budget]) }
                return true
            }
        } catch {
            throw .database("settle \(id): \(error)")
        }
    }

    /// What a cap's period holds in reservations, by state.
    public func reservationTotals(budget: String, periodStart: Int64) async throws(StoreError) -> [String: (count: Int, amount: Double)] {
        do {
            return try await pool.read { db in
                var totals: [String: (count: Int, amount: Double)] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT state, COUNT(DISTINCT id), SUM(amount) FROM reservations WHERE budget = ? AND period_start = ? GROUP BY state
                    """, arguments: [budget, periodStart]) {
                    totals[row[0]] = (row[1], row[2])
                }
                return totals
            }
        } catch {
            throw .database("read reservations: \(error)")
        }
    }

    /// Reservations stored, by state: `pending`, `settled`, and `expired` (pending ones past
    /// their time to live count as expired, as the next write will mark them).
    public func reservationCounts(nowMs: Int64) async throws(StoreError) -> [String: Int] {
        do {
            return try await pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT CASE WHEN state = 'pending' AND expires_ms <= ? THEN 'expired' ELSE state END, COUNT(DISTINCT id)
                    FROM reservations GROUP BY 1
                    """, arguments: [nowMs]) {
                    counts[row[0]] = row[1]
                }
                return counts
            }
        } catch {
            throw .database("read reservations: \(error)")
        }
    }
}
