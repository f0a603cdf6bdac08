import Synchronization
import TokenWattCore
import TokenWattSender

/// hwmon power and energy sensors other than GPUs' (those belong to the GPU collectors):
/// `powerN_input`/`powerN_average` (µW) → `tokenwatt_hwmon_power_watts{chip,sensor}`,
/// `energyN_input` (µJ) → `tokenwatt_hwmon_energy_joules_total{chip,sensor}`.
final class HwmonCollector: Collector {
    /// Chips the GPU collectors report.
    static let gpuChips: Set<String> = ["amdgpu", "i915", "xe", "nouveau"]

    let name = "hwmon"
    private let sysfs: SystemFiles
    private let counters = Mutex<[String: MonotonicCounter]>([:])

    init(sysfs: SystemFiles) {
        self.sysfs = sysfs
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let chips = sysfs.list("class/hwmon")
        guard !chips.isEmpty else { throw .noData("no hwmon devices under \(sysfs.path("class/hwmon"))") }
        var samples = SampleList()
        var seenNames: [String: Int] = [:]
        for directory in chips {
            guard let text = sysfs.text("class/hwmon/\(directory)/name") else { continue }
            let name = RAPLCollector.sanitize(text)
            guard !HwmonCollector.gpuChips.contains(name) else { continue }
            seenNames[name, default: 0] += 1
            // Two chips of one name (two NVMe drives) stay apart by their hwmon folder.
            let chip = seenNames[name]! > 1 ? "\(name)-\(directory)" : name
            let files = sysfs.list("class/hwmon/\(directory)")
            for sensor in HwmonCollector.sensors(in: files, prefix: "power") {
                // Most chips have one of the two; the average is the steadier where both exist.
                let microwatts = sysfs.number("class/hwmon/\(directory)/\(sensor)_average") ?? sysfs.number("class/hwmon/\(directory)/\(sensor)_input")
                if let microwatts { samples.add(.hwmonPowerWatts, microwatts / 1e6, [("chip", chip), ("sensor", sensor)]) }
            }
            for sensor in HwmonCollector.sensors(in: files, prefix: "energy") {
                guard let microjoules = sysfs.number("class/hwmon/\(directory)/\(sensor)_input") else { continue }
                let key = "\(chip)/\(sensor)"
                let total = counters.withLock { counters in
                    counters[key, default: MonotonicCounter()].add(microjoules / 1e6)
                    return counters[key]!.total!
                }
                samples.add(.hwmonEnergyJoules, total, [("chip", chip), ("sensor", sensor)])
            }
        }
        return samples.samples
    }

    /// The sensors (`power1`, `energy2`, ...) among a chip's files (`power1_input`, ...).
    static func sensors(in files: [String], prefix: String) -> [String] {
        let names = files.compactMap { file -> String? in
            guard file.hasPrefix(prefix), let underscore = file.firstIndex(of: "_") else { return nil }
            let number = file[file.index(file.startIndex, offsetBy: prefix.count)..<underscore]
            return !number.isEmpty && number.allSatisfy(\.isNumber) ? String(file[..<underscore]) : nil
        }
        return Array(Set(names)).sorted()
    }
}
