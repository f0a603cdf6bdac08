import SwiftProtobuf

/// Encodes and decodes remote write 1.0 bodies: a snappy block of a protobuf `WriteRequest`.
public enum RemoteWriteCodec {
    /// The headers a remote write 1.0 request carries.
    public static let contentType = "application/x-protobuf"
    public static let contentEncoding = "snappy"
    public static let versionHeader = "X-Prometheus-Remote-Write-Version"
    public static let version = "0.1.0"

    /// Remote write 2.0: its content type, its version, and the headers a receiver answers with.
    public static let contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    public static let protoV2 = "io.prometheus.write.v2.Request"
    public static let versionV2 = "2.0.0"
    public static let samplesWrittenHeader = "X-Prometheus-Remote-Write-Samples-Written"
    public static let histogramsWrittenHeader = "X-Prometheus-Remote-Write-Histograms-Written"
    public static let exemplarsWrittenHeader = "X-Prometheus-Remote-Write-Exemplars-Written"

    /// The headers of a remote write request (the body is snappy-compressed protobuf), 1.0's or 2.0's.
    public static func requestHeaders(userAgent: String, token: String?, v2: Bool = false) -> [(String, String)] {
        [("Content-Type", v2 ? contentTypeV2 : contentType), ("Content-Encoding", contentEncoding), (versionHeader, v2 ? versionV2 : version),
         ("User-Agent", userAgent)] + (token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    /// A serialised 1.0 `WriteRequest` (what spools and the forwarding log hold) as a 2.0
    /// request, before snappy; counters (`_total`) say so in their metadata.
    public static func reencodeV2(_ serialized: [UInt8]) throws(CoreError) -> [UInt8] {
        let series = try RemoteWriteDecoder.decode(serialized)
        let counters = Set(series.compactMap(\.labels.metricName).filter { $0.hasSuffix("_total") })
        return serializeV2(series, types: Dictionary(uniqueKeysWithValues: counters.map { ($0, .counter) }))
    }

    /// The path a TokenWatt aggregator (and Prometheus's receiver) takes remote write on.
    public static let writePath = "/api/v1/write"

    /// The write URL for what an operator gave: a base URL (`http://host:9470`, with or without
    /// a trailing slash) gets `/api/v1/write`; a URL with any other path is taken as it is.
    public static func writeURL(_ given: String) -> String {
        guard let schemeEnd = given.range(of: "://") else { return given }
        let afterScheme = given[schemeEnd.upperBound...]
        guard let slash = afterScheme.firstIndex(of: "/") else { return given + writePath }
        return afterScheme[slash...] == "/" ? String(given[..<slash]) + writePath : given
    }

    /// A request body: the snappy block of the serialised `WriteRequest`.
    public static func encode(_ series: [TimeSeries]) -> [UInt8] {
        Snappy.compress(serialize(series))
    }

    /// The `WriteRequest` as protobuf bytes, before snappy. Protobuf appends repeated fields of
    /// concatenated messages, so the concatenation of serialised requests is one request with
    /// all their series: a spool can store batches apart and send several as one.
    public static func serialize(_ series: [TimeSeries]) -> [UInt8] {
        var request = Prometheus_WriteRequest()
        request.timeseries = series.map { series in
            var message = Prometheus_TimeSeries()
            message.labels = series.labels.labels.map { label in
                var message = Prometheus_Label()
                message.name = label.name
                message.value = label.value
                return message
            }
            message.samples = series.samples.map { sample in
                var message = Prometheus_Sample()
                message.value = sample.value
                message.timestamp = sample.timestamp
                return message
            }
            return message
        }
        // Serialising a message of plain fields cannot fail.
        return try! request.serializedBytes()
    }

    /// An `io.prometheus.write.v2.Request` of these series as protobuf bytes, before snappy:
    /// the strings in one symbols table (the empty string first), each series' labels as
    /// references to it; `types` gives a series' metadata type by its name where known.
    public static func serializeV2(_ series: [TimeSeries], types: [String: PrometheusV2_Metadata.MetricType] = [:]) -> [UInt8] {
        var request = PrometheusV2_Request()
        var references: [String: UInt32] = ["": 0]
        request.symbols = [""]
        func reference(_ string: String) -> UInt32 {
            if let known = references[string] { return known }
            let next = UInt32(request.symbols.count)
            references[string] = next
            request.symbols.append(string)
            return next
        }
        request.timeseries = series.map { series in
            var message = PrometheusV2_TimeSeries()
            message.labelsRefs = series.labels.labels.flatMap { [reference($0.name), reference($0.value)] }
            message.samples = series.samples.map { sample in
                var message = PrometheusV2_Sample()
                message.value = sample.value
                message.timestamp = sample.timestamp
                return message
            }
            if let type = series.labels.metricName.flatMap({ types[$0] }) { message.metadata.type = type }
            return message
        }
        // Plain fields: serialising cannot fail.
        return try! request.serializedBytes()
    }

    /// Decodes a body and checks every series as a 1.0 sender must send it (labels sorted and
    /// unique, names valid, no empty values, `__name__` present). Throws on the first problem;
    /// `limits` are checked on the wire as it is decoded, before what they bound is made.
    public static func decode(_ body: [UInt8], maxUncompressedBytes: Int = 64 << 20, limits: RemoteWriteLimits = RemoteWriteLimits()) throws(CoreError) -> [TimeSeries] {
        try decode(body, maxUncompressedBytes: maxUncompressedBytes, limits: limits) { _, _ in false }
            .map { TimeSeries(labels: $0.labels!, samples: $0.samples) }
    }

    /// Decodes a body as `decode(_:maxUncompressedBytes:limits:)` does, but leaves out (and
    /// does not check again) the labels of series for which `isKnown(position, key)` holds:
    /// the caller knows them from an earlier request that passed the checks with the same bytes.
    public static func decode(_ body: [UInt8], maxUncompressedBytes: Int = 64 << 20, limits: RemoteWriteLimits = RemoteWriteLimits(),
                              isKnown: (Int, WireSeriesKey) -> Bool) throws(CoreError) -> [DecodedSeries] {
        let raw = try Snappy.decompress(body, limit: maxUncompressedBytes)
        let series = try RemoteWriteDecoder.decode(raw, limits: limits, isKnown: isKnown)
        for one in series {
            guard let labels = one.labels?.labels else { continue }
            try LabelSet.check(labels)
            guard labels.contains(where: { $0.name == LabelSet.metricNameLabel }) else { throw .missingMetricName }
        }
        return series
    }
}
