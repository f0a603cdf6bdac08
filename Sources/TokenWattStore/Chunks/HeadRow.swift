import Foundation
import GRDB
import TokenWattCore

/// Rows of the `head` table, where versions 2–8 kept fresh samples: each holds one series'
/// samples within one minute (its slot). Only the v2 migration writes them now; opening the
/// store moves them into chunks (`foldLegacyHead`).
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

    /// Stores samples (in timestamp order) of one series, for the v2 migration.
    static func insert(_ samples: [Sample], seriesID: Int64, db: Database) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO head (slot, series_id, first_ts, data) VALUES (?, ?, ?, ?)")
        for run in minuteRuns(samples) {
            let part = samples[run.range]
            try statement.execute(arguments: [run.slot, seriesID, part.first!.timestamp, Data(XORChunk.encode(part))])
        }
    }
}
