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
                // Takes effect only on a new file, before WAL mode and the first table: compaction
                // can then hand the head's freed pages back (`PRAGMA incremental_vacuum`).
                if !db.configuration.readonly { try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
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
            var latest: [Int64: Sample] = [:]
            // One seek per series: the primary key (series_id, ts) finds each newest sample.
            let statement = try db.makeStatement(sql: "SELECT ts, value FROM samples WHERE series_id = ? ORDER BY ts DESC LIMIT 1")
            let newestChunk = try db.makeStatement(sql: "SELECT last_ts FROM chunks WHERE series_id = ? ORDER BY window_start DESC LIMIT 1")
            for id in index.allIDs {
                let head = try Row.fetchOne(statement, arguments: [id]).map { Sample(timestamp: $0[0], value: SampleValue.decode($0[1])) }
                // A series whose head is empty or only holds late samples ends in a chunk.
                if let chunkEnd = try Int64.fetchOne(newestChunk, arguments: [id]), chunkEnd > head?.timestamp ?? .min {
                    latest[id] = try lastChunkSample(db: db, seriesID: id, before: .max)
                } else {
                    latest[id] = head
                }
            }
            index.noteLatest(latest)
            let newestWindow = try Int64.fetchOne(db, sql: "SELECT max(window_start) FROM chunks")
            compaction.withLock { $0.chunkedBefore = newestWindow.map { $0 + Schema.chunkWindow } ?? .min }
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

/// How a sample value is stored: REAL, the TEXT 'NaN', or NULL for the stale marker.
enum SampleValue {
    static let nanText = "NaN"

    static func decode(_ value: DatabaseValue) -> Double {
        switch value.storage {
        case .null: Sample.staleMarker
        case .double(let double): double
        case .int64(let int): Double(int)
        default: .nan
        }
    }

    static func bind(_ value: Double, to statement: OpaquePointer, at index: Int32) {
        if value.isNaN {
            if value.bitPattern == Sample.staleMarkerBits {
                sqlite3_bind_null(statement, index)
            } else {
                sqlite3_bind_text(statement, index, nanText, -1, SQLITE_TRANSIENT)
            }
        } else {
            sqlite3_bind_double(statement, index, value)
        }
    }
}

/// SQLite's "copy this buffer now" destructor, which Swift cannot import as a macro.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
