import Logging
import TokenWattConfiguration

/// The database and every store that keeps its tables in it, opened together: what the
/// aggregator assembles its engines from, each engine given only the stores it touches.
public struct Stores: Sendable {
    public let database: StoreDatabase
    public let samples: SampleStore
    public let ledger: any LedgerStore
    public let budgetStates: any BudgetStateStore
    public let reservations: any ReservationStore
    public let outbox: any OutboxStore
    public let forwardLog: any ForwardLog

    /// Opens (creating, migrating) the database in `configuration.directory`, then loads the
    /// samples' index and replays their log.
    public init(configuration: StorageConfiguration, logger: Logger) throws(StoreError) {
        database = try StoreDatabase(configuration: configuration, logger: logger)
        samples = try SampleStore(database: database)
        ledger = SQLiteLedgerStore(database: database)
        budgetStates = SQLiteBudgetStateStore(database: database)
        reservations = SQLiteReservationStore(database: database)
        outbox = SQLiteOutboxStore(database: database)
        forwardLog = SQLiteForwardLog(database: database)
    }

    /// Checkpoints the WAL and closes the database.
    public func close() throws(StoreError) {
        try database.close()
    }
}
