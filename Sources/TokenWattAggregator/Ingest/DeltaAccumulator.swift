import TokenWattCore
import TokenWattStore

/// Turns OTLP's delta temporality into the cumulative counters Prometheus-style queries read:
/// each delta is added to the newest sample the store holds for its series. That sample is the
/// only state, so it is as durable as the samples and survives restarts with them; pushes that
/// carry deltas take turns, each reading what the one before it committed.
final class DeltaAccumulator: Sendable {
    private let turns = RunsInTurn()

    /// Runs `work` (which accumulates and writes) after every earlier push with deltas is done.
    func inTurn<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await turns.run(work)
    }

    /// The cumulative series for `deltas` on top of `latest`, the series' newest stored sample;
    /// left out, and counted: deltas at or before it (already counted, or out of order: adding
    /// them again would count them twice), and deltas that would take the total past the
    /// largest number (`overflowing`).
    static func accumulate(_ deltas: [Sample], onto latest: Sample?) -> (samples: [Sample], late: Int, overflowing: Int) {
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
