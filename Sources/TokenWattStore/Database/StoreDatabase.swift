import Foundation
import GRDB
import GRDBSQLite
import Logging
import TokenWattConfiguration

/// The one owner of the TokenWatt database file: opens it with its pragmas, runs the
/// migrations, and hands its connections to the stores that keep their tables in it (samples,
/// ledger, budget states, reservations, outbox, forwarding log). One file, so an operator backs
/// up one thing and a transaction can span two stores (a budget's state and its alerts).
///
/// Concurrency: writes go through GRDB's single serialized writer connection (the ingest
/// `SampleWriter` batches them into group commits; the other stores' writes interleave in
/// small transactions); reads use the pool's reader connections and never block the writer (WAL).
public final class StoreDatabase: Sendable {
    public let configuration: StorageConfiguration
    let pool: DatabasePool
    let logger: Logger

    public init(configuration: StorageConfiguration, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        self.logger = logger
        do {
            try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
            var grdb = Configuration()
            grdb.prepareDatabase { db in
                // FULL: a commit is on disk (WAL fsynced) before a push is acknowledged.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // The rest is the writer's; readers keep SQLite's defaults.
                guard !db.configuration.readonly else { return }
                // Takes effect only on a new file, before WAL mode and the first table: compaction
                // can then hand the head's freed pages back (`PRAGMA incremental_vacuum`).
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                // Commits append log rows and, for new series, insert into the labels index;
                // flushes write chunks in series order. 16 MiB holds the pages they come back to
                // (64 MiB, when every push wrote a row per series, cost 64 bytes per series at 1M).
                try db.execute(sql: "PRAGMA cache_size = -16384")
            }
            grdb.label = "tokenwatt"
            pool = try DatabasePool(path: configuration.databasePath, configuration: grdb)
            try Schema.migrator.migrate(pool)
        } catch {
            throw .database("cannot open \(configuration.databasePath): \(error)")
        }
    }

    /// Runs `body` on a reader connection; a failure is a `StoreError` naming `what`.
    func read<T: Sendable>(_ what: @autoclosure () -> String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw StoreDatabase.storeError(error, what())
        }
    }

    /// Runs `body` in one write transaction; a failure is a `StoreError` naming `what`.
    func write<T: Sendable>(_ what: @autoclosure () -> String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw StoreDatabase.storeError(error, what())
        }
    }

    private static func storeError(_ error: any Error, _ what: String) -> StoreError {
        (error as? StoreError) ?? .database("\(what): \(error)")
    }

    /// Size on disk of the database, its WAL and shared-memory file.
    public var bytes: Int64 {
        ["", "-wal", "-shm"].reduce(0) { total, suffix in
            let attributes = try? FileManager.default.attributesOfItem(atPath: configuration.databasePath + suffix)
            return total + ((attributes?[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }

    /// Checkpoints the WAL and closes every connection.
    public func close() throws(StoreError) {
        do {
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try pool.close()
        } catch {
            throw .database("close: \(error)")
        }
    }
}

/// SQLite's "copy this buffer now" destructor, which Swift cannot import as a macro.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
