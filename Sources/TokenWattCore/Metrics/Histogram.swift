/// A cumulative histogram of observations (durations in seconds, as a rule), exposed as
/// Prometheus writes one: `_bucket{le}` for each upper bound and `+Inf`, `_sum`, `_count`.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds for request and commit durations, in seconds.
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var count = 0
    public private(set) var sum = 0.0

    public init(bounds: [Double] = Histogram.durationBuckets) {
        self.bounds = bounds
        counts = [Int](repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        for (index, bound) in bounds.enumerated() where value <= bound { counts[index] += 1 }
        count += 1
        sum += value
    }

    /// The series of family `name`, each with `labels` (sorted into place) besides `le`.
    public func samples(_ name: String, labels: [Label] = []) -> [ExpositionSample] {
        func sorted(_ extra: [Label]) -> [Label] { (labels + extra).sorted { $0.name < $1.name } }
        var samples = zip(bounds, counts).map { bound, count in
            ExpositionSample(name: name + "_bucket", labels: sorted([Label("le", ExpositionWriter.formatValue(bound))]), value: Double(count))
        }
        samples.append(ExpositionSample(name: name + "_bucket", labels: sorted([Label("le", "+Inf")]), value: Double(count)))
        samples.append(ExpositionSample(name: name + "_sum", labels: labels, value: sum))
        samples.append(ExpositionSample(name: name + "_count", labels: labels, value: Double(count)))
        return samples
    }
}
