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

/// Alert events on their way to receivers, one message per event and receiver, and the
/// receivers a 410 disabled. Messages are written with the budget state that caused them
/// (`BudgetStateStore.saveBudget`), so no alert is lost between the two.
public protocol OutboxStore: Sendable {
    /// Pending messages due at `now`, oldest first.
    func dueMessages(now: Int64, limit: Int) async throws(StoreError) -> [OutboxMessage]
    /// When the next pending message is due, if any is.
    func nextDueMs() async throws(StoreError) -> Int64?
    /// Records an attempt's outcome.
    func update(_ message: OutboxMessage) async throws(StoreError)
    /// The newest messages, newest first.
    func recentMessages(limit: Int) async throws(StoreError) -> [OutboxMessage]
    /// Receivers disabled by a 410 (by identity: name and target), with when and why.
    func disabledReceivers() async throws(StoreError) -> [String: (ms: Int64, reason: String)]
    /// Disables a receiver and every message still pending for it.
    func disable(receiver: String, identity: String, at ms: Int64, reason: String) async throws(StoreError)
    /// Deletes the messages finished (delivered, expired, disabled) before `cutoff`; returns how many.
    @discardableResult
    func deleteFinished(before cutoff: Int64) async throws(StoreError) -> Int
}

/// The outbox in the `outbox` and `receiver_state` tables.
public final class SQLiteOutboxStore: OutboxStore {
    private let database: StoreDatabase

    public init(database: StoreDatabase) {
        self.database = database
    }

    /// Adds a message, in the caller's transaction.
    static func insert(_ message: OutboxMessage, db: Database) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO outbox (event_id, receiver, created_ms, event, status, attempts, next_attempt_ms)
            VALUES (?, ?, ?, ?, ?, 0, ?)
            """, arguments: [message.eventID, message.receiver, message.createdMs, message.event, message.status.rawValue, message.nextAttemptMs])
    }

    public func dueMessages(now: Int64, limit: Int) async throws(StoreError) -> [OutboxMessage] {
        try await database.read("read the outbox") { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?
                """, arguments: [now, limit]).map(OutboxMessage.init(row:))
        }
    }

    public func nextDueMs() async throws(StoreError) -> Int64? {
        try await database.read("read the outbox") { db in try Int64.fetchOne(db, sql: "SELECT min(next_attempt_ms) FROM outbox WHERE status = 'pending'") }
    }

    public func update(_ message: OutboxMessage) async throws(StoreError) {
        try await database.write("update the outbox") { db in
            try db.execute(sql: """
                UPDATE outbox SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, finished_ms = ?
                WHERE event_id = ? AND receiver = ?
                """, arguments: [message.status.rawValue, message.attempts, message.nextAttemptMs, message.lastError, message.finishedMs,
                                 message.eventID, message.receiver])
        }
    }

    public func recentMessages(limit: Int) async throws(StoreError) -> [OutboxMessage] {
        try await database.read("read the outbox") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY created_ms DESC, event_id LIMIT ?", arguments: [limit]).map(OutboxMessage.init(row:))
        }
    }

    public func disabledReceivers() async throws(StoreError) -> [String: (ms: Int64, reason: String)] {
        try await database.read("read receiver state") { db in
            var result: [String: (ms: Int64, reason: String)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT receiver, disabled_ms, reason FROM receiver_state") { result[row[0]] = (row[1], row[2]) }
            return result
        }
    }

    public func disable(receiver: String, identity: String, at ms: Int64, reason: String) async throws(StoreError) {
        try await database.write("disable receiver \(receiver)") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO receiver_state (receiver, disabled_ms, reason) VALUES (?, ?, ?)", arguments: [identity, ms, reason])
            try db.execute(sql: "UPDATE outbox SET status = 'disabled', finished_ms = ? WHERE receiver = ? AND status = 'pending'", arguments: [ms, receiver])
        }
    }

    public func deleteFinished(before cutoff: Int64) async throws(StoreError) -> Int {
        try await database.write("delete finished messages") { db in
            try db.execute(sql: "DELETE FROM outbox WHERE status != 'pending' AND finished_ms < ?", arguments: [cutoff])
            return db.changesCount
        }
    }
}

extension OutboxStore {
    public func dueMessages(now: Int64) async throws(StoreError) -> [OutboxMessage] {
        try await dueMessages(now: now, limit: 100)
    }
}
