import TokenWattCore

/// What a window of time measured on one node, bucket by bucket (`TimeBucket`'s buckets of
/// `stepMs`, oldest first): its power, its GPUs' utilisation, and each model's tokens per
/// second, queue and KV-cache use. The advisor's input, kept apart from the store so the
/// advice can be checked against hand-computed curves.
struct NodeWindow: Sendable {
    var node: String
    var stepMs: Int64
    /// Mean watts drawn in each bucket; nil where no energy reading fell in it.
    var watts: [Double?]
    /// The GPUs' mean utilisation (0–1) in each bucket; nil without GPU readings.
    var utilisation: [Double?]
    var models: [String: ModelWindow] = [:]

    init(node: String, stepMs: Int64, buckets: Int) {
        self.node = node
        self.stepMs = stepMs
        watts = Array(repeating: nil, count: buckets)
        utilisation = Array(repeating: nil, count: buckets)
    }

    var buckets: Int { watts.count }

    /// The node's tokens per second in each bucket, all models together.
    var tokensPerSecond: [Double] {
        models.values.reduce(Array(repeating: 0, count: buckets)) { sum, model in zip(sum, model.tokensPerSecond).map { $0 + $1 } }
    }

    /// The node's prompt tokens computed (cache hits left out) and output tokens per second in
    /// each bucket, all models together.
    var phaseRates: (input: [Double], output: [Double]) {
        let zero = Array(repeating: 0.0, count: buckets)
        return models.values.reduce((zero, zero)) { sum, model in
            (zip(sum.0, model.computedInputPerSecond).map { $0 + max(0, $1) }, zip(sum.1, model.outputPerSecond).map { $0 + $1 })
        }
    }

    /// Joules per input and per output token, from power against the two rates; and all the
    /// energy over the window per output token, the figure benchmarks such as ML.ENERGY
    /// publish (idle power and prompts included).
    var phaseEnergy: (fit: PhaseEnergy?, averageJoulesPerOutputToken: Double?) {
        let rates = phaseRates
        return (PhaseEnergy.fit(watts: watts, input: rates.input, output: rates.output), averageJoules(per: rates.output))
    }

    /// The power curve: watts = idle + joules per token × tokens per second, fitted by least
    /// squares over the buckets with a power reading. Nil with fewer than three such buckets,
    /// or when the load never changed (no slope can be told from one load level).
    var powerCurve: (idleWatts: Double, joulesPerToken: Double)? {
        let points = zip(tokensPerSecond, watts).compactMap { x, y in y.map { (x, $0) } }
        guard points.count >= 3 else { return nil }
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.0 } / n
        let meanY = points.reduce(0) { $0 + $1.1 } / n
        let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        guard sxx > 1e-9 * max(1, meanX * meanX) * n else { return nil }
        let sxy = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        // Serving more never draws less: a negative slope is noise, and the margin costs nothing.
        let slope = max(0, sxy / sxx)
        return (meanY - slope * meanX, slope)
    }

    /// Joules per token averaged over the window: the fallback where no curve can be fitted
    /// (it counts idle power too, so it overstates the margin).
    var averageJoulesPerToken: Double? { averageJoules(per: tokensPerSecond) }

    /// The window's energy over its tokens at these rates, in the buckets with a power reading.
    private func averageJoules(per rates: [Double]) -> Double? {
        let pairs = zip(rates, watts).compactMap { x, y in y.map { (x, $0) } }
        let tokens = pairs.reduce(0) { $0 + $1.0 }
        return tokens > 0 ? pairs.reduce(0) { $0 + $1.1 } / tokens : nil
    }

    var meanWatts: Double? { ModelWindow.mean(watts) }
}

/// One model's buckets on one node.
struct ModelWindow: Sendable {
    /// Tokens (input and output) per second in each bucket.
    var tokensPerSecond: [Double]
    /// Of them, the prompt tokens the server computed (input less cached input), and the output.
    var computedInputPerSecond: [Double]
    var outputPerSecond: [Double]
    /// Requests waiting in the servers' queues (summed over servers), mean per bucket.
    var waiting: [Double?]
    /// The fullest server's KV-cache use (0–1), mean per bucket.
    var kvCacheUsage: [Double?]
    /// Tokens over the window by type, for the cloud price of the same mix.
    var tokens: [TokenType: Double] = [:]

    init(buckets: Int) {
        tokensPerSecond = Array(repeating: 0, count: buckets)
        computedInputPerSecond = tokensPerSecond
        outputPerSecond = tokensPerSecond
        waiting = Array(repeating: nil, count: buckets)
        kvCacheUsage = Array(repeating: nil, count: buckets)
    }

    /// A queue of a request or more, or a KV cache nearly full: latency suffers from here on.
    static let waitingLimit = 1.0
    static let kvCacheLimit = 0.95
    /// The buckets that count as now: the last five (five minutes at the default step).
    static let recentBuckets = 5

    func isSaturated(_ bucket: Int) -> Bool {
        (waiting[bucket] ?? 0) >= ModelWindow.waitingLimit || (kvCacheUsage[bucket] ?? 0) >= ModelWindow.kvCacheLimit
    }

    /// The throughput the server reaches once its queue grows: the median of the buckets where
    /// it was saturated; nil when it never was in the window.
    var capacity: Double? {
        let saturated = tokensPerSecond.indices.filter(isSaturated).map { tokensPerSecond[$0] }.sorted()
        guard !saturated.isEmpty else { return nil }
        let middle = saturated.count / 2
        return saturated.count % 2 == 1 ? saturated[middle] : (saturated[middle - 1] + saturated[middle]) / 2
    }

    private var recent: Range<Int> { max(0, tokensPerSecond.count - ModelWindow.recentBuckets)..<tokensPerSecond.count }
    /// Tokens per second now: the mean of the recent buckets.
    var currentTokensPerSecond: Double { recent.isEmpty ? 0 : recent.reduce(0) { $0 + tokensPerSecond[$1] } / Double(recent.count) }
    var meanTokensPerSecond: Double { tokensPerSecond.isEmpty ? 0 : tokensPerSecond.reduce(0, +) / Double(tokensPerSecond.count) }
    var peakTokensPerSecond: Double { tokensPerSecond.max() ?? 0 }
    /// Whether the queue is growing now: most recent buckets saturated.
    var isSaturatedNow: Bool { !recent.isEmpty && recent.filter(isSaturated).count * 2 > recent.count }
    var meanWaiting: Double? { ModelWindow.mean(waiting) }
    var meanKVCacheUsage: Double? { ModelWindow.mean(kvCacheUsage) }

    static func mean(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }
        return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
    }
}
