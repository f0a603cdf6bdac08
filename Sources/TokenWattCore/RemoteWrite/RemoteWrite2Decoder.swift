/// A series of a remote write 2.0 request, as a receiver of float samples keeps it.
public struct RemoteWrite2Series: Sendable, Equatable {
    public var labels: LabelSet
    public var samples: [Sample]
    /// The metadata says it counts up (a counter, a classic histogram's or a summary's parts).
    public var isCumulative: Bool
    /// When the counter started (ms), where the sender says; 0 when it does not.
    public var startTimestamp: Int64

    public init(labels: LabelSet, samples: [Sample], isCumulative: Bool, startTimestamp: Int64) {
        self.labels = labels
        self.samples = samples
        self.isCumulative = isCumulative
        self.startTimestamp = startTimestamp
    }
}

/// A decoded remote write 2.0 request: the float series, and what it carried that is not
/// stored (native histogram samples, exemplars), counted for the answer's headers.
public struct RemoteWrite2Request: Sendable, Equatable {
    public var series: [RemoteWrite2Series] = []
    public var histograms = 0
    public var exemplars = 0

    public var samples: Int { series.reduce(0) { $0 + $1.samples.count } }
}

/// Decodes an `io.prometheus.write.v2.Request` in two passes over the wire bytes: the symbols
/// table first (wherever it comes), then each series' label references resolved against it.
/// The same bounds as remote write 1.0 are checked as it goes, before what they bound is made;
/// labels are checked as 1.0's are (sorted, unique, valid, no empty values). Reads as
/// swift-protobuf reads the generated `PrometheusV2_Request` (`RemoteWrite2Tests`).
public enum RemoteWrite2Decoder {
    static let counterTypes: Set<UInt64> = [1, 3, 5]  // COUNTER, HISTOGRAM, SUMMARY

    public static func decode(_ raw: [UInt8], limits: RemoteWriteLimits = RemoteWriteLimits()) throws(CoreError) -> RemoteWrite2Request {
        try raw.withUnsafeBufferPointer { raw throws(CoreError) in try decode(raw, limits: limits) }
    }

    private static func decode(_ raw: UnsafeBufferPointer<UInt8>, limits: RemoteWriteLimits) throws(CoreError) -> RemoteWrite2Request {
        var symbols: [Range<Int>] = []
        var seriesRanges: [Range<Int>] = []
        var reader = WireReader(raw, 0..<raw.count)
        while let field = try reader.next() {
            guard case .bytes(let range) = field.value else { continue }
            switch field.number {
            case 4:
                // Every label is two references; a table larger than every label could name is padding.
                guard symbols.count < limits.maxLabels * 2 + 1 else { throw .tooLarge("more than \(limits.maxLabels * 2) symbols in one request") }
                guard range.count <= max(limits.maxLabelNameBytes, limits.maxLabelValueBytes) else {
                    throw .limit("symbol \(symbols.count) has \(range.count) bytes, over the longest label name or value allowed")
                }
                symbols.append(range)
            case 5:
                guard seriesRanges.count < limits.maxSeries else { throw .tooLarge("more than \(limits.maxSeries) series in one request") }
                seriesRanges.append(range)
            default: continue
            }
        }
        guard symbols.first?.isEmpty ?? seriesRanges.isEmpty else { throw .protobuf("the symbols table must start with the empty string") }
        var strings: [String?] = Array(repeating: nil, count: symbols.count)
        func symbol(_ reference: UInt64) throws(CoreError) -> String {
            guard reference < UInt64(symbols.count) else { throw .protobuf("a reference to symbol \(reference) of \(symbols.count)") }
            let index = Int(reference)
            if let string = strings[index] { return string }
            let string = try WireReader.string(raw, symbols[index], what: "a symbol")
            strings[index] = string
            return string
        }
        var request = RemoteWrite2Request()
        var counts = RemoteWriteLimits.Counts()
        for range in seriesRanges {
            try counts.addSeries(within: limits)
            var references: [UInt64] = []
            var samples: [Sample] = []
            var isCumulative = false
            var start: Int64 = 0
            var series = WireReader(raw, range)
            while let field = try series.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let packed)):
                    var items = WireReader(raw, packed)
                    while items.position < items.end {
                        references.append(try items.varint())
                        if references.count % 2 == 0 { try counts.addLabel(within: limits) }
                    }
                case (1, .varint(let reference)):
                    references.append(reference)
                    if references.count % 2 == 0 { try counts.addLabel(within: limits) }
                case (2, .bytes(let sample)):
                    try counts.addSample(within: limits)
                    let (value, startTimestamp) = try decodeSample(raw, sample)
                    samples.append(value)
                    if startTimestamp != 0 { start = startTimestamp }
                case (3, .bytes):
                    request.histograms += 1
                case (4, .bytes):
                    request.exemplars += 1
                case (5, .bytes(let metadata)):
                    var inner = WireReader(raw, metadata)
                    while let field = try inner.next() {
                        if field.number == 1, case .varint(let type) = field.value { isCumulative = counterTypes.contains(type) }
                    }
                case (6, .varint(let created)):
                    if start == 0 { start = Int64(bitPattern: created) }
                default: continue
                }
            }
            guard references.count % 2 == 0 else { throw .protobuf("series \(counts.series) has an odd number of label references") }
            var labels: [Label] = []
            labels.reserveCapacity(references.count / 2)
            for pair in stride(from: 0, to: references.count, by: 2) {
                let name = try symbol(references[pair]), value = try symbol(references[pair + 1])
                try limits.checkLabelField(1, bytes: name.utf8.count, series: counts.series)
                try limits.checkLabelField(2, bytes: value.utf8.count, series: counts.series)
                labels.append(Label(name, value))
            }
            try LabelSet.check(labels)
            guard labels.contains(where: { $0.name == LabelSet.metricNameLabel }) else { throw .missingMetricName }
            // A series of histogram samples only carries no float samples: nothing to keep.
            guard !samples.isEmpty else { continue }
            request.series.append(RemoteWrite2Series(labels: LabelSet(trusted: labels), samples: samples, isCumulative: isCumulative, startTimestamp: start))
        }
        return request
    }

    private static func decodeSample(_ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws(CoreError) -> (Sample, Int64) {
        var value = 0.0
        var timestamp: Int64 = 0, start: Int64 = 0
        var reader = WireReader(raw, range)
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .fixed64(let bits)): value = Double(bitPattern: bits)
            case (2, .varint(let number)): timestamp = Int64(bitPattern: number)
            case (3, .varint(let number)): start = Int64(bitPattern: number)
            default: continue
            }
        }
        return (Sample(timestamp: timestamp, value: value), start)
    }
}
