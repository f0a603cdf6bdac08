/// The metric types of the Prometheus and OpenMetrics text formats.
public enum MetricType: String, Sendable, CaseIterable {
    case counter, gauge, histogram, summary, untyped
    case gaugeHistogram = "gaugehistogram", info, stateset

    /// OpenMetrics calls an untyped family "unknown".
    public var openMetricsName: String { self == .untyped ? "unknown" : rawValue }

    /// Suffixes that a sample of this family may add to the family's name.
    var sampleSuffixes: [String] {
        switch self {
        case .counter: ["_total", "_created", ""]
        case .histogram: ["_bucket", "_sum", "_count", "_created"]
        case .summary: ["", "_sum", "_count", "_created"]
        case .gaugeHistogram: ["_bucket", "_gsum", "_gcount"]
        case .info: ["_info"]
        case .gauge, .untyped, .stateset: [""]
        }
    }
}

/// One sample line of an exposition: the full sample name (with any `_total`, `_bucket`, ...
/// suffix), its labels without `__name__`, the value and an optional timestamp in milliseconds.
public struct ExpositionSample: Hashable, Sendable {
    public var name: String
    public var labels: [Label]
    public var value: Double
    public var timestamp: Int64?

    public init(name: String, labels: [Label] = [], value: Double, timestamp: Int64? = nil) {
        self.name = name
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }
}

extension ExpositionSample {
    /// `name{label="value",...}` with the labels in their order: the series' identity as text.
    public var seriesText: String {
        String(decoding: ExpositionWriter.seriesText(name: name, labels: labels), as: UTF8.self)
    }
}

/// A metric family: a name (OpenMetrics style, so a counter's name has no `_total`), its
/// type, help and unit, and all its samples.
public struct MetricFamily: Hashable, Sendable {
    public var name: String
    public var type: MetricType
    public var help: String?
    public var unit: String?
    public var samples: [ExpositionSample]

    public init(name: String, type: MetricType, help: String? = nil, unit: String? = nil,
                samples: [ExpositionSample] = []) {
        self.name = name
        self.type = type
        self.help = help
        self.unit = unit
        self.samples = samples
    }

    /// Whether a sample called `sampleName` belongs to this family.
    public func owns(sampleName: String) -> Bool {
        guard sampleName.hasPrefix(name) else { return false }
        let suffix = sampleName.dropFirst(name.count)
        return type.sampleSuffixes.contains { $0 == suffix }
    }
}
