import GRDB
import TokenWattCore

/// The database schema and its migrations.
///
/// The layout follows Prometheus's TSDB: fresh samples live in an in-memory head (`Head`) and
/// in a write-ahead log here; whole 2-hour windows go to compressed chunks. SQLite stays the one
/// file an operator backs up, ledger and alert state included.
///
/// Owners: `StoreDatabase` opens the file and runs these migrations; each group of tables below
/// belongs to one store, which alone reads and writes it: `series`, `wal`, `head_*`, `chunks`,
/// `rollups_1m_chunks`, `rollups_1h` to `SampleStore`; `ledger_*` to the `LedgerStore` (the
/// sample store tells it which hours changed); `budget_state` to the `BudgetStateStore`;
/// `reservation*` to the `ReservationStore`; `outbox` and `receiver_state` to the
/// `OutboxStore`; `forward_*` to the `ForwardLog`. Two writes cross a boundary, each in one
/// transaction so neither half is lost: a budget's state and its outbox messages, and a push's
/// samples and its forwarding row.
///
/// Layout (SQLite, WAL mode, one writer):
///
/// - `series`: one row per distinct label set, interned once. `labels` is the canonical JSON
///   object of the sorted labels (including `__name__`), unique; `name` is the metric name (its
///   index went in v18: nothing looks series up by name in the table). The whole table is also
///   held in memory (`SeriesIndex`), so the ingest path never reads it.
/// - `wal` (v9): the write-ahead log of the head. A group commit writes one row: its new samples
///   per series (`WALRecord`: series id and an XOR chunk each), `max_ts` their newest timestamp;
///   the series rows it introduces are written in the same transaction. One row per commit
///   instead of a row per series (v2–v8 wrote a `head` row and a `rollup_pending` row per series
///   and push) is what lets ingest run ahead of Prometheus's. On start the rows are replayed into
///   the head; a sample already in a chunk (a flush wrote it before the crash) is skipped. A
///   flush deletes the rows whose samples all lie in the windows it wrote.
///   A sample is identified by series and timestamp: the writer logs only samples not stored yet
///   (the first value wins) — a push newer than the series' latest sample needs no lookup, an
///   older one (retry, backfill, out of order) is checked against the head, the chunks of
///   flushed windows, and the group before it (whose samples may still be on their way into the
///   head). Values are raw bits: NaN and Prometheus's stale marker come back exactly.
/// - `head_chunks`, `head_checkpoint` (v17): a checkpoint of the head, as Prometheus checkpoints
///   its log: every head window framed as a chunk, under a `generation`, and the log row it holds
///   everything up to (`wal_id`). Written a batch at a time under the next generation, then made
///   the checkpoint in one transaction that also deletes the log rows up to `wal_id`; older
///   generations go afterwards. On start the checkpoint's windows are replayed into the head
///   first, then the log rows after it, each sample once. Written when the log has grown past
///   the last checkpoint's size (and 16 MB, and 64 bytes a head series), after a flush, and on
///   a clean stop, so the open window's
///   samples lie packed on disk instead of in log rows of a few samples each. Since v17 the
///   log's ids are `AUTOINCREMENT`: a row written after a checkpoint emptied the log must not
///   take an id at or below the checkpoint's.
/// - `chunks` (v2): raw samples of flushed windows, one row per series and 2-hour window of
///   sample time (`chunkWindow`, aligned to the epoch, as Prometheus's blocks). Once the newest
///   sample is `chunkGrace` past a window's end, the head writes the window in the shorter of
///   two encodings (`StoredChunk.frame(samples:)`: packed decimals, else its in-memory Gorilla
///   chunk as it is, when every sample came in order); late samples of a flushed window wait in
///   the head and are merged into its chunk at the next flush. Larger blobs (1–2 bytes a
///   sample) do not suit a `WITHOUT ROWID` B-tree, so this is a rowid table with a unique index.
///   Raw retention drops whole windows.
/// - `rollups_1m_chunks` (v10): per series and window, its 1-minute buckets (`RollupChunk`:
///   min, max, sum, count, last and, for cumulative series, increase, each a Gorilla column).
///   Since v17 written only for windows whose raw chunks retention deletes, in the same
///   transaction (the migration deletes those of windows that still have raw chunks): while the
///   raw samples are kept, minute buckets are computed from them when read, as storing them
///   took as many bytes again as the raw chunks at 10 s spacing. `rollups_1h`: per series and
///   hour, a row (a 60th as many), written by the flush in the transactions after the window's
///   chunks. A bucket holds `(start, start +
///   width]` (`TimeBucket`); the increase of cumulative series (counters, histogram and summary
///   parts) counts a drop as a reset and includes the step from the last sample before the
///   bucket, so the increases of consecutive buckets add up to the increase over their span.
///   Hour buckets of windows still in the head are computed from its samples when read.
/// - `samples` (v1), `head`, `rollups_1m`, `rollup_pending` (v2–v8): where earlier versions kept
///   a row per sample, fresh samples, a row per series and minute of rollups, and rollups still
///   to do. On open their rows are moved into chunks and rollup chunks (`SampleStore+Legacy`);
///   nothing writes them any more.
/// - `format` of `chunks` and `rollups_1m_chunks` (v11): 1 for rows framed with an encoding
///   byte and a CRC32C (`StoredChunk`), 0 for the bare encoding rows written before. Framed raw
///   chunks are `xor` (Gorilla) or, since v17, `packed` (`PackedChunk`); both are read.
/// - `ledger_nodes`, `ledger_usage` (v3): the cost ledger, kept forever. Per hour and node: the
///   measured energy and its source, and the energy, capex and overhead money; per hour, node and
///   token stream (source, provider, model and the stream's other labels such as `team`, as
///   JSON): tokens by type, requests, the money they cost (a share of the node's cost, or the
///   cloud's price) and what they would have cost on a cloud API. An hour is rewritten whole.
/// - `ledger_pending` (v3): hours whose samples changed after their ledger was written (late or
///   backfilled data); the head marks the hours its appends touch, maintenance writes those
///   closed for twice the rollup delay here, and the cost engine rewrites them.
/// - `ledger_usage.priced` (v6): 0 for a stream no price applies to (a cloud model without a
///   price, a local model without a shadow price): its money is unknown, not zero.
/// - `operational_gco2e`, `embodied_gco2e` of `ledger_nodes` and `gco2e` of `ledger_usage`
///   (v12): grams of CO2e per node hour and a local stream's share of them; hours written before
///   v12, or without `carbon:` in the config, hold 0 (their samples may be gone, so they are not
///   rewritten).
/// - `ledger_day_nodes`, `ledger_day_usage` (v13): the ledger summed by UTC day, kept with every
///   hour's rewrite (`LedgerDays`); node rows apart by energy source with their idle part,
///   usage rows apart by `priced`.
/// - `gpu_share_cost` of `ledger_usage` and `ledger_day_usage` (v14): the part of a local
///   stream's `cost` that is the energy its inference servers drew on GPUs shared with others
///   (`HourCosts`), the rest being its share by tokens of what the node cost otherwise; 0 for
///   hours written before v14.
/// - `ledger_counters` (v6): the cost counters as `/metrics` last published them (series key →
///   value) where they are held above the ledger's totals, saved before they are shown, so a counter
///   never falls, not even across a restart, when a late sample lowers the ledger's total.
/// - `reservations` (v7): what requests through the metering gateway hold against each hard
///   cap (a budget with `action: block`) in a period: their worst case while `pending`, their
///   actual amount once `settled`, their worst case again once `expired` (never settled within
///   the TTL). Each grant is one write transaction that checks what the cap's period holds, so
///   concurrent requests cannot pass the check together. Since v8 the table keeps only pending
///   reservations; `reservation_totals` holds each cap period's count and amount by state
///   (moved in the same transactions), so a grant reads a few rows however many requests the
///   period has seen, and `reservation_counts` the number of reservations by state (one
///   reservation may hold several caps) for `/metrics`.
/// - `leases` (v15): slices of hard caps a gateway admits requests from on its own: the slice's
///   `amount` counts against its cap period (state `leased` in `reservation_totals`) while it
///   is open; the gateway's last report (`settled`, `held` in flight, the `headroom` it may
///   admit before its next report) says what it is charged when it is returned (`settled`,
///   state `lease_returned`) or expires (`lease_expired`: settled + held + headroom, or the
///   whole amount when no report reached this run of the aggregator). Closed slices keep their
///   row a day, so a late report of one is answered `closed`, never granted again.
/// - `cap_sessions` (v16): each session of a cap held per session (its slices and totals go
///   under the key budget + U+001E + session), when it was first and last reported; a session
///   idle past its cap's `keep` goes, with its totals and closed slices.
/// - `budget_state` (v4): per budget, the period it is in and which of its alerts fired in it
///   (JSON), so a restart neither fires them again nor forgets them.
/// - `outbox` (v4): every alert event for every receiver, written in the same transaction as
///   the budget state that caused it, before any delivery attempt; the delivery worker updates
///   its attempts, next attempt, outcome and last error. `receiver_state`: receivers disabled
///   by a 410 answer.
/// - `forward_log` (v5): when remote-write forwarding is on, every stored batch (a serialised
///   `WriteRequest`, before snappy) in the same transaction as its samples, and the cost and
///   budget series; `forward_cursor` holds each target's last forwarded row. Rows every target
///   has passed are deleted.
enum Schema {
    /// Width of a chunk's window of sample time.
    static let chunkWindow: Int64 = 2 * Milliseconds.hour
    /// How far the newest sample must be past a window's end before the window is compacted;
    /// like Prometheus, whose head spans 1.5 block ranges before it cuts a block.
    static let chunkGrace: Int64 = Milliseconds.hour

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
        migrator.registerMigration("v2: head rows and compressed chunks instead of a row per sample") { db in
            try db.execute(sql: """
                CREATE TABLE head (
                    slot INTEGER NOT NULL,
                    series_id INTEGER NOT NULL,
                    first_ts INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (slot, series_id, first_ts)
                ) WITHOUT ROWID;
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
            // v1's rows stay in `samples` until the store opens and moves them into chunks
            // (`foldLegacySamples`): a migration that calls no chunk encoder cannot change when
            // the chunk format does. (Until v11 this migration wrote them as head rows itself.)
        }
        migrator.registerMigration("v3: cost ledger") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_nodes (
                    hour INTEGER NOT NULL,
                    node TEXT NOT NULL,
                    energy_source TEXT NOT NULL,
                    joules REAL NOT NULL,
                    energy_cost REAL NOT NULL,
                    capex_cost REAL NOT NULL,
                    overhead_cost REAL NOT NULL,
                    PRIMARY KEY (hour, node)
                ) WITHOUT ROWID;
                CREATE TABLE ledger_usage (
                    hour INTEGER NOT NULL,
                    node TEXT NOT NULL,
                    source TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    labels TEXT NOT NULL,
                    input REAL NOT NULL,
                    cached_input REAL NOT NULL,
                    output REAL NOT NULL,
                    reasoning REAL NOT NULL,
                    requests REAL NOT NULL,
                    cost REAL NOT NULL,
                    cloud_equivalent REAL NOT NULL,
                    PRIMARY KEY (hour, node, source, provider, model, labels)
                ) WITHOUT ROWID;
                CREATE TABLE ledger_pending (hour INTEGER PRIMARY KEY);
                """)
        }
        migrator.registerMigration("v4: budget state and the alert outbox") { db in
            try db.execute(sql: """
                CREATE TABLE budget_state (
                    budget TEXT PRIMARY KEY,
                    state TEXT NOT NULL
                );
                CREATE TABLE outbox (
                    event_id TEXT NOT NULL,
                    receiver TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT,
                    finished_ms INTEGER,
                    PRIMARY KEY (event_id, receiver)
                ) WITHOUT ROWID;
                CREATE INDEX outbox_due ON outbox(status, next_attempt_ms);
                CREATE TABLE receiver_state (
                    receiver TEXT PRIMARY KEY,
                    disabled_ms INTEGER NOT NULL,
                    reason TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5: remote-write forwarding log") { db in
            try db.execute(sql: """
                CREATE TABLE forward_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    created_ms INTEGER NOT NULL,
                    samples INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE TABLE forward_cursor (
                    target TEXT PRIMARY KEY,
                    last_id INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v6: published ledger counters, unpriced streams") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_counters (
                    series TEXT PRIMARY KEY,
                    value REAL NOT NULL
                ) WITHOUT ROWID;
                ALTER TABLE ledger_usage ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
                """)
        }
        migrator.registerMigration("v7: reservations against hard caps") { db in
            try db.execute(sql: """
                CREATE TABLE reservations (
                    id TEXT NOT NULL,
                    budget TEXT NOT NULL,
                    period_start INTEGER NOT NULL,
                    amount REAL NOT NULL,
                    state TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    expires_ms INTEGER NOT NULL,
                    PRIMARY KEY (id, budget)
                ) WITHOUT ROWID;
                CREATE INDEX reservations_budget ON reservations(budget, period_start);
                CREATE INDEX reservations_pending ON reservations(state, expires_ms);
                """)
        }
        migrator.registerMigration("v8: running totals of reservations") { db in
            try db.execute(sql: """
                CREATE TABLE reservation_totals (
                    budget TEXT NOT NULL,
                    period_start INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    amount REAL NOT NULL,
                    PRIMARY KEY (budget, period_start, state)
                ) WITHOUT ROWID;
                CREATE TABLE reservation_counts (
                    state TEXT PRIMARY KEY,
                    count INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO reservation_totals SELECT budget, period_start, state, COUNT(*), SUM(amount) FROM reservations GROUP BY 1, 2, 3;
                INSERT INTO reservation_counts SELECT state, COUNT(DISTINCT id) FROM reservations GROUP BY 1;
                DELETE FROM reservations WHERE state <> 'pending';
                DROP INDEX reservations_budget;
                DROP INDEX reservations_pending;
                ALTER TABLE reservations DROP COLUMN state;
                CREATE INDEX reservations_expiry ON reservations(expires_ms);
                """)
        }
        migrator.registerMigration("v9: write-ahead log of the in-memory head") { db in
            try db.execute(sql: """
                CREATE TABLE wal (
                    id INTEGER PRIMARY KEY,
                    max_ts INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v10: 1-minute rollups compressed per series and window") { db in
            try db.execute(sql: """
                CREATE TABLE rollups_1m_chunks (
                    series_id INTEGER NOT NULL,
                    window_start INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                CREATE UNIQUE INDEX rollups_1m_chunks_by_series ON rollups_1m_chunks(series_id, window_start);
                """)
        }
        migrator.registerMigration("v11: framed chunks (encoding byte and checksum)") { db in
            try db.execute(sql: """
                ALTER TABLE chunks ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE rollups_1m_chunks ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v12: emissions in the ledger") { db in
            try db.execute(sql: """
                ALTER TABLE ledger_nodes ADD COLUMN operational_gco2e REAL NOT NULL DEFAULT 0;
                ALTER TABLE ledger_nodes ADD COLUMN embodied_gco2e REAL NOT NULL DEFAULT 0;
                ALTER TABLE ledger_usage ADD COLUMN gco2e REAL NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v13: the ledger summed by day") { db in
            try LedgerDays.create(db)
        }
        migrator.registerMigration("v14: the GPU energy a stream's servers drew on shared GPUs") { db in
            try db.execute(sql: """
                ALTER TABLE ledger_usage ADD COLUMN gpu_share_cost REAL NOT NULL DEFAULT 0;
                ALTER TABLE ledger_day_usage ADD COLUMN gpu_share_cost REAL NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v15: slices of hard caps leased to gateways") { db in
            try db.execute(sql: """
                CREATE TABLE leases (
                    id TEXT PRIMARY KEY,
                    gateway TEXT NOT NULL,
                    budget TEXT NOT NULL,
                    period_start INTEGER NOT NULL,
                    amount REAL NOT NULL,
                    settled REAL NOT NULL,
                    held REAL NOT NULL,
                    headroom REAL NOT NULL,
                    admitted REAL NOT NULL,
                    reported_ms INTEGER NOT NULL,
                    expires_ms INTEGER NOT NULL,
                    closed_ms INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX leases_by_cap ON leases(budget, period_start) WHERE closed_ms IS NULL;
                CREATE INDEX leases_by_expiry ON leases(expires_ms) WHERE closed_ms IS NULL;
                """)
        }
        migrator.registerMigration("v16: the sessions of caps held per session") { db in
            try db.execute(sql: """
                CREATE TABLE cap_sessions (
                    key TEXT PRIMARY KEY,
                    budget TEXT NOT NULL,
                    session TEXT NOT NULL,
                    first_ms INTEGER NOT NULL,
                    last_ms INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX cap_sessions_by_budget ON cap_sessions(budget, last_ms);
                """)
        }
        migrator.registerMigration("v17: checkpoints of the head") { db in
            try db.execute(sql: """
                CREATE TABLE head_chunks (
                    generation INTEGER NOT NULL,
                    series_id INTEGER NOT NULL,
                    window_start INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                CREATE UNIQUE INDEX head_chunks_by_generation ON head_chunks(generation, series_id, window_start);
                CREATE TABLE head_checkpoint (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    generation INTEGER NOT NULL,
                    wal_id INTEGER NOT NULL
                );
                CREATE TABLE wal_numbered (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    max_ts INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                INSERT INTO wal_numbered (id, max_ts, body) SELECT id, max_ts, body FROM wal;
                DROP TABLE wal;
                ALTER TABLE wal_numbered RENAME TO wal;
                DELETE FROM rollups_1m_chunks WHERE EXISTS
                  (SELECT 1 FROM chunks WHERE chunks.series_id = rollups_1m_chunks.series_id AND chunks.window_start = rollups_1m_chunks.window_start);
                """)
        }
        migrator.registerMigration("v18: no index of series by name") { db in
            // Nothing reads series by name from the table: the index in memory serves every lookup.
            try db.execute(sql: "DROP INDEX series_by_name")
        }
        return migrator
    }
}
