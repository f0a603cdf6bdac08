import TokenWattCore

/// A source of samples: one file per source under `Collectors/`, registered in
/// `CollectorRegistry`. The scheduler calls `collect()` on the collector's own schedule, never
/// twice at once, and gives up on it after `timeout`.
public protocol Collector: Sendable {
    /// The `collector` label of its own `tokenwatt_collector_*` series.
    var name: String { get }
    /// How often it runs; nil means the agent's interval.
    var interval: Duration? { get }
    /// How long one run may take before it counts as failed.
    var timeout: Duration { get }
    /// The samples of one run (series name, labels, value), or why there are none.
    func collect() async throws(CollectorError) -> [ExpositionSample]
}

/// The `collector` label of an inference server's collector: this, then the server's address.
let inferenceCollectorPrefix = "inference:"

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
struct SampleList {
    private(set) var samples: [ExpositionSample] = []

    mutating func add(_ metric: MetricDescriptor, _ value: Double, _ labels: [(String, String)] = []) {
        samples.append(metric.sample(labels.map { Label($0.0, $0.1) }, value))
    }
}
