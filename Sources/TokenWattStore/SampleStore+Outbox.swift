import GRDB

/// One alert event on its way to one receiver.
public struct OutboxMessage: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case pending, delivered
        /// Not delivered within the give-up horizon.
        case expired
        /// The receiver answered 410 Gone (now or for an earlier message).
        case disabled
    }

    public var eventID: String
    public var receiver: String
    public var createdMs: Int64
    /// The event as JSON; each receiver kind renders it its own way.
    public var event: String
    public var status: Status = .pending
    public var attempts = 0
    public var nextAttemptMs: Int64
    public var lastError: String?
    public var finishedMs: Int64?

    public init(eventID: String, receiver: String, createdMs: Int64, event: String) {
        self.eventID = eventID
        self.receiver = receiver
        self.createdMs = createdMs
        self.event = event
        nextAttemptMs = createdMs
    }

    init(row: Row) {
        eventID = row["event_id"]
        receiver = row["receiver"]
        createdMs = row["created_ms"]
        event = row["event"]
        status = Status(rawValue: row["status"]) ?? .pending
        attempts = row["attempts"]
        nextAttemptMs = row["next_attempt_ms"]
        lastError = row["last_error"]
        finishedMs = row["finished_ms"]
    }
}

extension SampleStore {
    /// Every budget's saved state (JSON written by the budget engine), by budget name.
    public func budgetStates() async throws(StoreError) -> [String: String] {
        do {
            return try await pool.read { db in
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT budget, state FROM budget_state").map { ($0[0], $0[1]) })
            }
        } catch {
            throw .database("read budget state: \(error)")
        }
    }

    /// Saves a budget's new state and the messages it causes, in one transaction.
    public func saveBudget(_ budget: String, state: String, messages: [OutboxMessage]) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO budget_state (budget, state) VALUES (?, ?)", arguments: [budget, state])
                for message in messages { try self.insert(message, db: db) }
            }
        } catch {
            throw .database("save budget \(budget): \(error)")
        }
    }

    func insert(_ message: OutboxMessage, db: Database) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO outbox (event_id, receiver, created_ms, event, status, attempts, next_attempt_ms)
            VALUES (?, ?, ?, ?, ?, 0, ?)
            """, arguments: [message.eventID, message.receiver, message.createdMs, message.event, message.status.rawValue, message.nextAttemptMs])
    }

    /// Pending messages due at `now`, oldest first.
    public func dueMessages(now: Int64, limit: Int = 100) async throws(StoreError) -> [OutboxMessage] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?
                    """, arguments: [now, limit]).map(OutboxMessage.init(row:))
            }
        } catch {
            throw .database("read the outbox: \(error)")
        }
    }

    /// When the next pending message is due, if any is.
    public func nextDueMs() async throws(StoreError) -> Int64? {
        do {
            return try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT min(next_attempt_ms) FROM outbox WHERE status = 'pending'") }
        } catch {
            throw .database("read the outbox: \(error)")
        }
    }

    /// Records an attempt's outcome.
    public func update(_ message: OutboxMessage) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(sql: """
                    UPDATE outbox SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, finished_ms = ?
                    WHERE event_id = ? AND receiver = ?
                    """, arguments: [message.status.rawValue, message.attempts, message.nextAttemptMs, message.lastError, message.finishedMs,
                                     message.eventID, message.receiver])
            }
        } catch {
            throw .database("update the outbox: \(error)")
        }
    }

    /// The newest messages, newest first.
    public func recentMessages(limit: Int) async throws(StoreError) -> [OutboxMessage] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY created_ms DESC, event_id LIMIT ?", arguments: [limit]).map(OutboxMessage.init(row:))
            }
        } catch {
            throw .database("read the outbox: \(error)")
        }
    }

    /// Receivers disabled by a 410 (by identity: name and target), with when and why.
    public func disabledReceivers() async throws(StoreError) -> [String: (ms: Int64, reason: String)] {
        do {
            return try await pool.read { db in
                var result: [String: (ms: Int64, reason: String)] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT receiver, disabled_ms, reason FROM receiver_state") { result[row[0]] = (row[1], row[2]) }
                return result
            }
        } catch {
            throw .database("read receiver state: \(error)")
        }
    }

    /// Disables a receiver and every message still pending for it.
    public func disable(receiver: String, identity: String, at ms: Int64, reason: String) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO receiver_state (receiver, disabled_ms, reason) VALUES (?, ?, ?)", arguments: [identity, ms, reason])
                try db.execute(sql: "UPDATE outbox SET status = 'disabled', finished_ms = ? WHERE receiver = ? AND status = 'pending'", arguments: [ms, receiver])
            }
        } catch {
            throw .database("disable receiver \(receiver): \(error)")
        }
    }
}
