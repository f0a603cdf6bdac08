/// Request latencies of one run, for percentiles.
struct Latencies {
    private let sorted: [Double]

    init(seconds: [Double]) {
        sorted = seconds.sorted()
    }

    var count: Int { sorted.count }

    /// The latency at percentile `p` (0...1), in milliseconds.
    func milliseconds(at p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000
    }

    /// The median of `values` (not necessarily latencies): what a benchmark quotes.
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
