import Foundation
import GRDB
import TokenWattCore

/// One row of the forwarding log: series as a serialised `WriteRequest` (before snappy).
struct ForwardRow {
    let samples: Int
    let body: [UInt8]

    init(_ series: [TimeSeries]) {
        samples = series.reduce(0) { $0 + $1.samples.count }
        body = RemoteWriteCodec.serialize(series)
    }

    func insert(db: Database) throws {
        try db.execute(sql: "INSERT INTO forward_log (created_ms, samples, body) VALUES (?, ?, ?)",
                       arguments: [TimeBounds.nowMilliseconds(), samples, Data(body)])
    }
}

/// What the remote-write forwarder sends on: every accepted push (written in the push's own
/// commit, `SampleStore.commit`) and the figured cost series, as serialised `WriteRequest`s in
/// order, with each target's cursor; a row goes once every target has passed it.
public protocol ForwardLog: Sendable {
    /// Adds series to the log only (the cost and budget series, which are figured, not stored
    /// as samples).
    func append(_ series: [TimeSeries]) async throws(StoreError)
    /// Rows after `id`, oldest first, up to about `maxBytes` (at least one).
    func batches(after id: Int64, maxBytes: Int) async throws(StoreError) -> [RemoteWriteBatch]
    /// A target's last forwarded row; 0 before its first.
    func cursor(target: String) async throws(StoreError) -> Int64
    /// Moves a target's cursor, and deletes the rows every target in `targets` has passed.
    func advanceCursor(target: String, to id: Int64, targets: [String]) async throws(StoreError)
    /// Rows and samples waiting after `id`, and when the oldest of them was written.
    func backlog(after id: Int64) async throws(StoreError) -> (rows: Int, samples: Int, oldestMs: Int64?)
}

/// The log in the `forward_log` and `forward_cursor` tables.
public final class SQLiteForwardLog: ForwardLog {
    private let database: StoreDatabase

    public init(database: StoreDatabase) {
        self.database = database
    }

    public func append(_ series: [TimeSeries]) async throws(StoreError) {
        guard !series.isEmpty else { return }
        let row = ForwardRow(series)
        try await database.write("append to the forwarding log") { db in try row.insert(db: db) }
    }

    public func batches(after id: Int64, maxBytes: Int) async throws(StoreError) -> [RemoteWriteBatch] {
        try await database.read("read the forwarding log") { db in
            var batches: [RemoteWriteBatch] = []
            var bytes = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT id, created_ms, samples, body FROM forward_log WHERE id > ? ORDER BY id", arguments: [id])
            while let row = try rows.next() {
                let body = [UInt8](row[3] as Data)
                if !batches.isEmpty && bytes + body.count > maxBytes { break }
                batches.append(RemoteWriteBatch(id: row[0], createdMs: row[1], samples: row[2], body: body))
                bytes += body.count
            }
            return batches
        }
    }

    public func cursor(target: String) async throws(StoreError) -> Int64 {
        try await database.read("read the forwarding cursor") { db in try Int64.fetchOne(db, sql: "SELECT last_id FROM forward_cursor WHERE target = ?", arguments: [target]) ?? 0 }
    }

    public func advanceCursor(target: String, to id: Int64, targets: [String]) async throws(StoreError) {
        try await database.write("move the forwarding cursor") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO forward_cursor (target, last_id) VALUES (?, ?)", arguments: [target, id])
            let cursors = try targets.map { try Int64.fetchOne(db, sql: "SELECT last_id FROM forward_cursor WHERE target = ?", arguments: [$0]) ?? 0 }
            if let passed = cursors.min(), passed > 0 { try db.execute(sql: "DELETE FROM forward_log WHERE id <= ?", arguments: [passed]) }
        }
    }

    public func backlog(after id: Int64) async throws(StoreError) -> (rows: Int, samples: Int, oldestMs: Int64?) {
        try await database.read("read the forwarding backlog") { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(samples), 0), min(created_ms) FROM forward_log WHERE id > ?", arguments: [id])
            return (row?[0] ?? 0, row?[1] ?? 0, row?[2])
        }
    }
}
