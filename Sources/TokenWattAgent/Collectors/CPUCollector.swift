import Foundation
import Synchronization
import TokenWattCore
import TokenWattSender

/// `/proc/stat` → `tokenwatt_cpu_seconds_total{mode}` and `tokenwatt_cpu_utilization_ratio`.
///
/// The kernel's per-CPU tick counters can step back (iowait does; a CPU taken offline and back
/// restarts): each CPU is followed on its own, only forward steps are added, and a large step
/// back of a CPU's idle time re-bases that CPU, so the exported counters never decrease.
final class CPUCollector: Collector {
    /// The modes of a `cpu` line, in order.
    static let modes = CPUModes.all
    private static let idle = modes.firstIndex(of: "idle")!
    /// The modes that are not work, for the utilisation.
    private static let notWorking = modes.indices.filter { CPUModes.idle.contains(modes[$0]) }

    private struct State {
        var lastTicks: [String: [Double]] = [:]  // per CPU, per mode
        var totalTicks = [Double](repeating: 0, count: CPUCollector.modes.count)
        var started = false
    }

    let name = "cpu"
    private let procfs: SystemFiles
    private let ticksPerSecond: Double
    private let state = Mutex(State())

    init(procfs: SystemFiles, ticksPerSecond: Double = Double(sysconf(Int32(_SC_CLK_TCK)))) {
        self.procfs = procfs
        self.ticksPerSecond = ticksPerSecond
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let text: String
        switch procfs.read("stat") {
        case .success(let content): text = content
        case .failure(let error): throw .failed("\(error)")
        }
        let perCPU = CPUCollector.parse(text)
        guard !perCPU.isEmpty else { throw .failed("no cpuN lines in \(procfs.path("stat"))") }
        let (totals, step) = state.withLock { state in
            var step = [Double](repeating: 0, count: CPUCollector.modes.count)
            for (cpu, ticks) in perCPU {
                guard let last = state.lastTicks[cpu] else {
                    // On the first run every CPU's ticks since boot count; a CPU that comes
                    // online later starts from its reading then.
                    if !state.started { for mode in ticks.indices { step[mode] += ticks[mode] } }
                    state.lastTicks[cpu] = ticks
                    continue
                }
                if last[CPUCollector.idle] - ticks[CPUCollector.idle] > ticksPerSecond {
                    state.lastTicks[cpu] = ticks  // back from hotplug: re-base, add nothing
                    continue
                }
                var kept = last
                for mode in ticks.indices where ticks[mode] > last[mode] {
                    step[mode] += ticks[mode] - last[mode]
                    kept[mode] = ticks[mode]
                }
                state.lastTicks[cpu] = kept
            }
            for mode in step.indices { state.totalTicks[mode] += step[mode] }
            state.started = true
            return (state.totalTicks, step)
        }
        var samples = SampleList()
        for (mode, name) in CPUCollector.modes.enumerated() {
            samples.add(.cpuSeconds, totals[mode] / ticksPerSecond, [("mode", name)])
        }
        // Over the step since the last run (since boot on the first run).
        let all = step.reduce(0, +)
        if all > 0 {
            samples.add(.cpuUtilizationRatio, 1 - CPUCollector.notWorking.map { step[$0] }.reduce(0, +) / all)
        }
        return samples.samples
    }

    /// The `cpuN` lines of `/proc/stat`: ticks per mode (missing trailing fields as 0).
    static func parse(_ text: String) -> [(cpu: String, ticks: [Double])] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first, first.hasPrefix("cpu"), first.count > 3 else { return nil }
            var ticks = fields.dropFirst().prefix(modes.count).compactMap { Double($0) }
            guard ticks.count >= 4 else { return nil }
            ticks += [Double](repeating: 0, count: modes.count - ticks.count)
            return (String(first), ticks)
        }
    }
}
