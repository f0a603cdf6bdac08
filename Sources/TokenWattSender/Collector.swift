// Architecture. The folders of TokenWattSender, each depending only on folders listed below it
// and on the collector protocol in this file and its scheduler (CollectorScheduler): what a
// daemon that sends samples to the aggregator needs (the agent, the metering gateway), which
// Shipping assembles the same way for both. LayoutTests holds the code to this order.
//
//   Usage          usage reports from applications: their intake and their collector
//   Push           the spool and the pusher
//   State          the sender's database, saved counters, counters kept monotonic

import TokenWattCore

/// A source of samples: the agent's, one file per source under its `Collectors/` (registered in
/// `CollectorRegistry`), the usage intake's, the gateway's. The scheduler calls `collect()` on
/// the collector's own schedule, never twice at once, and gives up on it after `timeout`.
public protocol Collector: Sendable {
    /// The `collector` label of its own `tokenwatt_collector_*` series.
    var name: String { get }
    /// How often it runs; nil means the sender's interval.
    var interval: Duration? { get }
    /// How long one run may take before it counts as failed.
    var timeout: Duration { get }
    /// The samples of one run (series name, labels, value), or why there are none.
    func collect() async throws(CollectorError) -> [ExpositionSample]
}

extension Collector {
    public var interval: Duration? { nil }
    public var timeout: Duration { .seconds(5) }
}

/// Why a collector produced no samples. Both leave `tokenwatt_collector_up` at 0; the reason
/// goes to the log once each time it changes.
public enum CollectorError: Error, Equatable, CustomStringConvertible {
    /// The source is not on this node (no GPU library, no RAPL zones): a normal state.
    case noData(String)
    /// The source is there but could not be read.
    case failed(String)

    public var description: String {
        switch self {
        case .noData(let reason): "no data: \(reason)"
        case .failed(let reason): "failed: \(reason)"
        }
    }
}

/// Builds the samples of one run.
package struct SampleList {
    package private(set) var samples: [ExpositionSample] = []

    package init() {}

    package mutating func add(_ metric: MetricDescriptor, _ value: Double, _ labels: [(String, String)] = []) {
        samples.append(metric.sample(labels.map { Label($0.0, $0.1) }, value))
    }
}
