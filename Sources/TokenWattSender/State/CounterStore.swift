import Foundation
import GRDB
import TokenWattCore

/// The agent's counters that must outlive it (SQLite next to the spool): token counts taken from
/// usage reports, and the reset-tracking state of inference servers' counters. Without it a
/// restart of the agent would start a usage counter over (tokens reported but not yet pushed
/// lost) or re-base a server's counter after a reset it had already counted (tokens counted
/// twice).
///
/// Each entry belongs to a scope (one collector), is keyed by the raw series it tracks, and
/// names the series it adds to. An `AgentDatabase`, like the spool.
package final class CounterStore: Sendable {
    package struct Entry: Sendable, Equatable {
        /// The exported series this entry adds to.
        package var series: ExpositionSample
        package var counter: MonotonicCounter

        package init(series: ExpositionSample, counter: MonotonicCounter) {
            self.series = series
            self.counter = counter
        }
    }

    private let queue: DatabaseQueue

    package init(path: String) throws {
        queue = try AgentDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1: counters") { db in
                try db.execute(sql: """
                    CREATE TABLE counters (
                        scope TEXT NOT NULL,
                        key TEXT NOT NULL,
                        name TEXT NOT NULL,
                        labels TEXT NOT NULL,   -- JSON array of [name, value] pairs
                        last REAL,
                        total REAL NOT NULL,
                        PRIMARY KEY (scope, key)
                    ) WITHOUT ROWID
                    """)
            }
            migrator.registerMigration("v2: usage report ids") { db in
                try db.execute(sql: "CREATE TABLE report_ids (id TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL) WITHOUT ROWID")
            }
            migrator.registerMigration("v3: report ids by age") { db in
                // Ids older than a day are deleted on every save: without this, a scan of a day's ids.
                try db.execute(sql: "CREATE INDEX report_ids_seen ON report_ids(seen_ms)")
            }
            migrator.registerMigration("v4: OTLP streams") { db in
                try db.execute(sql: """
                    CREATE TABLE otlp_streams (
                        key TEXT PRIMARY KEY,
                        start INTEGER NOT NULL,  -- the stream's start_time_unix_nano, as a signed 64-bit number
                        last REAL NOT NULL
                    ) WITHOUT ROWID
                    """)
            }
        }
    }

    /// How long a report id is remembered.
    static let reportIDLifetimeMs: Int64 = Milliseconds.day

    /// The ids among these that were seen within the last day.
    func seenReportIDs(_ ids: [String]) throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return try queue.read { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM report_ids WHERE id = ?")
            return Set(try ids.filter { try Bool.fetchOne(statement, arguments: [$0]) ?? false })
        }
    }

    /// Every entry of one scope, by key.
    package func load(scope: String) throws -> [String: Entry] {
        try queue.read { db in
            var entries: [String: Entry] = [:]
            let decoder = JSONDecoder()
            for row in try Row.fetchAll(db, sql: "SELECT key, name, labels, last, total FROM counters WHERE scope = ?", arguments: [scope]) {
                let key: String = row[0], text: String = row[2]
                // Labels that do not read back fail the load, naming the row: counting on under
                // no labels would add this series' tokens to another's, and the row stays as it is.
                let pairs: [[String]]
                do {
                    pairs = try decoder.decode([[String]].self, from: Data(text.utf8))
                } catch {
                    throw CounterStoreError.unreadableLabels(scope: scope, key: key, text: text)
                }
                guard pairs.allSatisfy({ $0.count == 2 }) else { throw CounterStoreError.unreadableLabels(scope: scope, key: key, text: text) }
                entries[key] = Entry(series: ExpositionSample(name: row[1], labels: pairs.map { Label($0[0], $0[1]) }, value: 0),
                                        counter: MonotonicCounter(last: row[3], total: row[4]))
            }
            return entries
        }
    }

    /// Where an OTLP stream stood at its last export: its start and its last value (a
    /// cumulative point's, or the running total of deltas relayed as a counter).
    package struct Stream: Sendable, Equatable {
        package var start: UInt64
        package var last: Double

        package init(start: UInt64, last: Double) {
            self.start = start
            self.last = last
        }
    }

    /// Every OTLP stream saved, by key.
    package func loadStreams() throws -> [String: Stream] {
        try queue.read { db in
            var streams: [String: Stream] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, start, last FROM otlp_streams") {
                streams[row[0]] = Stream(start: UInt64(bitPattern: row[1]), last: row[2])
            }
            return streams
        }
    }

    /// Writes the given entries of one scope, the report ids they came from and the OTLP
    /// streams they were read from, in one transaction; ids older than a day are forgotten.
    package func save(scope: String, _ entries: [String: Entry], reportIDs: [String] = [], streams: [String: Stream] = [:],
                      now: Int64 = TimeBounds.nowMilliseconds()) throws {
        guard !entries.isEmpty || !reportIDs.isEmpty || !streams.isEmpty else { return }
        try queue.write { db in
            let stream = try db.cachedStatement(sql: "INSERT OR REPLACE INTO otlp_streams (key, start, last) VALUES (?, ?, ?)")
            for (key, value) in streams { try stream.execute(arguments: [key, Int64(bitPattern: value.start), value.last]) }
            if !reportIDs.isEmpty {
                let remember = try db.cachedStatement(sql: "INSERT OR REPLACE INTO report_ids (id, seen_ms) VALUES (?, ?)")
                for id in reportIDs { try remember.execute(arguments: [id, now]) }
                try db.execute(sql: "DELETE FROM report_ids WHERE seen_ms < ?", arguments: [now - CounterStore.reportIDLifetimeMs])
            }
            // A known series only moves its counter; its labels are written once, when it is new
            // (encoding them on every save was most of a gateway request's CPU).
            let update = try db.cachedStatement(sql: "UPDATE counters SET last = ?, total = ? WHERE scope = ? AND key = ?")
            let insert = try db.cachedStatement(sql: "INSERT INTO counters (scope, key, name, labels, last, total) VALUES (?, ?, ?, ?, ?, ?)")
            for (key, entry) in entries {
                try update.execute(arguments: [entry.counter.last, entry.counter.total ?? 0, scope, key])
                guard db.changesCount == 0 else { continue }
                let pairs = entry.series.labels.map { [$0.name, $0.value] }
                let labels = String(decoding: try JSONSerialization.data(withJSONObject: pairs), as: UTF8.self)
                try insert.execute(arguments: [scope, key, entry.series.name, labels, entry.counter.last, entry.counter.total ?? 0])
            }
        }
    }
}

/// A saved counter that cannot be read back as written.
package enum CounterStoreError: Error, CustomStringConvertible {
    case unreadableLabels(scope: String, key: String, text: String)

    package var description: String {
        switch self {
        case .unreadableLabels(let scope, let key, let text):
            "the saved counter \(key) of \(scope) has labels that are not a JSON list of [name, value] pairs: \(text)"
        }
    }
}
