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
                    let new = try newSamples(candidates, seriesID: id, latest: index.latest(of: id), alsoStored: [], db: db)
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
}
