import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization
import TokenWattCore

/// The one owner of the TokenWatt database: opens it, runs the migrations, interns series,
/// appends samples, answers queries and runs rollups and retention.
///
/// Concurrency: writes go through GRDB's single serialized writer connection (the ingest
/// `SampleWriter` batches them into group commits; maintenance writes interleave in small
/// transactions); reads use the pool's reader connections and never block the writer (WAL).
public final class SampleStore: Sendable {
    public let configuration: StorageConfiguration
    let pool: DatabasePool
    let index = SeriesIndex()
    let compaction = Mutex(CompactionState())
    let compactedSampleCount = Atomic<Int>(0)
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
                // Commits touch the pages of the current minutes and rollups again and again:
                // 64 MiB keeps them in memory rather than read back from the OS each time.
                try db.execute(sql: "PRAGMA cache_size = -65536")
            }
            grdb.label = "tokenwatt"
            pool = try DatabasePool(path: configuration.databasePath, configuration: grdb)
            try Schema.migrator.migrate(pool)
            try loadIndex()
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("cannot open \(configuration.databasePath): \(error)")
        }
    }

    /// Loads every series and the latest sample of each (within the raw retention) into memory.
    private func loadIndex() throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, labels FROM series")
            while let row = try rows.next() {
                index.add(id: row[0], labels: try LabelsJSON.decode(row[1]))
            }
            // The head is a few hours of data: one pass in minute order finds each series' rows
            // of its newest minute, which hold its newest sample.
            var newestRows: [Int64: (slot: Int64, data: [Data])] = [:]
            let headRows = try Row.fetchCursor(db, sql: "SELECT slot, series_id, data FROM head ORDER BY slot")
            while let row = try headRows.next() {
                let slot: Int64 = row[0], id: Int64 = row[1], data: Data = row[2]
                if newestRows[id]?.slot == slot {
                    newestRows[id]!.data.append(data)
                } else {
                    newestRows[id] = (slot, [data])
                }
            }
            var latest: [Int64: Sample] = [:]
            for (id, rows) in newestRows {
                latest[id] = try rows.data.flatMap { try XORChunk.decode([UInt8]($0)) }.max { $0.timestamp < $1.timestamp }
            }
            // A series whose head is empty or only holds late samples ends in a chunk.
            let newestChunk = try db.makeStatement(sql: "SELECT last_ts, data FROM chunks WHERE series_id = ? ORDER BY window_start DESC LIMIT 1")
            for id in index.allIDs {
                if let row = try Row.fetchOne(newestChunk, arguments: [id]), row[0] as Int64 > latest[id]?.timestamp ?? .min {
                    latest[id] = try XORChunk.decode([UInt8](row[1] as Data)).last
                }
            }
            index.noteLatest(latest)
            let newestWindow = try Int64.fetchOne(db, sql: "SELECT max(window_start) FROM chunks")
            compaction.withLock { state in
                state.compactedBefore = newestWindow.map { $0 + Schema.chunkWindow } ?? .min
                state.lateSamples = true  // the first round also picks up late samples left in the head
            }
        }
        logger.info("database open", metadata: ["path": "\(configuration.databasePath)", "series": "\(index.count)"])
    }

    /// Number of distinct series stored.
    public var seriesCount: Int { index.count }

    /// Size on disk of the database, its WAL and shared-memory file.
    public var databaseBytes: Int64 {
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
