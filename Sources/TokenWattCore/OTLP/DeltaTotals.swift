/// OTLP's delta temporality as a counter: each delta added to a running total. One rule for
/// the aggregator (the total is a series' newest stored sample) and for the agent's relay (the
/// total it last relayed, with no time: every delta is later than it).
public enum DeltaTotals {
    /// Why deltas are left out.
    public static let lateReason = "delta points at or before their series' newest point (already counted, or out of order)"
    public static let overflowReason = "delta points that would take their counter past the largest number"

    /// The cumulative series for `deltas` on top of `latest` (the newest sample, or the total
    /// at `Int64.min`); left out, and counted: deltas at or before it (already counted, or out
    /// of order: adding them again would count them twice), and deltas that would take the
    /// total past the largest number (`overflowing`).
    public static func accumulate(_ deltas: [Sample], onto latest: Sample?) -> (samples: [Sample], late: Int, overflowing: Int) {
        var total = latest.map { $0.value.isFinite ? $0.value : 0 } ?? 0
        var last = latest?.timestamp ?? .min
        var samples: [Sample] = []
        var late = 0, overflowing = 0
        for delta in deltas.sorted(by: { $0.timestamp < $1.timestamp }) {
            guard delta.timestamp > last else {
                late += 1
                continue
            }
            guard (total + delta.value).isFinite else {
                overflowing += 1
                continue
            }
            total += delta.value
            last = delta.timestamp
            samples.append(Sample(timestamp: delta.timestamp, value: total))
        }
        return (samples, late, overflowing)
    }
}
