import TokenWattCore

/// A part of the aggregator that contributes metric families to `/metrics` (and, for the cost
/// and budget series, to what the forwarder sends on): the exposition asks each of its sources
/// and knows nothing else of them.
protocol MetricsSource: Sendable {
    func families() async throws -> [MetricFamily]
}

extension Array where Element == any MetricsSource {
    /// Every source's families, in the sources' order.
    func families() async throws -> [MetricFamily] {
        var families: [MetricFamily] = []
        for source in self { families += try await source.families() }
        return families
    }
}
