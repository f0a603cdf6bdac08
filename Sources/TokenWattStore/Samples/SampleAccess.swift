import TokenWattConfiguration
import TokenWattCore

/// Writing samples: what the ingest path asks before it hands a push to the `SampleWriter`
/// (the limits), and appending itself.
public protocol SampleAppending: Sendable {
    /// The limits a push is checked against.
    var configuration: StorageConfiguration { get }
    /// Number of distinct series stored.
    var seriesCount: Int { get }
    /// Series whose `node` label is `node`.
    func seriesCount(node: String) -> Int
    /// How many of these label sets (distinct) are not series yet.
    func unknownSeries(_ labels: [LabelSet]) -> Int
    /// A series' labels by its id.
    func labels(ofSeries id: Int64) -> LabelSet?
    /// The newest sample stored for the series with these labels (head and disk, as it stood
    /// after the last commit and across restarts); nil for a series not stored.
    func latestSample(of labels: LabelSet) -> Sample?
    /// Memory the head's samples take.
    var headBytes: Int { get }
    /// Appends several batches as one group commit and returns once it is durable; either
    /// every batch is stored or, on error, none is.
    func append(_ batches: [[TimeSeries]]) async throws(StoreError) -> [AppendResult]
}

/// Reading samples, head and disk as one: series, raw samples, rollups, counter increases,
/// and the figures the aggregator's own metrics show.
public protocol SampleReading: Sendable {
    /// The retentions, which say what resolution answers a range.
    var configuration: StorageConfiguration { get }
    /// Label sets of the stored series that match any of the selectors, ordered by first appearance.
    func series(matching selectors: [SeriesSelector]) -> [(id: Int64, labels: LabelSet)]
    /// The latest sample of every series heard from after `since` (ms), stale-marked ones left
    /// out, ordered by name and then by labels.
    func liveSeries(since: Int64) -> [LiveSeries]
    /// The latest sample of each series matching any of the selectors, heard from after `since`
    /// and not stale-marked (a series two selectors match comes twice).
    func latestSamples(matching selectors: [SeriesSelector], since: Int64) -> [(labels: LabelSet, sample: Sample)]
    /// Raw samples of one series with `from <= ts < to`, in timestamp order.
    func rawSamples(seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [Sample]
    /// Rollup buckets of one series with `from <= bucket < to`, in time order.
    func rollups(_ resolution: RollupResolution, seriesID: Int64, from: Int64, to: Int64) async throws(StoreError) -> [RollupBucket]
    /// Number of distinct series stored.
    var seriesCount: Int { get }
    /// The head: series with samples there, its samples, and the memory they take.
    var headSeries: Int { get }
    var headSamples: Int { get }
    var headBytes: Int { get }
    /// Samples flushed from the head into chunks since start.
    var compactedSamples: Int { get }
}

extension SampleReading {
    /// A counter's growth per second between its first and last raw samples after `from`
    /// (ms), a drop counting as a reset to zero; nil with fewer than two.
    public func counterRate(seriesID: Int64, from: Int64, now: Int64) async throws(StoreError) -> Double? {
        let samples = try await rawSamples(seriesID: seriesID, from: from + 1, to: now + 1).filter(\.value.isFinite)
        guard let first = samples.first, let last = samples.last, last.timestamp > first.timestamp else { return nil }
        let increase = zip(samples, samples.dropFirst()).reduce(0.0) { $0 + CounterStep.increase(from: $1.0.value, to: $1.1.value) }
        return increase / (Double(last.timestamp - first.timestamp) / 1000)
    }

    /// How much a counter grew over `(from, to]` (ms), a drop counting as a reset to zero, as
    /// PromQL's `increase()` counts it without extrapolating, and how many samples it had there.
    /// Raw samples answer ranges that raw retention still holds: the step from the last sample
    /// at or before `from` (within `baselineMs`) counts, so back-to-back ranges add up to the
    /// whole. Older ranges are read from the rollups of the whole buckets they cover.
    public func counterIncrease(seriesID: Int64, from: Int64, to: Int64, now: Int64,
                                baselineMs: Int64 = Milliseconds.hour) async throws(StoreError) -> (increase: Double, samples: Int) {
        guard from < to else { return (0, 0) }
        let age = now - from
        guard age > configuration.rawRetentionMs else {
            let samples = try await rawSamples(seriesID: seriesID, from: from - baselineMs, to: to + 1)
            var increase = 0.0
            var count = 0
            var previous: Double?
            for sample in samples where sample.value.isFinite {
                if sample.timestamp > from {
                    count += 1
                    if let previous { increase += CounterStep.increase(from: previous, to: sample.value) }
                }
                previous = sample.value
            }
            return (increase, count)
        }
        let resolution: RollupResolution = age > configuration.minuteRollupRetentionMs ? .hour : .minute
        let width = resolution.milliseconds
        let first = (from + width - 1) / width * width
        let buckets = try await rollups(resolution, seriesID: seriesID, from: first, to: to - width + 1)
        return (buckets.compactMap(\.increase).reduce(0, +), buckets.reduce(0) { $0 + $1.count })
    }
}
