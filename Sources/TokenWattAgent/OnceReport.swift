import TokenWattCore
import TokenWattSender
import TokenWattService

/// What `tokenwatt-agent --once` says on standard error beside the exposition it prints: each
/// collector that is down with its reason and the fix (`CollectorRemedy`), then what it found:
/// GPUs, where the node's power is measured, inference servers, and what the aggregator
/// answered to an empty push.
public struct OnceReport: Sendable {
    /// Each collector that is down: its name, reason and fix, by name.
    public var down: [(collector: String, reason: String, fix: String)]
    public var gpus: [String]
    public var power: [String]
    public var servers: [String]
    public var push: String

    /// Builds the report of one round's samples and failures; `push` is what the aggregator said.
    init(samples: [ExpositionSample], failures: [String: CollectorError], collectors: [String], push: String) {
        down = failures.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)", CollectorRemedy.fix(collector: $0.key, error: $0.value)) }
        func label(_ name: String, of sample: ExpositionSample) -> String { sample.labels.first { $0.name == name }?.value ?? "" }
        gpus = samples.filter { $0.name == MetricDescriptor.gpuInfo.seriesName }.map { sample in
            "\(label("gpu", of: sample)): \(label("name", of: sample)) (\(label("vendor", of: sample)))"
        }.sorted()
        let sources: [(MetricDescriptor, String)] = [
            (.nodeEnergyJoules, "the whole node (bmc)"), (.gpuEnergyJoules, "GPUs (nvidia, drm)"),
            (.cpuEnergyJoules, "CPU packages (rapl)"), (.hwmonEnergyJoules, "hwmon sensors"),
        ]
        power = sources.filter { source in samples.contains { $0.name == source.0.seriesName } }.map(\.1)
        servers = collectors.filter { $0.hasPrefix(inferenceCollectorPrefix) }.map { name in
            let address = String(name.dropFirst(inferenceCollectorPrefix.count))
            let kind = samples.first { label("server", of: $0) == address }.map { label("source", of: $0) } ?? ""
            return kind.isEmpty ? "\(address) (no answer yet)" : "\(kind) at \(address)"
        }
        self.push = push
    }

    /// The lines printed, in order.
    public var lines: [String] {
        down.map { "down: \($0.collector): \($0.reason) — \($0.fix)" } + [
            "GPUs: " + (gpus.isEmpty ? "none found" : gpus.joined(separator: ", ")),
            "power measured: " + (power.isEmpty ? "nowhere: the aggregator estimates this node's power from its CPU utilisation" : power.joined(separator: ", ")),
            "inference servers: " + (servers.isEmpty ? "none found" : servers.joined(separator: ", ")),
            "push: " + push,
        ]
    }

    /// What the aggregator answers to an empty push with this agent's URL and token, in words.
    static func pushCheck(url: String, token: String?, client: OutboundClient) async -> String {
        let settings = Pusher.shipping(url: url, token: token)
        // A remote-write request of no series: snappy's encoding of nothing is one zero byte.
        switch await client.post([0], headers: settings.headers, timeout: .seconds(5), context: settings.context) {
        case .accepted: return "\(url) takes this node's pushes"
        case .refused(let answer): return "\(answer): the aggregator refused an empty push"
        case .failed(let failure): return failure.cause  // --once keeps nothing to retry
        }
    }
}
