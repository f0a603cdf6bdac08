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

extension SampleStore {
    /// Adds series to the forwarding log only (the cost and budget series, which are figured,
    /// not stored as samples).
    public func appendForwardOnly(_ series: [TimeSeries]) async throws(StoreError) {
        guard !series.isEmpty else { return }
        let row = ForwardRow(series)
        do {
            try await pool.write { db in try row.insert(db: db) }
        } catch {
            throw .database("append to the forwarding log: \(error)")
        }
    }

    /// Rows after `id`, oldest first, up to about `maxBytes` (at least one).
    public func forwardBatches(after id: Int64, maxBytes: Int) async throws(StoreError) -> [RemoteWriteBatch] {
        do {
            return try await pool.read { db in
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
        } catch {
            throw .database("read the forwarding log: \(error)")
        }
    }

    /// A target's last forwarded row; 0 before its first.
    public func forwardCursor(target: String) async throws(StoreError) -> Int64 {
        do {
            return try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT last_id FROM forward_cursor WHERE target = ?", arguments: [target]) ?? 0 }
        } catch {
            throw .database("read the forwarding cursor: \(error)")
        }
    }

    /// Moves a target's cursor, and deletes the rows every target in `targets` has passed.
    public func advanceForwardCursor(target: String, to id: Int64, targets: [String]) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO forward_cursor (target, last_id) VALUES (?, ?)", arguments: [target, id])
                let cursors = try targets.map { try Int64.fetchOne(db, sql: "SELECT last_id FROM forward_cursor WHERE target = ?", arguments: [$0]) ?? 0 }
                if let passed = cursors.min(), passed > 0 { try db.execute(sql: "DELETE FROM forward_log WHERE id <= ?", arguments: [passed]) }
            }
        } catch {
            throw .database("move the forwarding cursor: \(error)")
        }
    }

    /// Rows and samples waiting after `id`, and when the oldest of them was written.
    public func forwardBacklog(after id: Int64) async throws(StoreError) -> (rows: Int, samples: Int, oldestMs: Int64?) {
        do {
            return try await pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(samples), 0), min(created_ms) FROM forward_log WHERE id > ?", arguments: [id])
                return (row?[0] ?? 0, row?[1] ?? 0, row?[2])
            }
        } catch {
            throw .database("read the forwarding backlog: \(error)")
        }
    }
}
