import Foundation
import Synchronization
import TokenWattCore
import TokenWattSender

/// Powercap RAPL zones → `tokenwatt_cpu_energy_joules_total{zone}`.
///
/// `energy_uj` wraps at `max_energy_range_uj`; without that file a step back is skipped, never
/// booked as a negative increase. Since Linux 5.10 `energy_uj` is readable by root only: a zone
/// that answers EACCES is missing (never 0 W), and when none is readable the collector is down
/// with the reason and the ways round it.
final class RAPLCollector: Collector {
    let name = "rapl"
    private let sysfs: SystemFiles
    private let counters = Mutex<[String: MonotonicCounter]>([:])

    init(sysfs: SystemFiles) {
        self.sysfs = sysfs
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let zones = RAPLCollector.zones(in: sysfs)
        guard !zones.isEmpty else { throw .noData("no RAPL zones under \(sysfs.path("class/powercap"))") }
        var samples = SampleList()
        var refused: [String] = []
        var failures: [String] = []
        for zone in zones {
            switch sysfs.read("class/powercap/\(zone.directory)/energy_uj") {
            case .failure(let error):
                if error.code == EACCES { refused.append(zone.label) } else { failures.append("\(error)") }
            case .success(let text):
                guard let microjoules = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    failures.append("\(zone.label): energy_uj is not a number")
                    continue
                }
                let wrapsAt = sysfs.number("class/powercap/\(zone.directory)/max_energy_range_uj").map { $0 / 1e6 }
                let total = counters.withLock { counters in
                    var counter = counters[zone.label] ?? MonotonicCounter()
                    counter.wrapsAt = wrapsAt
                    counter.add(microjoules / 1e6)
                    counters[zone.label] = counter
                    return counter.total
                }
                if let total { samples.add(.cpuEnergyJoules, total, [("zone", zone.label)]) }
            }
        }
        if samples.samples.isEmpty {
            if !refused.isEmpty {
                throw .failed("""
                    energy_uj of \(refused.joined(separator: ", ")) is readable by root only (EACCES, Linux 5.10 and later): \
                    run the agent as root, give its group read access with a udev rule, or grant CAP_DAC_READ_SEARCH \
                    as an ambient capability in its unit
                    """)
            }
            throw .failed(failures.joined(separator: "; "))
        }
        return samples.samples
    }

    /// The zones and subzones (`intel-rapl:0`, `intel-rapl:0:1`), labelled by their names:
    /// `package-0`, `package-0/dram`, made safe for a label value.
    static func zones(in sysfs: SystemFiles) -> [(directory: String, label: String)] {
        let directories = sysfs.list("class/powercap").filter { $0.hasPrefix("intel-rapl:") || $0.hasPrefix("amd-rapl:") }
        var names: [String: String] = [:]
        for directory in directories {
            names[directory] = sysfs.text("class/powercap/\(directory)/name").map(sanitize)
        }
        return directories.compactMap { directory in
            guard let name = names[directory] else { return nil }
            // A subzone's directory is its parent's plus ":N".
            let parent = directory.split(separator: ":").count > 2 ? String(directory[..<directory.lastIndex(of: ":")!]) : nil
            return (directory, parent.flatMap { names[$0] }.map { "\($0)/\(name)" } ?? name)
        }
    }

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    }
}
