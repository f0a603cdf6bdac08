/// A metric TokenWatt emits, named once: its family name, type and help. Expositions make its
/// family and samples from it, the catalog types pushed series by it, and code that reads the
/// series back selects them by it.
public struct MetricDescriptor: Sendable, Hashable {
    /// The family's name: a counter's without `_total`.
    public let name: String
    public let type: MetricType
    public let help: String

    public init(_ name: String, _ type: MetricType, help: String) {
        self.name = name
        self.type = type
        self.help = help
    }

    /// The name its samples carry: a counter's with `_total`.
    public var seriesName: String { type == .counter ? name + "_total" : name }

    public func sample(_ labels: [Label] = [], _ value: Double) -> ExpositionSample {
        ExpositionSample(name: seriesName, labels: labels, value: value)
    }

    public func family(_ samples: [ExpositionSample]) -> MetricFamily {
        MetricFamily(name: name, type: type, help: help, samples: samples)
    }
}
