import Foundation
import GRDB
import TokenWattCore

/// One row of the write-ahead log: the new samples of one group commit, per series (by id; the
/// series rows are written in the same transaction), each series' samples as an XOR chunk.
///
/// Layout: series count (varint), then per series its id (varint), the chunk's length (varint)
/// and the chunk. `max_ts` beside the body is its newest timestamp: a flush lets a row go once
/// every sample in it is in a flushed window.
struct WALRecord: Equatable {
    struct Entry: Equatable {
        let id: Int64
        /// In timestamp order.
        let samples: [Sample]
        /// The samples as an `XORChunk`, when the pusher's task encoded them already.
        var chunk: ArraySlice<UInt8>?

        static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.id == rhs.id && lhs.samples == rhs.samples
        }
    }

    var series: [Entry]

    var newestTimestamp: Int64 {
        series.reduce(Int64.min) { max($0, $1.samples.last?.timestamp ?? .min) }
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + series.count * 24)
        Varint.append(UInt64(series.count), to: &bytes)
        for entry in series {
            Varint.append(UInt64(bitPattern: entry.id), to: &bytes)
            if let chunk = entry.chunk {
                Varint.appendFramed(chunk, to: &bytes)
            } else {
                Varint.appendFramed(XORChunk.encode(entry.samples), to: &bytes)
            }
        }
        return bytes
    }

    init(series: [Entry]) {
        self.series = series
    }

    init(decoding bytes: [UInt8]) throws(ChunkError) {
        var position = 0
        let count = try Varint.read(bytes, at: &position)
        // Each entry takes at least three bytes: a bound that stops a damaged count early.
        guard count <= UInt64(bytes.count / 3) else { throw .countMismatch }
        series = []
        series.reserveCapacity(Int(count))
        for _ in 0..<count {
            let id = Int64(bitPattern: try Varint.read(bytes, at: &position))
            series.append(Entry(id: id, samples: try XORChunk.decode(try Varint.readFramed(bytes, at: &position))))
        }
        guard position == bytes.count else { throw .countMismatch }
    }

    /// Appends the record to the log; returns its row id and the bytes of its body.
    func insert(db: Database) throws -> (id: Int64, bytes: Int) {
        let body = Data(encoded())
        try db.execute(sql: "INSERT INTO wal (max_ts, body) VALUES (?, ?)", arguments: [newestTimestamp, body])
        return (db.lastInsertedRowID, body.count)
    }
}
