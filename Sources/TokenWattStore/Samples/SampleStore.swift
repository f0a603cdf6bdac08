import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization
import TokenWattConfiguration
import TokenWattCore

/// Samples: the series index, the in-memory head and its write-ahead log, the chunks and
/// rollups on disk, read as one (`SampleReading`) and written by group commits
/// (`SampleAppending`, through the `SampleWriter`); and the maintenance that flushes the head,
/// rolls up and enforces retention. Its tables live in the `StoreDatabase` it is given.
public final class SampleStore: SampleAppending, SampleReading {
    public let configuration: StorageConfiguration
    let database: StoreDatabase
    var pool: DatabasePool { database.pool }
    let index = SeriesIndex()
    let head = Head()
    /// The newest log row whose samples are in the head.
    let appliedWAL = Atomic<Int64>(0)
    /// Bytes of log rows written since the head's last checkpoint, and that checkpoint's own
    /// bytes and generation (see `checkpointHead`).
    let logBytesSinceCheckpoint = Atomic<Int>(0)
    let checkpointBytes = Atomic<Int>(0)
    let checkpointGeneration = Atomic<Int64>(0)
    let compactedSampleCount = Atomic<Int>(0)
    let logger: Logger

    /// Loads the series and replays the log into the head (see `loadIndex`).
    public init(database: StoreDatabase) throws(StoreError) {
        configuration = database.configuration
        self.database = database
        logger = database.logger
        do {
            try loadIndex()
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("cannot load the samples of \(configuration.databasePath): \(error)")
        }
    }

    /// Loads every series and the latest sample of each into memory, moves what an earlier
    /// version left in its `head` table into chunks, then replays the head's checkpoint and the
    /// log after it into the head.
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
                SELECT chunks.data, chunks.format, chunks.series_id, chunks.window_start FROM chunks
                JOIN (SELECT series_id, max(window_start) AS newest FROM chunks GROUP BY series_id) AS last
                  ON chunks.series_id = last.series_id AND chunks.window_start = last.newest
                """)
            while let row = try newestChunks.next() {
                latest[row[2]] = try SampleStore.samples(ofChunk: row).last
            }
            index.noteLatest(latest.map { ($0.key, $0.value) })
            if let newestWindow = try Int64.fetchOne(db, sql: "SELECT max(window_start) FROM chunks") {
                head.noteFlushed(before: newestWindow + Schema.chunkWindow)
            }
        }
        try foldLegacyRollups()
        let loaded = clock.now
        let checkpoint = try replayCheckpoint()
        let replayed = try replayLog(after: checkpoint.walID)
        logger.info("database open", metadata: [
            "path": "\(configuration.databasePath)", "series": "\(index.count)",
            "checkpoint_windows": "\(checkpoint.windows)", "log_rows_replayed": "\(replayed.rows)",
            "head_samples": "\(checkpoint.samples + replayed.samples)",
            "series_seconds": "\(began.duration(to: loaded).seconds)", "replay_seconds": "\(loaded.duration(to: clock.now).seconds)",
        ])
    }

    /// Adds the samples of every log row after `walID` to the head, each once.
    private func replayLog(after walID: Int64) throws -> (rows: Int, samples: Int) {
        var rows = 0
        var samples = 0
        var bytes = 0
        try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, body FROM wal WHERE id > ? ORDER BY id", arguments: [walID])
            while let row = try cursor.next() {
                let body = [UInt8](row[1] as Data)
                samples += try replay(try WALRecord(decoding: body), walID: row[0], db: db)
                bytes += body.count
                rows += 1
            }
        }
        logBytesSinceCheckpoint.store(bytes, ordering: .relaxed)
        return (rows, samples)
    }

    /// Adds a record's samples to the head, each once: a log row or a checkpoint may hold
    /// samples a flush already wrote to chunks. Returns how many it added.
    func replay(_ stored: WALRecord, walID: Int64?, db: Database) throws -> Int {
        var record = WALRecord(series: [])
        var written: [Head.Dirty] = []
        var samples = 0
        for entry in stored.series where index.labels(of: entry.id) != nil {
            let id = entry.id, candidates = entry.samples
            let new = try newSamples(candidates, seriesID: id, latest: index.latest(of: id), alsoStored: [], db: db)
            if !new.isEmpty { record.series.append(WALRecord.Entry(id: id, samples: new)) }
            samples += new.count
            // Samples a flush had written: the crash may have come before their rollups.
            if new.count < candidates.count, let first = candidates.first, let last = candidates.last {
                written.append(Head.Dirty(seriesID: id, from: first.timestamp, to: last.timestamp))
            }
        }
        apply(record, walID: walID)
        head.markDirty(written)
        return samples
    }

    /// Number of distinct series stored.
    public var seriesCount: Int { index.count }

    /// The head: series with samples there, its samples, and the memory they take.
    public var headSeries: Int { head.seriesCount }
    public var headSamples: Int { head.sampleCount }
    public var headBytes: Int { head.bytes }
}
