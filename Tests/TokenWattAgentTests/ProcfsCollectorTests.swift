import Foundation
import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattSender

/// The value of the sample named `name` whose labels include `labels`.
func value(_ samples: [ExpositionSample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    samples.first { sample in
        sample.name == name && labels.allSatisfy { key, value in sample.labels.contains(Label(key, value)) }
    }?.value
}

@Suite struct ProcfsCollectorTests {
    static func stat(_ cpus: [[Int]]) -> String {
        var lines = ["cpu  1 2 3 4 5 6 7 8 9 10"]  // the aggregate line, which the collector does not use
        for (index, ticks) in cpus.enumerated() { lines.append("cpu\(index) " + ticks.map(String.init).joined(separator: " ")) }
        return (lines + ["intr 1 2 3", "ctxt 100"]).joined(separator: "\n") + "\n"
    }

    @Test func cpuSecondsStayMonotonicThroughStepsBackAndHotplug() async throws {
        let tree = try FixtureTree(["stat": ProcfsCollectorTests.stat([[100, 0, 50, 800, 10, 0, 5, 0, 30, 0], [100, 0, 50, 800, 10, 0, 5, 0, 0, 0]])])
        defer { tree.remove() }
        let collector = CPUCollector(procfs: SystemFiles(root: tree.root), ticksPerSecond: 100)
        // Given the first reading: ticks since boot, guest left out (it is inside user already)
        var samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "user"]) == 2)
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "idle"]) == 16)
        let sinceBoot: Double = 1 - 1620.0 / 1930.0  // not idle nor iowait, of all ticks
        #expect(value(samples, "tokenwatt_cpu_utilization_ratio") == sinceBoot)
        // When cpu0's iowait steps back and cpu1 goes offline and comes back with its idle far lower
        try tree.write("stat", ProcfsCollectorTests.stat([[150, 0, 50, 850, 8, 0, 5, 0, 0, 0], [10, 0, 5, 20, 0, 0, 0, 0, 0, 0]]))
        samples = try await collector.collect()
        // Then only cpu0's forward steps count: 50 ticks of user and 50 of idle, no drop anywhere
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "user"]) == 2.5)
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "idle"]) == 16.5)
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "iowait"]) == 0.2)
        #expect(value(samples, "tokenwatt_cpu_utilization_ratio") == 0.5)
        // And iowait counts again only once it passes where it was
        try tree.write("stat", ProcfsCollectorTests.stat([[150, 0, 50, 850, 12, 0, 5, 0, 0, 0], [10, 0, 5, 20, 0, 0, 0, 0, 0, 0]]))
        samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_cpu_seconds_total", ["mode": "iowait"]) == 0.22)
    }

    @Test func memoryFromMemAvailableOrFromFreeAndCache() async throws {
        let tree = try FixtureTree(["meminfo": "MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    6000 kB\nBuffers:          500 kB\nCached:          3000 kB\n"])
        defer { tree.remove() }
        let collector = MemoryCollector(procfs: SystemFiles(root: tree.root))
        var samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_memory_total_bytes") == 16_000.0 * 1024)
        #expect(value(samples, "tokenwatt_memory_used_bytes") == 10_000.0 * 1024)
        // A kernel older than 3.14 has no MemAvailable
        try tree.write("meminfo", "MemTotal:       16000 kB\nMemFree:         1000 kB\nBuffers:          500 kB\nCached:          3000 kB\n")
        samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_memory_used_bytes") == 11_500.0 * 1024)
        try tree.write("meminfo", "garbage\n")
        await #expect(throws: CollectorError.failed("no MemTotal in \(tree.root)/meminfo")) { try await collector.collect() }
    }

    @Test func readsThisMachinesRealProc() async throws {
        let cpu = try await CPUCollector(procfs: SystemFiles(root: "/proc")).collect()
        let memory = try await MemoryCollector(procfs: SystemFiles(root: "/proc")).collect()
        #expect(try #require(value(cpu, "tokenwatt_cpu_seconds_total", ["mode": "idle"])) > 0)
        let ratio = try #require(value(cpu, "tokenwatt_cpu_utilization_ratio"))
        #expect(ratio >= 0 && ratio <= 1)
        let total = try #require(value(memory, "tokenwatt_memory_total_bytes"))
        let used = try #require(value(memory, "tokenwatt_memory_used_bytes"))
        #expect(total > 0 && used > 0 && used < total)
    }

    @Test func aMissingProcfsIsAFailureWithThePath() async {
        let collector = CPUCollector(procfs: SystemFiles(root: "/nonexistent-procfs"))
        await #expect(throws: CollectorError.failed("/nonexistent-procfs/stat: No such file or directory")) { try await collector.collect() }
    }
}
