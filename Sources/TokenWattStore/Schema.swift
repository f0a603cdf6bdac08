import GRDB

/// The database schema and its migrations.
///
/// Layout (SQLite, WAL mode, one writer):
///
/// - `series`: one row per distinct label set, interned once. `labels` is the canonical JSON
///   object of the sorted labels (including `__name__`), unique; `name` is the metric name,
///   indexed for lookups by name. The whole table is also held in memory (`SeriesIndex`), so the
///   ingest path never reads it.
/// - `samples`: raw samples, `WITHOUT ROWID` with primary key `(series_id, ts)`. The key is the
///   sample's identity: a retried or backfilled sample is ignored (`INSERT OR IGNORE`, the first
///   value wins) and out-of-order samples land where they belong. `ts` is milliseconds since the
///   epoch. `value` is REAL; SQLite cannot store NaN as REAL, so a NaN is stored as the TEXT
///   'NaN' and Prometheus's stale marker as NULL. This is the head: fresh samples, cheap to
///   insert and to find one by one.
/// - `chunks` (v2): older raw samples, compressed. Once the newest sample is `chunkGrace` past
///   the end of a `chunkWindow` (2 hours, aligned to the epoch, as Prometheus's blocks), the
///   head's samples of that window are folded into one XOR-compressed blob per series and window
///   (`XORChunk`, about 1–2 bytes per sample instead of ~40 as a row) and deleted from the head
///   in the same transaction. A late sample for a compacted window lands in the head and is
///   merged into the window's chunk next round; a sample already in a chunk is a duplicate and is
///   not stored again, so head and chunks never hold the same (series, ts). `first_ts`/`last_ts`
///   bound the samples inside. A rowid table with a unique index, since blobs of a kilobyte and
///   more do not suit a `WITHOUT ROWID` B-tree. Raw retention drops whole windows.
/// - `rollups_1m`, `rollups_1h`: per series and bucket (the bucket's start, in ms): min, max, sum,
///   count and last of the finite values in the bucket, and for cumulative series (counters,
///   histogram and summary parts) the increase, counting a drop as a reset. The increase of a
///   bucket includes the step from the last sample before it, so the increases of consecutive
///   buckets add up to the increase over their whole span.
/// - `rollup_pending`: the (resolution, bucket, series) triples that gained samples since they
///   were last rolled up; the writer adds them in the same transaction as the samples, so a
///   crash never loses one, and late samples roll their bucket up again.
enum Schema {
    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000
    /// Width of a chunk's window of sample time.
    static let chunkWindow: Int64 = 2 * hour
    /// How far the newest sample must be past a window's end before the window is compacted;
    /// like Prometheus, whose head spans 1.5 block ranges before it cuts a block.
    static let chunkGrace: Int64 = hour

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Append-only: a migration that has shipped is never changed.
        migrator.registerMigration("v1: series, samples, rollups") { db in
            try db.execute(sql: """
                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    labels TEXT NOT NULL UNIQUE
                );
                CREATE INDEX series_by_name ON series(name);
                CREATE TABLE samples (
                    series_id INTEGER NOT NULL,
                    ts INTEGER NOT NULL,
                    value REAL,
                    PRIMARY KEY (series_id, ts)
                ) WITHOUT ROWID;
                CREATE TABLE rollups_1m (
                    series_id INTEGER NOT NULL,
                    bucket INTEGER NOT NULL,
                    min REAL, max REAL, sum REAL, count INTEGER NOT NULL, last REAL, increase REAL,
                    PRIMARY KEY (series_id, bucket)
                ) WITHOUT ROWID;
                CREATE TABLE rollups_1h (
                    series_id INTEGER NOT NULL,
                    bucket INTEGER NOT NULL,
                    min REAL, max REAL, sum REAL, count INTEGER NOT NULL, last REAL, increase REAL,
                    PRIMARY KEY (series_id, bucket)
                ) WITHOUT ROWID;
                CREATE TABLE rollup_pending (
                    resolution INTEGER NOT NULL,
                    bucket INTEGER NOT NULL,
                    series_id INTEGER NOT NULL,
                    PRIMARY KEY (resolution, bucket, series_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: compressed chunks of raw samples") { db in
            try db.execute(sql: """
                CREATE TABLE chunks (
                    series_id INTEGER NOT NULL,
                    window_start INTEGER NOT NULL,
                    first_ts INTEGER NOT NULL,
                    last_ts INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                CREATE UNIQUE INDEX chunks_by_series ON chunks(series_id, window_start);
                """)
        }
        return migrator
    }
}
