/// A metric TokenWatt emits, named once: its family name, type, unit, label names and help.
/// Expositions make its family and samples from it, the catalog types pushed series by it, the
/// docs/metrics.md is rendered from it, and code that reads the series back selects
/// them by it. Every descriptor lives in `TokenWattMetrics.swift`.
public struct MetricDescriptor: Sendable, Hashable {
    /// The family's name: a counter's without `_total`.
    public let name: String
    public let type: MetricType
    /// The base unit the name ends in (`seconds`, `bytes`, `watts`, `usd`, ...), empty for none.
    public let unit: String
    /// The labels its samples carry, besides the node's (and, for token and request counts, the
    /// configured attribution labels).
    public let labels: [String]
    public let help: String
    /// The name its samples carry: a counter's with `_total`. Stored: readers compare series
    /// names with it sample by sample.
    public let seriesName: String

    public init(_ name: String, _ type: MetricType, unit: String = "", labels: [String] = [], help: String) {
        self.name = name
        self.type = type
        self.unit = unit
        self.labels = labels
        self.help = help
        seriesName = type == .counter ? name + "_total" : name
    }

    /// The names its samples carry: a histogram's `_bucket`, `_sum` and `_count`, else its series name.
    public var seriesNames: [String] {
        type == .histogram ? ["_bucket", "_sum", "_count"].map { name + $0 } : [seriesName]
    }

    public func sample(_ labels: [Label], _ value: Double) -> ExpositionSample {
        ExpositionSample(name: seriesName, labels: labels, value: value)
    }

    /// The one sample of a family without labels.
    public func sample(_ value: Double) -> ExpositionSample {
        sample([], value)
    }

    public func family(_ samples: [ExpositionSample]) -> MetricFamily {
        MetricFamily(name: name, type: type, help: help, samples: samples)
    }
}
