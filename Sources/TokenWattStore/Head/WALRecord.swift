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
    var series: [(id: Int64, samples: [Sample])]

    static func == (lhs: WALRecord, rhs: WALRecord) -> Bool {
        lhs.series.elementsEqual(rhs.series) { $0.id == $1.id && $0.samples == $1.samples }
    }

    var newestTimestamp: Int64 {
        series.reduce(Int64.min) { max($0, $1.samples.last?.timestamp ?? .min) }
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + series.count * 24)
        WALRecord.appendVarint(UInt64(series.count), to: &bytes)
        for entry in series {
            let chunk = XORChunk.encode(entry.samples)
            WALRecord.appendVarint(UInt64(bitPattern: entry.id), to: &bytes)
            WALRecord.appendVarint(UInt64(chunk.count), to: &bytes)
            bytes += chunk
        }
        return bytes
    }

    init(series: [(id: Int64, samples: [Sample])]) {
        self.series = series
    }

    init(decoding bytes: [UInt8]) throws(ChunkError) {
        var position = 0
        func varint() throws(ChunkError) -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard position < bytes.count else { throw .truncated }
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7f) << UInt64(shift)
                if byte & 0x80 == 0 { return value }
            }
            throw .truncated
        }
        let count = try varint()
        // Each entry takes at least three bytes: a bound that stops a damaged count early.
        guard count <= UInt64(bytes.count / 3) else { throw .countMismatch }
        series = []
        series.reserveCapacity(Int(count))
        for _ in 0..<count {
            let id = Int64(bitPattern: try varint())
            let length = try varint()
            guard length <= UInt64(bytes.count - position) else { throw .truncated }
            let end = position + Int(length)
            series.append((id, try XORChunk.decode(Array(bytes[position..<end]))))
            position = end
        }
        guard position == bytes.count else { throw .countMismatch }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Appends the record to the log; returns its row id.
    func insert(db: Database) throws -> Int64 {
        try db.execute(sql: "INSERT INTO wal (max_ts, body) VALUES (?, ?)", arguments: [newestTimestamp, Data(encoded())])
        return db.lastInsertedRowID
    }
}
