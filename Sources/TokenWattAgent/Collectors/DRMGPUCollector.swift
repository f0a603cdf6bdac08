import Foundation
import Synchronization
import TokenWattCore
import TokenWattSender

/// AMD and Intel GPUs through sysfs drm and hwmon: `gpu_busy_percent`, `mem_info_vram_*`,
/// `power1_average` or `power1_input` (µW), `energy1_input` (µJ, Intel). Energy comes from the
/// counter where there is one, else integrated from power (`method="integrated"`).
final class DRMGPUCollector: Collector {
    static let vendors = ["0x1002": "amd", "0x8086": "intel"]

    private struct GPUState {
        var counter = MonotonicCounter()
        var integrator = PowerIntegrator(maxGapSeconds: 300)
    }

    let name = "drm"
    private let sysfs: SystemFiles
    private let now: @Sendable () -> Double
    private let state = Mutex<[String: GPUState]>([:])

    init(sysfs: SystemFiles, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.sysfs = sysfs
        self.now = now
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let cards = sysfs.list("class/drm").filter { $0.hasPrefix("card") && $0.dropFirst(4).allSatisfy(\.isNumber) }
        let gpus = cards.compactMap { card -> (card: String, vendor: String)? in
            guard let id = sysfs.text("class/drm/\(card)/device/vendor"), let vendor = DRMGPUCollector.vendors[id] else { return nil }
            return (card, vendor)
        }
        guard !gpus.isEmpty else { throw .noData("no AMD or Intel GPU under \(sysfs.path("class/drm"))") }
        var samples = SampleList()
        let seconds = now()
        for gpu in gpus {
            let device = "class/drm/\(gpu.card)/device"
            // The PCI address is stable where the card number is not.
            let uuid = sysfs.text("\(device)/unique_id")
                ?? URL(fileURLWithPath: sysfs.path(device)).resolvingSymlinksInPath().lastPathComponent
            let labels = [("gpu", gpu.card), ("uuid", uuid)]
            let driver = (try? FileManager.default.destinationOfSymbolicLink(atPath: sysfs.path("\(device)/driver")))
                .map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
            let product = sysfs.text("\(device)/product_name")
            samples.add(.gpuInfo, 1, labels + [("name", product ?? "\(gpu.vendor) GPU"), ("vendor", gpu.vendor), ("driver_version", driver)])
            samples.add(.gpuUp, 1, labels)
            if let busy = sysfs.number("\(device)/gpu_busy_percent") { samples.add(.gpuUtilizationRatio, busy / 100, labels) }
            if let used = sysfs.number("\(device)/mem_info_vram_used") { samples.add(.gpuMemoryUsedBytes, used, labels) }
            if let total = sysfs.number("\(device)/mem_info_vram_total") { samples.add(.gpuMemoryTotalBytes, total, labels) }

            let hwmon = sysfs.list("\(device)/hwmon").first.map { "\(device)/hwmon/\($0)" }
            let microwatts = hwmon.flatMap { sysfs.number("\($0)/power1_average") ?? sysfs.number("\($0)/power1_input") }
            let microjoules = hwmon.flatMap { sysfs.number("\($0)/energy1_input") }
            if let microwatts { samples.add(.gpuPowerWatts, microwatts / 1e6, labels) }
            let energy: (joules: Double, method: String)? = state.withLock { states in
                var gpuState = states[uuid] ?? GPUState()
                defer { states[uuid] = gpuState }
                if let microjoules {
                    gpuState.counter.add(microjoules / 1e6)
                    return gpuState.counter.total.map { ($0, "counter") }
                }
                guard let microwatts else { return nil }
                gpuState.integrator.add(watts: microwatts / 1e6, atSeconds: seconds)
                return (gpuState.integrator.joules, "integrated")
            }
            if let energy { samples.add(.gpuEnergyJoules, energy.joules, labels + [("method", energy.method)]) }
        }
        return samples.samples
    }
}
