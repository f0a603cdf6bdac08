import TokenWattCore

/// The compressed form of one series' 1-minute rollup buckets over one chunk window: each
/// field a Gorilla column over the buckets' start times (the times then cost a bit a column,
/// the values what their XOR needs).
///
/// Layout: a flags byte (bit 0: the series is cumulative and has an increase column), then the
/// columns count, min, max, sum, last and, when flagged, increase, each as its length (varint)
/// and an `XORChunk` of (bucket start, value). A bucket without finite values has NaN for min,
/// max, sum and last (a rollup only keeps finite values, so NaN means none).
enum RollupChunk {
    static func encode(_ buckets: [RollupBucket]) -> [UInt8] {
        let cumulative = buckets.contains { $0.increase != nil }
        var columns: [KeyPath<RollupBucket, Double?>] = [\.countValue, \.min, \.max, \.sum, \.last]
        if cumulative { columns.append(\.increase) }
        var bytes: [UInt8] = [cumulative ? 1 : 0]
        for column in columns {
            Varint.appendFramed(XORChunk.encode(buckets.map { Sample(timestamp: $0.bucket, value: $0[keyPath: column] ?? .nan) }), to: &bytes)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) throws(ChunkError) -> [RollupBucket] {
        guard let flags = bytes.first, flags <= 1 else { throw .countMismatch }
        var position = 1
        var columns: [[Sample]] = []
        for _ in 0..<(flags == 1 ? 6 : 5) {
            columns.append(try XORChunk.decode(try Varint.readFramed(bytes, at: &position)))
        }
        guard position == bytes.count, columns.allSatisfy({ $0.count == columns[0].count }) else { throw .countMismatch }
        func value(_ column: Int, _ index: Int) -> Double? {
            let value = columns[column][index].value
            return value.isNaN ? nil : value
        }
        return columns[0].indices.map { index in
            RollupBucket(bucket: columns[0][index].timestamp, min: value(1, index), max: value(2, index), sum: value(3, index),
                         last: value(4, index), count: Int(columns[0][index].value),
                         increase: flags == 1 ? columns[5][index].value : nil)
        }
    }
}

private extension RollupBucket {
    var countValue: Double? { Double(count) }
}
