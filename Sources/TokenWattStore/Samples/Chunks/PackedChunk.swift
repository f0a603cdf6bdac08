import TokenWattCore

/// One series' samples over one window packed as VictoriaMetrics packs a block: each value an
/// integer scaled by one power of ten for the whole window (`312.456` W is 312456 × 10⁻³);
/// timestamps as deltas of deltas; values as themselves (noise around a level), their deltas (a
/// gauge's walk) or their deltas of deltas (a counter's steady growth), each either zigzagged
/// (0 stays the shortest: values that mostly hold) or less the column's smallest (a counter's
/// steps of 3,000 J cost what their spread needs, not 3,000), whichever is shortest as varints;
/// then both columns deflated together. Regular timestamps cost almost nothing, and a value
/// costs what its change needs, not the bits a float's XOR spreads it over. Deflate looks for
/// runs only (zlib's `Z_RLE`): the columns are small numbers in no repeating order but for
/// their runs of zeros. Only for windows whose every value is such a decimal (any double of
/// moderate size is one at 17 places, if not a short one): the others (NaN, stale markers,
/// infinities, −0, the largest and smallest magnitudes) stay `XORChunk`s.
///
/// Layout: count (varint), first timestamp (zigzag varint), a byte with the scale exponent (bits
/// 0–4, 0…18), the value column's order (bits 5–6: 0, 1 or 2) and whether it is zigzagged (bit
/// 7), first mantissa and the value column's smallest (zigzag varints; 0 when zigzagged), then
/// the bare deflate stream of count − 1 zigzagged timestamp deltas of deltas and count − 1
/// value varints.
enum PackedChunk {
    /// Powers of ten that a double holds exactly (all up to 10²²); a window's scale is one of these.
    private static let powers: [Double] = (0...18).map { (0..<$0).reduce(1.0) { value, _ in value * 10 } }
    /// Values past this are left to `XORChunk`: their mantissas' deltas could wrap.
    private static let largestMantissa = Double(Int64(1) << 62)
    private static let zigzagged: UInt8 = 0x80

    /// A column after its first number: its differences of one order (0: the numbers
    /// themselves), zigzagged or as offsets from the smallest of them, `base`.
    private struct Column {
        var base: Int64 = 0
        var stored: [UInt64] = []
        let order: Int
        let zigzag: Bool

        init(_ numbers: [Int64], order: Int, zigzag: Bool) {
            self.order = order
            self.zigzag = zigzag
            var differences: [Int64] = []
            differences.reserveCapacity(numbers.count)
            var previousDelta: Int64 = 0
            for index in numbers.indices.dropFirst() {
                let delta = numbers[index] &- numbers[index - 1]
                differences.append(order == 0 ? numbers[index] : order == 1 ? delta : delta &- previousDelta)
                previousDelta = delta
            }
            if zigzag {
                stored = differences.map(Varint.zigzag)
            } else {
                base = differences.min() ?? 0
                // The wrapped difference is the true one: none passes 2⁶⁴ − 1 from the smallest.
                stored = differences.map { UInt64(bitPattern: $0 &- base) }
            }
        }

        var bytes: Int { stored.reduce(0) { $0 + Varint.length($1) } }

        /// The numbers again, from the first.
        static func integrate(first: Int64, base: Int64, stored: ArraySlice<UInt64>, order: Int, zigzag: Bool) -> [Int64] {
            var numbers = [first]
            numbers.reserveCapacity(stored.count + 1)
            var delta: Int64 = 0
            for number in stored {
                let step = zigzag ? Varint.unzigzag(number) : base &+ Int64(bitPattern: number)
                switch order {
                case 0: numbers.append(step)
                case 1: numbers.append(numbers[numbers.count - 1] &+ step)
                default:
                    delta &+= step
                    numbers.append(numbers[numbers.count - 1] &+ delta)
                }
            }
            return numbers
        }
    }

    /// The packed window, or nil when a value is not a decimal within 18 places.
    static func encode(_ samples: [Sample]) -> [UInt8]? {
        guard let first = samples.first, let (exponent, mantissas) = scaled(samples.map(\.value)) else { return nil }
        let timestamps = Column(samples.map(\.timestamp), order: 2, zigzag: true)
        let values = (0...2).flatMap { order in [true, false].map { Column(mantissas, order: order, zigzag: $0) } }.min { $0.bytes < $1.bytes }!
        var header: [UInt8] = []
        Varint.append(UInt64(samples.count), to: &header)
        Varint.append(Varint.zigzag(first.timestamp), to: &header)
        header.append(UInt8(exponent) | UInt8(values.order) << 5 | (values.zigzag ? zigzagged : 0))
        Varint.append(Varint.zigzag(mantissas[0]), to: &header)
        Varint.append(Varint.zigzag(values.base), to: &header)
        var columns: [UInt8] = []
        columns.reserveCapacity(samples.count * 3)
        for number in timestamps.stored + values.stored { Varint.append(number, to: &columns) }
        return header + Deflate.compress(columns, framing: .raw, runsOnly: true)
    }

    static func decode(_ bytes: [UInt8]) throws(ChunkError) -> [Sample] {
        var position = 0
        let count = try Varint.read(bytes, at: &position)
        guard count > 0 else { return [] }
        // A window of millisecond samples holds at most its width's milliseconds.
        guard count <= UInt64(Schema.chunkWindow) else { throw .countMismatch }
        let firstTimestamp = Varint.unzigzag(try Varint.read(bytes, at: &position))
        guard position < bytes.count else { throw .truncated }
        let kind = bytes[position]
        position += 1
        let exponent = Int(kind & 0x1F), order = Int(kind >> 5 & 3)
        guard exponent < powers.count, order <= 2 else { throw .countMismatch }
        let firstMantissa = Varint.unzigzag(try Varint.read(bytes, at: &position))
        let base = Varint.unzigzag(try Varint.read(bytes, at: &position))
        let others = Int(count) - 1
        let columns: [UInt8]
        do {
            // Each varint takes at most 10 bytes.
            columns = try Deflate.decompress(Array(bytes[position...]), framing: .raw, limit: others * 20)
        } catch {
            throw .truncated
        }
        var at = 0
        var stored: [UInt64] = []
        stored.reserveCapacity(2 * others)
        for _ in 0..<(2 * others) { stored.append(try Varint.read(columns, at: &at)) }
        guard at == columns.count else { throw .countMismatch }
        let timestamps = Column.integrate(first: firstTimestamp, base: 0, stored: stored[..<others], order: 2, zigzag: true)
        let mantissas = Column.integrate(first: firstMantissa, base: base, stored: stored[others...], order: order,
                                         zigzag: kind & zigzagged != 0)
        let power = powers[exponent]
        return zip(timestamps, mantissas).map { Sample(timestamp: $0, value: Double($1) / power) }
    }

    /// The smallest exponent that makes every value an integer mantissa that decodes back to the
    /// same bits, and those mantissas.
    private static func scaled(_ values: [Double]) -> (exponent: Int, mantissas: [Int64])? {
        var exponent = 0
        for value in values {
            while mantissa(of: value, power: powers[exponent]) == nil {
                exponent += 1
                guard exponent < powers.count else { return nil }
            }
        }
        var mantissas: [Int64] = []
        mantissas.reserveCapacity(values.count)
        for value in values {
            // A value exact at a smaller exponent may not be at this one (its product rounds).
            guard let mantissa = mantissa(of: value, power: powers[exponent]) else { return nil }
            mantissas.append(mantissa)
        }
        return (exponent, mantissas)
    }

    /// The integer that, over `power`, gives back `value`'s very bits (so NaN, the infinities
    /// and −0 have none).
    private static func mantissa(of value: Double, power: Double) -> Int64? {
        let scaled = (value * power).rounded()
        guard scaled.isFinite, abs(scaled) <= largestMantissa else { return nil }
        let mantissa = Int64(scaled)
        return (Double(mantissa) / power).bitPattern == value.bitPattern ? mantissa : nil
    }
}
