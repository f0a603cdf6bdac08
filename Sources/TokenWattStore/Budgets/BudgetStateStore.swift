import GRDB

/// Each budget's state as the budget engine last saved it (JSON: the period, what fired, the
/// runaway detector), saved with the alert messages its change causes.
public protocol BudgetStateStore: Sendable {
    /// Every budget's saved state, by budget name.
    func states() async throws(StoreError) -> [String: String]
    /// Saves a budget's new state and the outbox messages it causes, in one transaction.
    func save(_ budget: String, state: String, messages: [OutboxMessage]) async throws(StoreError)
}

/// Budget states in the `budget_state` table; their messages go to the outbox's table in the
/// same transaction.
public final class SQLiteBudgetStateStore: BudgetStateStore {
    private let database: StoreDatabase

    public init(database: StoreDatabase) {
        self.database = database
    }

    public func states() async throws(StoreError) -> [String: String] {
        try await database.read("read budget state") { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT budget, state FROM budget_state").map { ($0[0], $0[1]) })
        }
    }

    public func save(_ budget: String, state: String, messages: [OutboxMessage]) async throws(StoreError) {
        try await database.write("save budget \(budget)") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO budget_state (budget, state) VALUES (?, ?)", arguments: [budget, state])
            for message in messages { try SQLiteOutboxStore.insert(message, db: db) }
        }
    }
}
