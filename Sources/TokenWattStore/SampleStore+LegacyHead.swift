import Foundation
import GRDB
import TokenWattCore

extension SampleStore {
    /// Moves the rows of the `head` table, where versions before the in-memory head kept fresh
    /// samples (see Schema), into chunks, in one transaction. A database of this version never
    /// writes that table, so after the first start it is empty and this reads nothing.
    func foldLegacyHead() throws {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM head)") == true else { return }
            var samplesBySeries: [Int64: [Sample]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT series_id, data FROM head")
            while let row = try rows.next() {
                samplesBySeries[row[0], default: []] += try XORChunk.decode([UInt8](row[1] as Data))
            }
            let existing = try db.makeStatement(sql: "SELECT data FROM chunks WHERE series_id = ? AND window_start = ?")
            let store = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO chunks (series_id, window_start, first_ts, last_ts, count, data) VALUES (?, ?, ?, ?, ?, ?)
                """)
            var moved = 0
            for (id, unordered) in samplesBySeries {
                let samples = unordered.sorted { $0.timestamp < $1.timestamp }
                moved += samples.count
                var start = samples.startIndex
                while start < samples.endIndex {
                    let window = SampleStore.chunkWindow(of: samples[start].timestamp)
                    let end = samples[start...].firstIndex { $0.timestamp >= window + Schema.chunkWindow } ?? samples.endIndex
                    var merged = Array(samples[start..<end])
                    if let data = try Data.fetchOne(existing, arguments: [id, window]) {
                        merged = Sample.merged(try XORChunk.decode([UInt8](data)), merged)
                    }
                    try store.execute(arguments: [id, window, merged.first!.timestamp, merged.last!.timestamp, merged.count,
                                                  Data(XORChunk.encode(merged))])
                    start = end
                }
            }
            try db.execute(sql: "DELETE FROM head")
            logger.info("moved the head rows of an earlier version into chunks", metadata: ["samples": "\(moved)"])
        }
    }
}
