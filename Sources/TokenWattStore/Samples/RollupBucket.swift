import TokenWattCore

/// The summary of one series over one bucket of time (1 minute or 1 hour).
public struct RollupBucket: Sendable, Equatable {
    /// Start of the bucket, ms since the epoch.
    public var bucket: Int64
    /// Min, max, sum and last of the finite values; nil when the bucket has none.
    public var min: Double?
    public var max: Double?
    public var sum: Double?
    public var last: Double?
    /// Number of finite values.
    public var count: Int
    /// For cumulative series: how much the counter grew, a drop counting as a reset to zero.
    public var increase: Double?

    public init(bucket: Int64, min: Double?, max: Double?, sum: Double?, last: Double?, count: Int, increase: Double?) {
        self.bucket = bucket
        self.min = min
        self.max = max
        self.sum = sum
        self.last = last
        self.count = count
        self.increase = increase
    }

    /// Summarises `samples` (in timestamp order). `previous` is the last finite value before the
    /// bucket, so the step into the bucket counts towards its increase.
    public static func aggregate(bucket: Int64, samples: [Sample], previous: Double?, cumulative: Bool) -> RollupBucket {
        var result = RollupBucket(bucket: bucket, min: nil, max: nil, sum: nil, last: nil, count: 0,
                                  increase: cumulative ? 0 : nil)
        var prior = previous
        for sample in samples where sample.value.isFinite {
            let value = sample.value
            result.min = Swift.min(result.min ?? value, value)
            result.max = Swift.max(result.max ?? value, value)
            result.sum = (result.sum ?? 0) + value
            result.last = value
            result.count += 1
            if cumulative, let before = prior {
                result.increase! += CounterStep.increase(from: before, to: value)
            }
            prior = value
        }
        return result
    }

    /// Combines consecutive buckets (in time order) into one that starts at `bucket`.
    public static func combine(bucket: Int64, _ parts: [RollupBucket]) -> RollupBucket {
        var result = RollupBucket(bucket: bucket, min: nil, max: nil, sum: nil, last: nil, count: 0, increase: nil)
        for part in parts {
            if let min = part.min { result.min = Swift.min(result.min ?? min, min) }
            if let max = part.max { result.max = Swift.max(result.max ?? max, max) }
            if let sum = part.sum { result.sum = (result.sum ?? 0) + sum }
            if let last = part.last { result.last = last }
            result.count += part.count
            if let increase = part.increase { result.increase = (result.increase ?? 0) + increase }
        }
        return result
    }
}

extension [RollupBucket] {
    /// The last finite value of buckets in time order, if one has any.
    var lastFinite: Double? { last { $0.last != nil }?.last }
}
