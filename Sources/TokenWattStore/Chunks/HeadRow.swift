import Foundation
import GRDB
import TokenWattCore

/// Writing a row of the `head` table outside the ingest path (which binds its statement
/// directly): compaction, retention and the v2 migration.
enum HeadRow {
    /// Stores samples (in timestamp order) of one series as one head row; nothing when empty.
    static func insert(_ samples: [Sample], seriesID: Int64, db: Database) throws {
        guard let first = samples.first, let last = samples.last else { return }
        let statement = try db.cachedStatement(sql: "INSERT INTO head (series_id, first_ts, last_ts, data) VALUES (?, ?, ?, ?)")
        try statement.execute(arguments: [seriesID, first.timestamp, last.timestamp, Data(XORChunk.encode(samples))])
    }
}
