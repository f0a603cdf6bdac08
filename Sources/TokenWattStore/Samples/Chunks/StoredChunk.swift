import Foundation
import GRDB
import TokenWattCore

/// How a chunk sits in the database. Since v11 a row holds an encoding byte, the encoded bytes
/// and a CRC32C of both, as Prometheus frames each chunk in its chunk files: a damaged row is
/// reported as damaged, never misread, and a new encoding can come beside the old ones. Rows
/// written before v11 have `format` 0 and hold the bare encoding of their table.
enum StoredChunk {
    enum Encoding: UInt8 {
        /// `XORChunk`.
        case xor = 1
        /// `RollupChunk`.
        case rollups = 2
        /// `PackedChunk` (since v17).
        case packed = 3
    }

    /// The `format` column of framed rows.
    static let framed = 1

    static func frame(_ payload: [UInt8], as encoding: Encoding) -> Data {
        var bytes = [encoding.rawValue] + payload
        let checksum = CRC32C.checksum(bytes)
        bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: checksum >> $0) }
        return Data(bytes)
    }

    /// Raw samples framed in the shorter of their two encodings: packed where every value is a
    /// decimal, else (or when that is no shorter) the Gorilla bits, `xor` when the caller has them.
    static func frame(samples: [Sample], xor: [UInt8]? = nil) -> Data {
        let gorilla = xor ?? XORChunk.encode(samples)
        if let packed = PackedChunk.encode(samples), packed.count < gorilla.count { return frame(packed, as: .packed) }
        return frame(gorilla, as: .xor)
    }

    /// The samples of a raw chunk in either encoding.
    static func samples(_ encoding: Encoding, _ payload: [UInt8]) throws(ChunkError) -> [Sample] {
        switch encoding {
        case .xor: try XORChunk.decode(payload)
        case .packed: try PackedChunk.decode(payload)
        case .rollups: throw .encoding(encoding.rawValue)
        }
    }

    /// The buckets of a 1-minute rollup chunk.
    static func buckets(_ encoding: Encoding, _ payload: [UInt8]) throws(ChunkError) -> [RollupBucket] {
        guard encoding == .rollups else { throw .encoding(encoding.rawValue) }
        return try RollupChunk.decode(payload)
    }

    /// Decodes a row read as `data, format, series_id, window_start`; a damaged row is an error
    /// that names its table, series and window, so an operator can find it. `bare`: the
    /// encoding of the table's rows from before v11.
    static func decode<T>(_ row: Row, in table: String, bare: Encoding,
                          _ decode: (Encoding, [UInt8]) throws(ChunkError) -> T) throws(StoreError) -> T {
        do {
            let (encoding, bytes) = try payload(of: row[0], format: row[1], bare: bare)
            return try decode(encoding, bytes)
        } catch {
            let series: Int64 = row[2], window: Int64 = row[3]
            throw .database("damaged row in \(table): series \(series), window from \(TimeBounds.rfc3339(window)): \(error)")
        }
    }

    /// The encoding and encoded bytes of a stored row.
    static func payload(of data: Data, format: Int, bare: Encoding) throws(ChunkError) -> (encoding: Encoding, bytes: [UInt8]) {
        let bytes = [UInt8](data)
        guard format == framed else { return (bare, bytes) }
        guard bytes.count >= 5 else { throw .truncated }
        let body = bytes[..<(bytes.count - 4)]
        let stored = bytes.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard CRC32C.checksum(body) == stored else { throw .checksum }
        guard let encoding = Encoding(rawValue: body.first ?? 0) else { throw .encoding(body.first ?? 0) }
        return (encoding, Array(body.dropFirst()))
    }
}

/// CRC-32C (Castagnoli), the checksum of Prometheus's chunks, table-driven.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
}
