import Foundation
import Synchronization
import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattSender

@Suite struct SysfsCollectorTests {
    @Test func raplCountsThroughAWrapAndNamesSubzones() async throws {
        let tree = try FixtureTree([
            "class/powercap/intel-rapl:0/name": "package-0\n",
            "class/powercap/intel-rapl:0/energy_uj": "262000000000\n",
            "class/powercap/intel-rapl:0/max_energy_range_uj": "262143328850\n",
            "class/powercap/intel-rapl:0:0/name": "dram\n",
            "class/powercap/intel-rapl:0:0/energy_uj": "5000000\n",
            "class/powercap/intel-rapl:0:0/max_energy_range_uj": "65532610987\n",
        ])
        defer { tree.remove() }
        let collector = RAPLCollector(sysfs: SystemFiles(root: tree.root))
        var samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_cpu_energy_joules_total", ["zone": "package-0"]) == 262_000)
        #expect(value(samples, "tokenwatt_cpu_energy_joules_total", ["zone": "package-0/dram"]) == 5)
        // The package counter wraps: 143.32885 J to the top, then 100 J from zero
        try tree.write("class/powercap/intel-rapl:0/energy_uj", "100000000\n")
        samples = try await collector.collect()
        let package = try #require(value(samples, "tokenwatt_cpu_energy_joules_total", ["zone": "package-0"]))
        #expect(abs(package - (262_000 + 143.32885 + 100)) < 1e-6)
    }

    @Test func raplWithoutAWrapPointSkipsAStepBackInsteadOfCountingIt() async throws {
        let tree = try FixtureTree(["class/powercap/intel-rapl:0/name": "package-0", "class/powercap/intel-rapl:0/energy_uj": "9000000"])
        defer { tree.remove() }
        let collector = RAPLCollector(sysfs: SystemFiles(root: tree.root))
        _ = try await collector.collect()
        try tree.write("class/powercap/intel-rapl:0/energy_uj", "1000000")
        #expect(value(try await collector.collect(), "tokenwatt_cpu_energy_joules_total") == 9)
        try tree.write("class/powercap/intel-rapl:0/energy_uj", "3000000")
        #expect(value(try await collector.collect(), "tokenwatt_cpu_energy_joules_total") == 11)
    }

    @Test func raplAbsentIsNoData() async throws {
        let tree = try FixtureTree(["class/powercap/dtpm/name": "dtpm"])
        defer { tree.remove() }
        await #expect(throws: CollectorError.noData("no RAPL zones under \(tree.root)/class/powercap")) {
            try await RAPLCollector(sysfs: SystemFiles(root: tree.root)).collect()
        }
    }

    @Test func hwmonReportsPowerAndEnergyButLeavesGPUsToTheirCollectors() async throws {
        let tree = try FixtureTree([
            "class/hwmon/hwmon0/name": "acpi_power_meter\n",
            "class/hwmon/hwmon0/power1_average": "312500000\n",
            "class/hwmon/hwmon1/name": "amdgpu\n",
            "class/hwmon/hwmon1/power1_average": "99000000\n",
            "class/hwmon/hwmon2/name": "spd5118\n",
            "class/hwmon/hwmon2/power1_input": "1500000\n",
            "class/hwmon/hwmon2/energy1_input": "7000000\n",
            "class/hwmon/hwmon3/name": "spd5118\n",
            "class/hwmon/hwmon3/power1_input": "2500000\n",
        ])
        defer { tree.remove() }
        let samples = try await HwmonCollector(sysfs: SystemFiles(root: tree.root)).collect()
        #expect(value(samples, "tokenwatt_hwmon_power_watts", ["chip": "acpi_power_meter", "sensor": "power1"]) == 312.5)
        #expect(value(samples, "tokenwatt_hwmon_power_watts", ["chip": "spd5118", "sensor": "power1"]) == 1.5)
        #expect(value(samples, "tokenwatt_hwmon_power_watts", ["chip": "spd5118-hwmon3", "sensor": "power1"]) == 2.5)
        #expect(value(samples, "tokenwatt_hwmon_energy_joules_total", ["chip": "spd5118", "sensor": "energy1"]) == 7)
        #expect(!samples.contains { $0.labels.contains(Label("chip", "amdgpu")) })
    }

    @Test func drmReadsAnAMDCardAndIntegratesItsPower() async throws {
        let tree = try FixtureTree([
            "class/drm/card0/device/vendor": "0x1002\n",
            "class/drm/card0/device/unique_id": "a1b2c3d4\n",
            "class/drm/card0/device/product_name": "AMD Instinct MI300X\n",
            "class/drm/card0/device/gpu_busy_percent": "73\n",
            "class/drm/card0/device/mem_info_vram_used": "1073741824\n",
            "class/drm/card0/device/mem_info_vram_total": "206158430208\n",
            "class/drm/card0/device/hwmon/hwmon5/power1_average": "400000000\n",
            "class/drm/card0-DP-1/status": "connected\n",
            "class/drm/card1/device/vendor": "0x10de\n",  // NVIDIA: the nvidia collector's
        ])
        defer { tree.remove() }
        let clock = Mutex(1_000.0)
        let collector = DRMGPUCollector(sysfs: SystemFiles(root: tree.root), now: { clock.withLock { $0 } })
        _ = try await collector.collect()
        clock.withLock { $0 += 10 }
        try tree.write("class/drm/card0/device/hwmon/hwmon5/power1_average", "600000000\n")
        let samples = try await collector.collect()
        let gpu = ["gpu": "card0", "uuid": "a1b2c3d4"]
        #expect(value(samples, "tokenwatt_gpu_info", gpu.merging(["vendor": "amd", "name": "AMD Instinct MI300X"]) { $1 }) == 1)
        #expect(value(samples, "tokenwatt_gpu_utilization_ratio", gpu) == 0.73)
        #expect(value(samples, "tokenwatt_gpu_memory_used_bytes", gpu) == 1_073_741_824)
        #expect(value(samples, "tokenwatt_gpu_power_watts", gpu) == 600)
        // 10 s between 400 W and 600 W: 5,000 J by trapezoids
        #expect(value(samples, "tokenwatt_gpu_energy_joules_total", gpu.merging(["method": "integrated"]) { $1 }) == 5_000)
        #expect(!samples.contains { $0.labels.contains(Label("gpu", "card1")) })
    }

    @Test func drmUsesIntelsEnergyCounterAndThePCIAddress() async throws {
        let tree = try FixtureTree([
            "devices/pci0000:00/0000:00:02.0/vendor": "0x8086\n",
            "devices/pci0000:00/0000:00:02.0/hwmon/hwmon2/energy1_input": "42000000\n",
            "devices/pci0000:00/0000:00:02.0/hwmon/hwmon2/power1_input": "15000000\n",
        ])
        defer { tree.remove() }
        try tree.link("class/drm/card0/device", to: "../../../devices/pci0000:00/0000:00:02.0")
        let samples = try await DRMGPUCollector(sysfs: SystemFiles(root: tree.root)).collect()
        let gpu = ["gpu": "card0", "uuid": "0000:00:02.0"]
        #expect(value(samples, "tokenwatt_gpu_energy_joules_total", gpu.merging(["method": "counter"]) { $1 }) == 42)
        #expect(value(samples, "tokenwatt_gpu_power_watts", gpu) == 15)
        #expect(value(samples, "tokenwatt_gpu_info", ["vendor": "intel"]) == 1)
    }
}
