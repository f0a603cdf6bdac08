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
    let head = Head()
    /// The newest log row whose samples are in the head.
    let appliedWAL = Atomic<Int64>(0)
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
                // Commits append log rows and, for new series, insert into the labels index;
                // flushes write chunks in series order. 16 MiB holds the pages they come back to
                // (64 MiB, when every push wrote a row per series, cost 64 bytes per series at 1M).
                try db.execute(sql: "PRAGMA cache_size = -16384")
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

    /// Loads every series and the latest sample of each into memory, moves what an earlier
    /// version left in its `head` table into chunks, then replays the log into the head.
    private func loadIndex() throws {
        let clock = ContinuousClock()
        let began = clock.now
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, labels FROM series")
            while let row = try rows.next() {
                index.add(id: row[0], labels: try LabelsJSON.decode(row[1]))
            }
        }
        try foldLegacyHead()
        try pool.read { db in
            // Each series' newest chunk, in one walk of the chunks' index.
            var latest: [Int64: Sample] = [:]
            let newestChunks = try Row.fetchCursor(db, sql: """
                SELECT chunks.data, chunks.format, chunks.series_id FROM chunks
                JOIN (SELECT series_id, max(window_start) AS newest FROM chunks GROUP BY series_id) AS last
                  ON chunks.series_id = last.series_id AND chunks.window_start = last.newest
                """)
            while let row = try newestChunks.next() {
                latest[row[2]] = try SampleStore.samples(ofChunk: row).last
            }
            index.noteLatest(latest)
            if let newestWindow = try Int64.fetchOne(db, sql: "SELECT max(window_start) FROM chunks") {
                head.noteFlushed(before: newestWindow + Schema.chunkWindow)
            }
        }
        try foldLegacyRollups()
        let loaded = clock.now
        let replayed = try replayLog()
        logger.info("database open", metadata: [
            "path": "\(configuration.databasePath)", "series": "\(index.count)",
            "log_rows_replayed": "\(replayed.rows)", "head_samples": "\(replayed.samples)",
            "series_seconds": "\(began.duration(to: loaded).seconds)", "replay_seconds": "\(loaded.duration(to: clock.now).seconds)",
        ])
    }

    /// Adds the samples of every log row to the head, each once: a row may hold samples a flush
    /// already wrote to chunks.
    private func replayLog() throws -> (rows: Int, samples: Int) {
        var rows = 0
        var samples = 0
        try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, body FROM wal ORDER BY id")
            while let row = try cursor.next() {
                let stored = try WALRecord(decoding: [UInt8](row[1] as Data))
                var record = WALRecord(series: [])
                var written: [Head.Dirty] = []
                for entry in stored.series where index.labels(of: entry.id) != nil {
                    let id = entry.id, candidates = entry.samples
                    let new = try newSamples(candidates, seriesID: id, alsoStored: [], db: db)
                    if !new.isEmpty { record.series.append(WALRecord.Entry(id: id, samples: new)) }
                    samples += new.count
                    // Samples a flush had written: the crash may have come before their rollups.
                    if new.count < candidates.count, let first = candidates.first, let last = candidates.last {
                        written.append(Head.Dirty(seriesID: id, from: first.timestamp, to: last.timestamp))
                    }
                }
                apply(record, walID: row[0])
                head.markDirty(written)
                rows += 1
            }
        }
        return (rows, samples)
    }

    /// Number of distinct series stored.
    public var seriesCount: Int { index.count }

    /// The head: series with samples there, its samples, and the memory they take.
    public var headSeries: Int { head.seriesCount }
    public var headSamples: Int { head.sampleCount }
    public var headBytes: Int { head.bytes }

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
