import Foundation
import Synchronization
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAgent
@testable import TokenWattSender

/// The fake libnvidia-ml.so (`FakeNVMLLibrary`), compiled once per test run, in two builds:
/// a current driver, and an old one without nvmlDeviceGetTotalEnergyConsumption.
enum FakeNVML {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatt-fake-nvml-\(getpid())").path
    static let scenario = folder + "/scenario"
    static let current = build(name: "libnvidia-ml-current.so", defines: [])
    static let withoutEnergy = build(name: "libnvidia-ml-old.so", defines: ["-DWITHOUT_ENERGY"])

    private static func build(name: String, defines: [String]) -> Result<String, FakeNVMLLibrary.BuildError> {
        // The scenario's path is built in: setenv here would race the other tests' Process.run,
        // which copies the environment (a crash in CI).
        let output = folder + "/" + name
        return Result { () throws(FakeNVMLLibrary.BuildError) in
            try FakeNVMLLibrary.build(to: output, defines: ["-DFAKE_NVML_DEFAULT_SCENARIO=\"\(scenario)\""] + defines)
            return output
        }
    }

    static func setScenario(_ lines: String) throws {
        try lines.write(toFile: scenario, atomically: true, encoding: .utf8)
    }

    /// How often the fake's function was called, read through its test-only symbol; 0 while the
    /// library is not loaded yet.
    static func calls(_ function: String, library: String) -> Int {
        guard let handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD) else { return 0 }
        guard let symbol = dlsym(handle, "fake_nvml_calls") else { return -1 }
        defer { dlclose(handle) }
        return Int(unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>) -> Int32).self)(function))
    }
}

/// One process-wide fake library and scenario file: these tests run one at a time.
@Suite(.serialized) struct NvidiaCollectorTests {
    static let twoGPUs = """
        driver 550.54.15
        count 2
        gpu 0 uuid GPU-0aaa
        gpu 0 name NVIDIA H200
        gpu 0 utilization 45 20
        gpu 0 memory 150000000000 30000000000
        gpu 0 power 350250
        gpu 0 limit 700000
        gpu 0 energy 5000000
        gpu 0 temperature 61
        gpu 1 uuid GPU-1bbb
        gpu 1 name NVIDIA H200
        gpu 1 memory 150000000000 1000
        """

    @Test func readsEveryFieldInBaseUnitsAndLeavesUnsupportedOnesOut() async throws {
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario(NvidiaCollectorTests.twoGPUs)
        let collector = NvidiaCollector(libraryPath: library)
        let utilizationCalls = FakeNVML.calls("nvmlDeviceGetUtilizationRates", library: library)
        var samples: [ExpositionSample] = []
        for _ in 0..<3 { samples = try await collector.collect() }
        let gpu0 = ["gpu": "0", "uuid": "GPU-0aaa"]
        #expect(value(samples, "tokenwatt_gpu_info", gpu0.merging(["name": "NVIDIA H200", "vendor": "nvidia", "driver_version": "550.54.15"]) { $1 }) == 1)
        #expect(value(samples, "tokenwatt_gpu_up", gpu0) == 1)
        #expect(value(samples, "tokenwatt_gpu_utilization_ratio", gpu0) == 0.45)
        #expect(value(samples, "tokenwatt_gpu_memory_utilization_ratio", gpu0) == 0.2)
        #expect(value(samples, "tokenwatt_gpu_memory_used_bytes", gpu0) == 30_000_000_000)
        #expect(value(samples, "tokenwatt_gpu_memory_total_bytes", gpu0) == 150_000_000_000)
        #expect(value(samples, "tokenwatt_gpu_power_watts", gpu0) == 350.25)
        #expect(value(samples, "tokenwatt_gpu_power_limit_watts", gpu0) == 700)
        #expect(value(samples, "tokenwatt_gpu_energy_joules_total", gpu0.merging(["method": "counter"]) { $1 }) == 5_000)
        #expect(value(samples, "tokenwatt_gpu_temperature_celsius", gpu0) == 61)
        // GPU 1 answers NOT_SUPPORTED for all but memory: those series are absent, never 0,
        // and utilisation was asked once for it, then no more
        let gpu1Series = Set(samples.filter { $0.labels.contains(Label("uuid", "GPU-1bbb")) }.map(\.name))
        #expect(gpu1Series == ["tokenwatt_gpu_info", "tokenwatt_gpu_up", "tokenwatt_gpu_memory_used_bytes", "tokenwatt_gpu_memory_total_bytes"])
        #expect(FakeNVML.calls("nvmlDeviceGetUtilizationRates", library: library) - utilizationCalls == 3 + 1)
    }

    @Test func noLibraryOrNoDriverIsNoDataAndInitIsNotRepeatedEachRun() async throws {
        await #expect(throws: CollectorError.self) { try await NvidiaCollector(libraryPath: "/nonexistent/libnvidia-ml.so.1").collect() }
        do {
            _ = try await NvidiaCollector(libraryPath: "/nonexistent/libnvidia-ml.so.1").collect()
        } catch {
            guard case .noData(let reason) = error else { Issue.record("expected no data, got \(error)"); return }
            #expect(reason.contains("NVML not loaded") && reason.contains("/nonexistent/libnvidia-ml.so.1"))
        }
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario("init 9\n")
        let collector = NvidiaCollector(libraryPath: library)
        let initCalls = FakeNVML.calls("nvmlInit_v2", library: library)
        for _ in 0..<3 {
            await #expect(throws: CollectorError.noData("nvmlInit_v2: Fake NVML error (DRIVER_NOT_LOADED)")) { try await collector.collect() }
        }
        #expect(FakeNVML.calls("nvmlInit_v2", library: library) - initCalls == 1)
        try FakeNVML.setScenario("count 0\n")
        await #expect(throws: CollectorError.noData("NVML sees no GPU")) { try await NvidiaCollector(libraryPath: library).collect() }
    }

    @Test func anOldDriverWithoutTheEnergyCounterGetsIntegratedEnergy() async throws {
        let library = try FakeNVML.withoutEnergy.get()
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-old\ngpu 0 power 200000\ngpu 0 energy 123\n")
        let clock = Mutex(0.0)
        let collector = NvidiaCollector(libraryPath: library, now: { clock.withLock { $0 } })
        _ = try await collector.collect()
        clock.withLock { $0 = 10 }
        let samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_gpu_energy_joules_total", ["uuid": "GPU-old", "method": "integrated"]) == 2_000)
        #expect(value(samples, "tokenwatt_gpu_energy_joules_total", ["method": "counter"]) == nil)
    }

    @Test func aRefusedHandleSkipsThatGPUOnly() async throws {
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario(NvidiaCollectorTests.twoGPUs + "\ngpu 0 handle 4\n")
        let samples = try await NvidiaCollector(libraryPath: library).collect()
        #expect(Set(samples.compactMap { $0.labels.first { $0.name == "uuid" }?.value }) == ["GPU-1bbb"])
    }

    @Test func aLostGPUGoesDownWhileTheOthersGoOn() async throws {
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario(NvidiaCollectorTests.twoGPUs)
        let collector = NvidiaCollector(libraryPath: library)
        _ = try await collector.collect()
        try FakeNVML.setScenario(NvidiaCollectorTests.twoGPUs + "\ngpu 0 fail all 15\n")
        let samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_gpu_up", ["uuid": "GPU-0aaa"]) == 0)
        #expect(value(samples, "tokenwatt_gpu_power_watts", ["uuid": "GPU-0aaa"]) == nil)
        #expect(value(samples, "tokenwatt_gpu_up", ["uuid": "GPU-1bbb"]) == 1)
        #expect(value(samples, "tokenwatt_gpu_memory_used_bytes", ["uuid": "GPU-1bbb"]) == 1_000)
    }

    @Test func anEnergyCounterThatRestartsIsAResetNotADrop() async throws {
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-e\ngpu 0 energy 5000000\n")
        let collector = NvidiaCollector(libraryPath: library)
        _ = try await collector.collect()
        // The driver reloaded: its counter starts again from zero
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-e\ngpu 0 energy 1000000\n")
        #expect(value(try await collector.collect(), "tokenwatt_gpu_energy_joules_total") == 6_000)
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-e\ngpu 0 energy 1500000\n")
        #expect(value(try await collector.collect(), "tokenwatt_gpu_energy_joules_total") == 6_500)
    }

    /// One operation under the scheduler's deadlines: its result, or the failure at its timeout.
    static func withDeadline(_ timeout: Duration, _ operation: @escaping @Sendable () async throws(CollectorError) -> [ExpositionSample])
        async -> Result<[ExpositionSample], CollectorError> {
        let result = Mutex<Result<[ExpositionSample], CollectorError>?>(nil)
        await CollectorScheduler.withDeadlines([(timeout, operation)]) { _, handed in result.withLock { $0 = handed } }
        return result.withLock { $0! }
    }

    @Test func aHungCallMarksTheCollectorDownWithoutBlockingAndRecovers() async throws {
        let library = try FakeNVML.current.get()
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-h\ngpu 0 power 100000\n")
        let collector = NvidiaCollector(libraryPath: library)
        _ = try await collector.collect()
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-h\ngpu 0 power 100000\ngpu 0 hang 5\n")
        let clock = ContinuousClock()
        let started = clock.now
        // The scheduler's deadline gives up on the run...
        let first = await NvidiaCollectorTests.withDeadline(.milliseconds(300)) { () async throws(CollectorError) in try await collector.collect() }
        #expect(first == .failure(.failed("did not finish within 0.3 seconds")))
        // ...and the next run fails at once instead of queueing behind the hung call
        let second = await NvidiaCollectorTests.withDeadline(.milliseconds(300)) { () async throws(CollectorError) in try await collector.collect() }
        guard case .failure(.failed(let reason)) = second else { Issue.record("expected a failure, got \(second)"); return }
        #expect(reason.hasPrefix("an NVML call has not returned"))
        // Well before the 5 s hang ends (with room for a machine busy with other tests).
        #expect(started.duration(to: clock.now) < .seconds(2.5))
        // Once the call returns, the collector works again
        try FakeNVML.setScenario("count 1\ngpu 0 uuid GPU-h\ngpu 0 power 100000\n")
        try await Task.sleep(for: .milliseconds(5_500))
        #expect(value(try await collector.collect(), "tokenwatt_gpu_power_watts") == 100)
    }
}
