import Foundation
import GRDB
import TokenWattCore

/// Rows of the `head` table: each holds one series' samples within one minute (its slot).
enum HeadRow {
    /// The runs of samples (in timestamp order) that share a minute, each one head row.
    static func minuteRuns(_ samples: [Sample]) -> [(slot: Int64, range: Range<Int>)] {
        var runs: [(slot: Int64, range: Range<Int>)] = []
        var start = samples.startIndex
        while start < samples.endIndex {
            let slot = Schema.slot(of: samples[start].timestamp)
            let end = samples[start...].firstIndex { Schema.slot(of: $0.timestamp) != slot } ?? samples.endIndex
            runs.append((slot, start..<end))
            start = end
        }
        return runs
    }

    /// Stores samples (in timestamp order) of one series, outside the ingest path (which binds
    /// its statement directly): compaction, retention and the v2 migration.
    static func insert(_ samples: [Sample], seriesID: Int64, db: Database) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO head (slot, series_id, first_ts, data) VALUES (?, ?, ?, ?)")
        for run in minuteRuns(samples) {
            let part = samples[run.range]
            try statement.execute(arguments: [run.slot, seriesID, part.first!.timestamp, Data(XORChunk.encode(part))])
        }
    }
}
