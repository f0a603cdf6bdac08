import Foundation
import GRDB

/// The agent's SQLite files (the spool, the counter store): WAL with `synchronous=NORMAL`, so
/// a commit survives a crash of the agent at once and a power cut from the next checkpoint,
/// without an fsync per collection; created with their folder, migrated on open. A file that
/// cannot be opened (corrupt, unreadable) is an error naming it: the agent stops rather than
/// start a new spool over the old one.
package enum AgentDatabase {
    package struct CannotOpen: Error, CustomStringConvertible {
        let path: String
        let reason: String
        package var description: String { "cannot open \(path): \(reason) (move the file aside to start afresh)" }
    }

    static func open(path: String, migrations: (inout DatabaseMigrator) -> Void) throws -> DatabaseQueue {
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrations(&migrator)
            try migrator.migrate(queue)
            return queue
        } catch {
            throw CannotOpen(path: path, reason: "\(error)")
        }
    }
}
