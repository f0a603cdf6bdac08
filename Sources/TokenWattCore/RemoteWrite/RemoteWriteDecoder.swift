/// Decodes a serialised `WriteRequest` straight into `TimeSeries`, one pass over the wire
/// bytes: the three messages remote write 1.0 sends (`TimeSeries`, `Label`, `Sample`) and
/// nothing else. swift-protobuf's generated decoder built every message and string through
/// its generic visitor first, and then they were copied again; ingest spends its time here.
/// It reads as swift-protobuf does (`RemoteWriteDecoderTests` checks the two agree on random
/// and broken requests): unknown fields and known ones of another wire type are skipped, the
/// last of a repeated scalar wins, strings must be UTF-8.
enum RemoteWriteDecoder {
    static func decode(_ raw: [UInt8], limits: RemoteWriteLimits = RemoteWriteLimits()) throws(CoreError) -> [TimeSeries] {
        try decode(raw, limits: limits) { _, _ in false }.map { TimeSeries(labels: $0.labels!, samples: $0.samples) }
    }

    /// Decodes every series' samples and wire key; its labels only when `isKnown(position, key)`
    /// is false. Building a series' labels (strings, an array, then hashing them to find the
    /// series) costs more than its samples; a sender pushes the same series every time. The
    /// labels of a known series are neither decoded nor checked against `limits`: the caller
    /// knows their bytes from a request that passed.
    static func decode(_ raw: [UInt8], limits: RemoteWriteLimits = RemoteWriteLimits(),
                       isKnown: (Int, WireSeriesKey) -> Bool) throws(CoreError) -> [DecodedSeries] {
        try raw.withUnsafeBufferPointer { raw throws(CoreError) in try decode(raw, limits: limits, isKnown: isKnown) }
    }

    private static func decode(_ raw: UnsafeBufferPointer<UInt8>, limits: RemoteWriteLimits,
                               isKnown: (Int, WireSeriesKey) -> Bool) throws(CoreError) -> [DecodedSeries] {
        var result: [DecodedSeries] = []
        var counts = RemoteWriteLimits.Counts()
        var samples: [Sample] = []  // reused: each series gets an array of its own size
        var request = WireReader(raw, 0..<raw.count)
        while let field = try request.next() {
            guard field.number == 1, case .bytes(let message) = field.value else { continue }  // metadata, unknown fields
            try counts.addSeries(within: limits)
            var key = WireSeriesKey.Builder()
            samples.removeAll(keepingCapacity: true)
            var reader = WireReader(raw, message)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let label)):
                    try counts.addLabel(within: limits)
                    key.add(raw, label)
                case (2, .bytes(let sample)):
                    try counts.addSample(within: limits)
                    samples.append(try decodeSample(raw, sample))
                default: continue  // exemplars, histograms: not kept
                }
            }
            let seriesKey = key.key
            let labels = isKnown(result.count, seriesKey)
                ? nil : try decodeLabels(raw, message, count: counts.labelsInSeries, limits: limits, series: counts.series)
            result.append(DecodedSeries(key: seriesKey, labels: labels, samples: Array(samples)))
        }
        return result
    }

    /// The labels of a series message, each checked against `limits` before it is made.
    private static func decodeLabels(_ raw: UnsafeBufferPointer<UInt8>, _ message: Range<Int>, count: Int, limits: RemoteWriteLimits,
                                     series: Int) throws(CoreError) -> LabelSet {
        var labels: [Label] = []
        labels.reserveCapacity(count)
        var reader = WireReader(raw, message)
        while let field = try reader.next() {
            guard field.number == 1, case .bytes(let label) = field.value else { continue }
            labels.append(try decodeLabel(raw, label, limits: limits, series: series))
        }
        return LabelSet(trusted: labels)
    }

    private static func decodeLabel(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, limits: RemoteWriteLimits,
                                    series: Int) throws(CoreError) -> Label {
        var name = "", value = ""
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            guard case .bytes(let text) = field.value, field.number == 1 || field.number == 2 else { continue }
            try limits.checkLabelField(field.number, bytes: text.count, series: series)
            let string = try WireReader.string(raw, text, what: "a label")
            if field.number == 1 { name = string } else { value = string }
        }
        return Label(name, value)
    }

    private static func decodeSample(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws(CoreError) -> Sample {
        var value = 0.0
        var timestamp: Int64 = 0
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .fixed64(let bits)): value = Double(bitPattern: bits)
            case (2, .varint(let number)): timestamp = Int64(bitPattern: number)
            default: continue
            }
        }
        return Sample(timestamp: timestamp, value: value)
    }
}

/// A series as its sender wrote it: a 96-bit keyed hash of its label fields' bytes, so that
/// the same labels encoded the same way give the same key. The hash is Swift's SipHash, seeded
/// at random per process: a sender cannot make two label sets collide on purpose, and by chance
/// two differ in one of 2^96. Twelve bytes, so that a key and a 32-bit id take sixteen.
public struct WireSeriesKey: Hashable, Sendable {
    let low: UInt64
    let high: UInt32

    /// No series has this key but by the same chance.
    public static let none = WireSeriesKey(low: 0, high: 0)

    struct Builder {
        private var low = Hasher()
        private var high = Hasher()

        init() {
            high.combine(0x9E37_79B9_7F4A_7C15 as UInt64)  // two hashes of one input, apart
        }

        /// Adds one label field's bytes, length first (the same bytes split apart otherwise hash alike).
        mutating func add(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[range])
            low.combine(range.count)
            low.combine(bytes: bytes)
            high.combine(range.count)
            high.combine(bytes: bytes)
        }

        var key: WireSeriesKey {
            consuming get { WireSeriesKey(low: UInt64(bitPattern: Int64(low.finalize())), high: UInt32(truncatingIfNeeded: high.finalize())) }
        }
    }
}

/// One decoded series: its wire key, its labels unless the caller knew the key, its samples.
public struct DecodedSeries: Sendable {
    public let key: WireSeriesKey
    /// Nil when the caller knew the series by its key.
    public var labels: LabelSet?
    public var samples: [Sample]
}

/// Both decoders of a serialised `WriteRequest`, for `tokenwatt-bench decode` and the test that
/// holds the wire decoder to swift-protobuf's generated one.
@_spi(Benchmark) public enum RemoteWriteDecoding {
    public static func wire(_ raw: [UInt8]) throws -> [TimeSeries] {
        try RemoteWriteDecoder.decode(raw)
    }

    /// swift-protobuf's decoding, then the copy into `TimeSeries` that ingest did before.
    public static func swiftProtobuf(_ raw: [UInt8]) throws -> [TimeSeries] {
        try Prometheus_WriteRequest(serializedBytes: raw).timeseries.map { message in
            TimeSeries(labels: LabelSet(trusted: message.labels.map { Label($0.name, $0.value) }),
                       samples: message.samples.map { Sample(timestamp: $0.timestamp, value: $0.value) })
        }
    }
}
