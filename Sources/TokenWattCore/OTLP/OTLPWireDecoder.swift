import Foundation

/// Bounds on one OTLP export, checked on the wire as it is decoded, before what they bound is
/// made: a small body of empty attributes or data points would otherwise decode into
/// gigabytes of objects. The per-series bounds are remote write's, so both ingest paths hold
/// the same series.
public struct OTLPLimits: Sendable, Equatable {
    /// Data points of every kind in one request.
    public var maxDataPoints = 200_000
    /// Samples the points expand to (a histogram's buckets, sum and count; a summary's
    /// quantiles, sum and count).
    public var maxSamples = 1_000_000
    /// Attributes of one data point, or of one resource.
    public var maxAttributesPerPoint = 64
    /// Attributes in the whole request, values nested in arrays and maps included.
    public var maxAttributes = 1_000_000
    /// Bytes of an attribute's key, and of its value as text.
    public var maxKeyBytes = 1024
    public var maxValueBytes = 4096
    /// Buckets of one histogram point.
    public var maxBucketsPerPoint = 1024
    /// Arrays and maps nested in an attribute's value.
    public var maxValueDepth = 8

    public init() {}

    /// The bounds of remote write's series, for the series OTLP points become.
    public init(remoteWrite limits: RemoteWriteLimits) {
        maxSamples = limits.maxSamples
        maxAttributes = limits.maxLabels
        // A series has a name, and maybe job and instance, beside its point's attributes.
        maxAttributesPerPoint = max(1, limits.maxLabelsPerSeries - 3)
        maxKeyBytes = limits.maxLabelNameBytes
        maxValueBytes = limits.maxLabelValueBytes
    }
}

/// Decodes a serialised `ExportMetricsServiceRequest` into an `OTLPExport` in one pass over the
/// wire bytes, counting against `OTLPLimits` as it goes. It reads as swift-protobuf does
/// (`OTLPWireDecoderTests` holds the two to the same answers): unknown fields and known ones
/// of another wire type are skipped, packed and unpacked repeated numbers both taken, a
/// singular field's last occurrence wins, strings must be UTF-8.
public enum OTLPWireDecoder {
    public static func decode(_ raw: [UInt8], limits: OTLPLimits = OTLPLimits()) throws(CoreError) -> OTLPExport {
        try raw.withUnsafeBufferPointer { raw throws(CoreError) in
            var decoder = Decoder(raw: raw, limits: limits)
            return try decoder.export()
        }
    }

    private struct Decoder {
        let raw: UnsafeBufferPointer<UInt8>
        let limits: OTLPLimits
        var points = 0
        var samples = 0
        var attributes = 0

        init(raw: UnsafeBufferPointer<UInt8>, limits: OTLPLimits) {
            self.raw = raw
            self.limits = limits
        }

        mutating func export() throws(CoreError) -> OTLPExport {
            var export = OTLPExport()
            var reader = WireReader(raw, 0..<raw.count)
            while let field = try reader.next() {
                if field.number == 1, case .bytes(let range) = field.value { export.resources.append(try resource(range)) }
            }
            return export
        }

        private mutating func resource(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Resource {
            var resource = OTLPExport.Resource()
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard case .bytes(let range) = field.value else { continue }
                switch field.number {
                case 1: resource.attributes = try attributeList(range, field: 1, of: "a resource")
                case 2: resource.scopes.append(try scope(range))
                default: continue
                }
            }
            return resource
        }

        /// The repeated `KeyValue` field `number` of a message (a resource, a data point).
        private mutating func attributeList(_ range: Range<Int>, field number: UInt64, of owner: String) throws(CoreError) -> [OTLPExport.Attribute] {
            var list: [OTLPExport.Attribute] = []
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard field.number == number, case .bytes(let range) = field.value else { continue }
                guard list.count < limits.maxAttributesPerPoint else {
                    throw .limit("\(owner) has more than \(limits.maxAttributesPerPoint) attributes")
                }
                list.append(try attribute(range, depth: 0))
            }
            return list
        }

        private mutating func attribute(_ range: Range<Int>, depth: Int) throws(CoreError) -> OTLPExport.Attribute {
            attributes += 1
            guard attributes <= limits.maxAttributes else { throw .tooLarge("more than \(limits.maxAttributes) attributes in one request") }
            var key = "", value = ""
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard case .bytes(let range) = field.value else { continue }
                switch field.number {
                case 1:
                    guard range.count <= limits.maxKeyBytes else { throw .limit("an attribute key of \(range.count) bytes, over the limit of \(limits.maxKeyBytes)") }
                    key = try string(range)
                case 2:
                    var text = ValueText(limit: limits.maxValueBytes)
                    try anyValue(range, depth: depth, into: &text)
                    value = text.text
                default: continue
                }
            }
            return OTLPExport.Attribute(key, value)
        }

        /// An `AnyValue` as text: a string as it is, arrays and maps as JSON.
        private mutating func anyValue(_ range: Range<Int>, depth: Int, into text: inout ValueText, quoted: Bool = false) throws(CoreError) {
            guard depth <= limits.maxValueDepth else { throw .limit("an attribute value nests arrays and maps over \(limits.maxValueDepth) deep") }
            var last: (number: UInt64, value: WireReader.Value)?
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                if (1...7).contains(field.number) { last = field }
            }
            guard let last else { return try text.append(quoted ? "null" : "") }
            switch (last.number, last.value) {
            case (1, .bytes(let range)):
                let string = try string(range)
                try text.append(quoted ? ValueText.json(string) : string)
            case (2, .varint(let bit)): try text.append(bit != 0 ? "true" : "false")
            case (3, .varint(let number)): try text.append(String(Int64(bitPattern: number)))
            case (4, .fixed64(let bits)): try text.append(ValueText.number(Double(bitPattern: bits), quoted: quoted))
            case (5, .bytes(let range)):
                try text.append("[")
                var first = true
                var items = WireReader(raw, range)
                while let item = try items.next() {
                    guard item.number == 1, case .bytes(let range) = item.value else { continue }
                    attributes += 1
                    guard attributes <= limits.maxAttributes else { throw .tooLarge("more than \(limits.maxAttributes) attributes in one request") }
                    if !first { try text.append(",") }
                    first = false
                    try anyValue(range, depth: depth + 1, into: &text, quoted: true)
                }
                try text.append("]")
            case (6, .bytes(let range)):
                try text.append("{")
                var first = true
                var items = WireReader(raw, range)
                while let item = try items.next() {
                    guard item.number == 1, case .bytes(let range) = item.value else { continue }
                    let member = try attribute(range, depth: depth + 1)
                    if !first { try text.append(",") }
                    first = false
                    // The member's value was made as text; a map's JSON quotes it as a string.
                    try text.append(ValueText.json(member.key) + ":" + ValueText.json(member.value))
                }
                try text.append("}")
            case (7, .bytes(let range)):
                let base64 = Data(UnsafeBufferPointer(rebasing: raw[range])).base64EncodedString()
                try text.append(quoted ? ValueText.json(base64) : base64)
            default:
                try text.append(quoted ? "null" : "")
            }
        }

        private mutating func scope(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Scope {
            var scope = OTLPExport.Scope()
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard case .bytes(let range) = field.value else { continue }
                switch field.number {
                case 1:
                    var inner = WireReader(raw, range)
                    while let field = try inner.next() {
                        guard case .bytes(let text) = field.value, field.number == 1 || field.number == 2 else { continue }
                        guard text.count <= limits.maxValueBytes else { throw .limit("a scope name of \(text.count) bytes, over the limit of \(limits.maxValueBytes)") }
                        if field.number == 1 { scope.name = try string(text) } else { scope.version = try string(text) }
                    }
                case 2: scope.metrics.append(try metric(range))
                default: continue
                }
            }
            return scope
        }

        private mutating func metric(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Metric {
            var metric = OTLPExport.Metric()
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard case .bytes(let range) = field.value else { continue }
                switch field.number {
                case 1, 3:
                    guard range.count <= limits.maxValueBytes else { throw .limit("a metric name or unit of \(range.count) bytes, over the limit of \(limits.maxValueBytes)") }
                    if field.number == 1 { metric.name = try string(range) } else { metric.unit = try string(range) }
                case 5: metric.data = .gauge(try numberPoints(range).points)
                case 7:
                    let (points, temporality, monotonic) = try numberPoints(range)
                    metric.data = .sum(points, temporality, monotonic: monotonic)
                case 9: metric.data = try histogram(range)
                case 10: metric.data = try exponentialHistogram(range)
                case 11: metric.data = try summary(range)
                default: continue
                }
            }
            return metric
        }

        private mutating func countPoint(samples count: Int) throws(CoreError) {
            points += 1
            samples += count
            guard points <= limits.maxDataPoints else { throw .tooLarge("more than \(limits.maxDataPoints) data points in one request") }
            guard samples <= limits.maxSamples else { throw .tooLarge("more than \(limits.maxSamples) samples in one request") }
        }

        /// A `Gauge`'s or a `Sum`'s points, with the sum's temporality and monotonicity.
        private mutating func numberPoints(_ range: Range<Int>) throws(CoreError) -> (points: [OTLPExport.NumberPoint], OTLPExport.Temporality, Bool) {
            var points: [OTLPExport.NumberPoint] = []
            var temporality = OTLPExport.Temporality.unspecified
            var monotonic = false
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let range)):
                    try countPoint(samples: 1)
                    points.append(try numberPoint(range))
                case (2, .varint(let value)): temporality = OTLPExport.Temporality(wire: value)
                case (3, .varint(let value)): monotonic = value != 0
                default: continue
                }
            }
            return (points, temporality, monotonic)
        }

        /// The fields every data point has; `attributesField` differs by kind. Attributes are
        /// gathered as byte ranges, decoded once the point is read (`pointAttributes`).
        private mutating func pointHeader(_ field: (number: UInt64, value: WireReader.Value), attributesField: UInt64, flagsField: UInt64,
                                          into point: inout OTLPExport.Point, attributes: inout [Range<Int>]) throws(CoreError) -> Bool {
            switch (field.number, field.value) {
            case (attributesField, .bytes(let range)):
                guard attributes.count < limits.maxAttributesPerPoint else {
                    throw .limit("a data point has more than \(limits.maxAttributesPerPoint) attributes")
                }
                attributes.append(range)
            case (2, .fixed64(let value)): point.startNanos = value
            case (3, .fixed64(let value)): point.timeNanos = value
            case (flagsField, .varint(let value)): point.flags = UInt32(truncatingIfNeeded: value)
            default: return false
            }
            return true
        }

        /// The previous point's attribute fields and what they decoded to: the points of one
        /// series often come one after another, and then their attributes are made once (and
        /// shared, so the translation compares them by reference).
        private var previousAttributeBytes: [Range<Int>] = []
        private var previousAttributes: [OTLPExport.Attribute] = []

        private mutating func pointAttributes(_ ranges: [Range<Int>]) throws(CoreError) -> [OTLPExport.Attribute] {
            guard !ranges.isEmpty else { return [] }
            let bytes = UnsafeRawBufferPointer(raw)
            let same = ranges.count == previousAttributeBytes.count && zip(ranges, previousAttributeBytes).allSatisfy { now, before in
                now.count == before.count && memcmp(bytes.baseAddress! + now.lowerBound, bytes.baseAddress! + before.lowerBound, now.count) == 0
            }
            if same {
                attributes += ranges.count
                guard attributes <= limits.maxAttributes else { throw .tooLarge("more than \(limits.maxAttributes) attributes in one request") }
                return previousAttributes
            }
            var decoded: [OTLPExport.Attribute] = []
            decoded.reserveCapacity(ranges.count)
            for range in ranges { decoded.append(try attribute(range, depth: 0)) }
            previousAttributeBytes = ranges
            previousAttributes = decoded
            return decoded
        }

        private mutating func numberPoint(_ range: Range<Int>) throws(CoreError) -> OTLPExport.NumberPoint {
            var point = OTLPExport.NumberPoint()
            var attributes: [Range<Int>] = []
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                if try pointHeader(field, attributesField: 7, flagsField: 8, into: &point.point, attributes: &attributes) { continue }
                switch (field.number, field.value) {
                case (4, .fixed64(let bits)): point.value = Double(bitPattern: bits)
                case (6, .fixed64(let bits)): point.value = Double(Int64(bitPattern: bits))
                default: continue
                }
            }
            point.point.attributes = try pointAttributes(attributes)
            return point
        }

        private mutating func histogram(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Data {
            var points: [OTLPExport.HistogramPoint] = []
            var temporality = OTLPExport.Temporality.unspecified
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (1, .bytes(let range)): points.append(try histogramPoint(range))
                case (2, .varint(let value)): temporality = OTLPExport.Temporality(wire: value)
                default: continue
                }
            }
            return .histogram(points, temporality)
        }

        private mutating func histogramPoint(_ range: Range<Int>) throws(CoreError) -> OTLPExport.HistogramPoint {
            var point = OTLPExport.HistogramPoint()
            // Bucket fields are counted before any is made: a point of a billion buckets stops here.
            var buckets = 0
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                switch (field.number, field.value) {
                case (6, .bytes(let range)): buckets += range.count / 8
                case (6, .fixed64): buckets += 1
                default: continue
                }
            }
            guard buckets <= limits.maxBucketsPerPoint else {
                throw .limit("a histogram point has \(buckets) buckets, over the limit of \(limits.maxBucketsPerPoint)")
            }
            try countPoint(samples: buckets + 2)
            var attributes: [Range<Int>] = []
            reader = WireReader(raw, range)
            while let field = try reader.next() {
                if try pointHeader(field, attributesField: 9, flagsField: 10, into: &point.point, attributes: &attributes) { continue }
                switch (field.number, field.value) {
                case (4, .fixed64(let value)): point.count = value
                case (5, .fixed64(let bits)): point.sum = Double(bitPattern: bits)
                case (6, .fixed64(let value)): point.bucketCounts.append(value)
                case (6, .bytes(let range)): point.bucketCounts += try packedFixed64(range)
                case (7, .fixed64(let bits)):
                    guard point.bounds.count < limits.maxBucketsPerPoint else { throw .limit("a histogram point has over \(limits.maxBucketsPerPoint) bounds") }
                    point.bounds.append(Double(bitPattern: bits))
                case (7, .bytes(let range)):
                    guard point.bounds.count + range.count / 8 <= limits.maxBucketsPerPoint else {
                        throw .limit("a histogram point has over \(limits.maxBucketsPerPoint) bounds")
                    }
                    point.bounds += try packedFixed64(range).map { Double(bitPattern: $0) }
                default: continue
                }
            }
            point.point.attributes = try pointAttributes(attributes)
            return point
        }

        private func packedFixed64(_ range: Range<Int>) throws(CoreError) -> [UInt64] {
            guard range.count % 8 == 0 else { throw .protobuf("a packed fixed64 field of \(range.count) bytes") }
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[range])
            return (0..<range.count / 8).map { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }

        /// Counts the points (and checks they are well formed on the wire); keeps nothing else.
        private mutating func exponentialHistogram(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Data {
            var count = 0
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard field.number == 1, case .bytes = field.value else { continue }
                try countPoint(samples: 1)
                count += 1
            }
            return .exponentialHistogram(points: count)
        }

        private mutating func summary(_ range: Range<Int>) throws(CoreError) -> OTLPExport.Data {
            var points: [OTLPExport.SummaryPoint] = []
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                guard field.number == 1, case .bytes(let range) = field.value else { continue }
                points.append(try summaryPoint(range))
            }
            return .summary(points)
        }

        private mutating func summaryPoint(_ range: Range<Int>) throws(CoreError) -> OTLPExport.SummaryPoint {
            var point = OTLPExport.SummaryPoint()
            var quantiles = 0
            var reader = WireReader(raw, range)
            while let field = try reader.next() {
                if field.number == 6 { quantiles += 1 }
            }
            guard quantiles <= limits.maxBucketsPerPoint else {
                throw .limit("a summary point has \(quantiles) quantiles, over the limit of \(limits.maxBucketsPerPoint)")
            }
            try countPoint(samples: quantiles + 2)
            var attributes: [Range<Int>] = []
            reader = WireReader(raw, range)
            while let field = try reader.next() {
                if try pointHeader(field, attributesField: 7, flagsField: 8, into: &point.point, attributes: &attributes) { continue }
                switch (field.number, field.value) {
                case (4, .fixed64(let value)): point.count = value
                case (5, .fixed64(let bits)): point.sum = Double(bitPattern: bits)
                case (6, .bytes(let range)):
                    var quantile = 0.0, value = 0.0
                    var inner = WireReader(raw, range)
                    while let field = try inner.next() {
                        switch (field.number, field.value) {
                        case (1, .fixed64(let bits)): quantile = Double(bitPattern: bits)
                        case (2, .fixed64(let bits)): value = Double(bitPattern: bits)
                        default: continue
                        }
                    }
                    point.quantiles.append((quantile, value))
                default: continue
                }
            }
            point.point.attributes = try pointAttributes(attributes)
            return point
        }

        private func string(_ range: Range<Int>) throws(CoreError) -> String {
            try WireReader.string(raw, range, what: "a string")
        }
    }
}

/// An attribute value's text as it is built, refused once it passes the bound.
private struct ValueText {
    let limit: Int
    var text = ""

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ part: String) throws(CoreError) {
        text += part
        guard text.utf8.count <= limit else { throw .limit("an attribute value of over \(limit) bytes as text") }
    }

    /// A JSON string literal.
    static func json(_ string: String) -> String {
        var out = ""
        JSONValue.appendQuoted(string, to: &out)
        return out
    }

    /// A double as text; in JSON, the non-finite ones as the strings OTLP/JSON writes them.
    static func number(_ value: Double, quoted: Bool) -> String {
        let text = ExpositionWriter.formatValue(value)
        return quoted && !value.isFinite ? json(text) : text
    }
}
