import Foundation
import GRDB
import Synchronization
import TokenWattCore

/// A sender's on-disk queue of batches not yet accepted by the aggregator (an `AgentDatabase`):
/// a batch leaves only after a 2xx, so what is in the file survives SIGKILL and reboots; an
/// fsync per collection would cost the sender more CPU than collecting.
///
/// A round that finds the queue empty (`enqueue`) is held in memory while its first push is
/// tried, and written to the file only if that push fails (`persistHeld`) or the sender stops:
/// a round the aggregator takes at once costs no SQLite transaction. What a kill -9 can lose is
/// that one round, in flight.
///
/// Each row holds one collection's samples as a serialised remote-write `WriteRequest`
/// (before snappy); rows concatenate into one request. Bounded by total bytes and by age: what
/// has to go is the oldest, counted in `droppedSamples` and logged by the caller.
public final class Spool: Sendable {
    public struct Depth: Sendable, Equatable {
        public var batches = 0
        public var samples = 0
        public var bytes = 0

        mutating func add(batches: Int, samples: Int, bytes: Int) {
            self.batches += batches
            self.samples += samples
            self.bytes += bytes
        }
    }

    private let queue: DatabaseQueue
    private let maxBytes: Int
    private let maxAgeMs: Int64
    private let dropped = Mutex<[DropReason: Int]>([:])
    private let counted: Mutex<Depth>
    /// The round held in memory (id 0: rows start at 1), nil when none is.
    private let held = Mutex<RemoteWriteBatch?>(nil)
    private static let heldID: Int64 = 0

    /// Why samples left the spool without being accepted.
    public enum DropReason: String, CaseIterable, Sendable {
        /// Past the spool's size bound (the oldest go first).
        case size
        /// Older than the spool's age bound.
        case age
        /// The aggregator refused this batch alone (400, 413): it can never be accepted.
        case rejected
        /// The batch could not be written to the spool (the disk is full, or failing).
        case writeFailed = "write_failed"
    }

    public init(path: String, maxBytes: Int, maxAgeMs: Int64) throws {
        queue = try AgentDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1: batches") { db in
                try db.execute(sql: """
                    CREATE TABLE batches (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        created_ms INTEGER NOT NULL,
                        samples INTEGER NOT NULL,
                        body BLOB NOT NULL
                    )
                    """)
            }
        }
        counted = Mutex(try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(samples), 0), coalesce(sum(length(body)), 0) FROM batches")
                .map { Depth(batches: $0[0], samples: $0[1], bytes: $0[2]) } ?? Depth()
        })
        self.maxBytes = maxBytes
        self.maxAgeMs = maxAgeMs
    }

    /// Counts samples of a round that could not be written (the caller logs why).
    public func countUnwritten(samples: Int) {
        dropped.withLock { $0[.writeFailed, default: 0] += samples }
    }

    /// Samples dropped since start, by reason.
    public var droppedSamples: [DropReason: Int] { dropped.withLock { $0 } }

    /// Queues a round: held in memory when nothing else waits, else written to the file
    /// (`append`). Returns the samples the file's bounds dropped, by reason.
    @discardableResult
    public func enqueue(body: [UInt8], samples: Int, now: Int64) throws -> [DropReason: Int] {
        let batch = RemoteWriteBatch(id: Spool.heldID, createdMs: now, samples: samples, body: body)
        let isHeld = held.withLock { held in
            guard held == nil, depth.batches == 0 else { return false }
            held = batch
            return true
        }
        guard isHeld else { return try append(body: body, samples: samples, now: now) }
        counted.withLock { $0.add(batches: 1, samples: samples, bytes: body.count) }
        return [:]
    }

    /// Writes the round held in memory to the file: its push failed, or the sender stops.
    public func persistHeld() throws {
        guard let batch = held.withLock({ held in
            defer { held = nil }
            return held
        }) else { return }
        counted.withLock { $0.add(batches: -1, samples: -batch.samples, bytes: -batch.body.count) }
        try append(body: batch.body, samples: batch.samples, now: batch.createdMs)
    }

    /// Stores a batch in the file, then drops what is past the bounds; returns the samples
    /// dropped, by reason.
    @discardableResult
    public func append(body: [UInt8], samples: Int, now: Int64) throws -> [DropReason: Int] {
        let (droppedNow, change) = try queue.write { db -> ([DropReason: Int], Depth) in
            try db.cachedStatement(sql: "INSERT INTO batches (created_ms, samples, body) VALUES (?, ?, ?)")
                .execute(arguments: [now, samples, Data(body)])
            let newest = db.lastInsertedRowID
            var change = Depth(batches: 1, samples: samples, bytes: body.count)
            let bytesBefore = depth.bytes
            var droppedNow: [DropReason: Int] = [:]
            // Rows are in time order: the oldest goes first, for age and for size, never the new one.
            let oldest = try Row.fetchCursor(db.cachedStatement(sql: "SELECT id, created_ms, samples, length(body) FROM batches ORDER BY id"))
            var doomed: [Int64] = []
            while let row = try oldest.next() {
                let id: Int64 = row[0], createdMs: Int64 = row[1]
                let reason: DropReason
                if createdMs < now - maxAgeMs {
                    reason = .age
                } else if bytesBefore + change.bytes > maxBytes && id != newest {
                    reason = .size
                } else {
                    break
                }
                doomed.append(id)
                droppedNow[reason, default: 0] += row[2] as Int
                change.add(batches: -1, samples: -(row[2] as Int), bytes: -(row[3] as Int))
            }
            let delete = try db.cachedStatement(sql: "DELETE FROM batches WHERE id = ?")
            for id in doomed { try delete.execute(arguments: [id]) }
            return (droppedNow, change)
        }
        counted.withLock { $0.add(batches: change.batches, samples: change.samples, bytes: change.bytes) }
        dropped.withLock { $0.merge(droppedNow, uniquingKeysWith: +) }
        return droppedNow
    }

    /// The batches of the next push, up to `maxBytes` together (at least one): the newest one
    /// (fresh samples keep flowing during a backlog), then the oldest (the backlog drains
    /// oldest first). A round held in memory goes alone.
    public func nextBatches(maxBytes: Int) throws -> [RemoteWriteBatch] {
        if let batch = held.withLock({ $0 }) { return [batch] }
        return try queue.read { db in
            func batch(_ row: Row) -> RemoteWriteBatch {
                RemoteWriteBatch(id: row["id"], createdMs: row["created_ms"], samples: row["samples"], body: [UInt8](row["body"] as Data))
            }
            guard let newest = try Row.fetchOne(db, sql: "SELECT * FROM batches ORDER BY id DESC LIMIT 1").map(batch) else { return [] }
            var batches = [newest]
            var bytes = newest.body.count
            let oldest = try Row.fetchCursor(db, sql: "SELECT * FROM batches WHERE id < ? ORDER BY id", arguments: [newest.id])
            while let row = try oldest.next() {
                let next = batch(row)
                guard bytes + next.body.count <= maxBytes else { break }
                batches.append(next)
                bytes += next.body.count
            }
            return batches
        }
    }

    /// Removes batches the aggregator accepted, or (with a reason) dropped ones, counted.
    public func remove(_ batches: [RemoteWriteBatch], dropped reason: DropReason? = nil) throws {
        let rows = batches.filter { $0.id != Spool.heldID }
        if rows.count < batches.count { held.withLock { $0 = nil } }
        if !rows.isEmpty {
            try queue.write { db in
                let delete = try db.cachedStatement(sql: "DELETE FROM batches WHERE id = ?")
                for batch in rows { try delete.execute(arguments: [batch.id]) }
            }
        }
        counted.withLock { depth in
            for batch in batches { depth.add(batches: -1, samples: -batch.samples, bytes: -batch.body.count) }
        }
        if let reason { dropped.withLock { $0[reason, default: 0] += batches.reduce(0) { $0 + $1.samples } } }
    }

    /// What the spool holds, the round held in memory included; kept in memory, read from the
    /// file once at start.
    public var depth: Depth { counted.withLock { $0 } }
}
