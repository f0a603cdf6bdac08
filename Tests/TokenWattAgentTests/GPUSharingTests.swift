import Foundation
import Synchronization
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAgent

/// The split of a GPU's energy, worked by hand: every joule goes to exactly one consumer.
@Suite struct GPUEnergySplitTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var weights: [String: Double]
        /// Joules after a first reading at 1,000 J and 100 W, then 61,000 J 60 s later.
        var expected: [String: Double]
    }

    static let cases: [Case] = [
        // 60,000 J: 100 W × 60 s idle, 54,000 J active shared 3:1.
        Case(testDescription: "two consumers", weights: ["a": 60, "b": 20], expected: ["idle": 6_000, "a": 40_500, "b": 13_500]),
        Case(testDescription: "no process", weights: [:], expected: ["idle": 6_000, "unattributed": 54_000]),
        // A weight of 0, a negative one, a NaN: nothing for them.
        Case(testDescription: "hostile weights", weights: ["a": 1, "b": 0, "c": -5, "d": .nan], expected: ["idle": 6_000, "a": 54_000]),
        Case(testDescription: "thirds", weights: ["a": 1, "b": 1, "c": 1], expected: ["idle": 6_000, "a": 18_000, "b": 18_000, "c": 18_000]),
    ]

    @Test(arguments: cases)
    func everyJouleGoesToOneConsumer(_ c: Case) {
        var split = GPUEnergySplit()
        split.add(energy: 1_000, atSeconds: 0, watts: 100, weights: c.weights)
        #expect(split.joules.isEmpty)  // the first reading only sets where counting starts
        split.add(energy: 61_000, atSeconds: 60, watts: 400, weights: c.weights)
        #expect(split.joules.keys.sorted() == c.expected.keys.sorted())
        for (consumer, joules) in c.expected { #expect(abs((split.joules[consumer] ?? .nan) - joules) < 1e-9, "\(consumer)") }
        #expect(abs(split.joules.values.reduce(0, +) - 60_000) < 1e-9)
    }

    @Test func idleIsTheLowestPowerSeenAndNeverMoreThanTheEnergy() {
        var split = GPUEnergySplit()
        split.add(energy: 0, atSeconds: 0, watts: 300, weights: ["a": 1])
        split.add(energy: 100, atSeconds: 10, watts: 80, weights: ["a": 1])  // 10 W on average, below the 80 W idle
        #expect(split.idleWatts == 80 && split.joules == ["idle": 100, "a": 0])
        split.add(energy: 100, atSeconds: 20, watts: nil, weights: ["a": 1])  // no energy: nothing moves
        split.add(energy: 90, atSeconds: 30, watts: -1, weights: ["a": 1])  // a counter that went back: skipped
        #expect(split.joules.values.reduce(0, +) == 100 && split.idleWatts == 80)
    }
}

@Suite struct ProcessOwnerTests {
    @Test(arguments: [
        ("/system.slice/vllm.service", ProcessOwner(unit: "vllm.service")),
        ("/system.slice/docker-3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e.scope",
         ProcessOwner(container: "3f4e5d6c7b8a")),
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f_7a8b_9c0d_1e2f3a4b5c6d.slice/cri-containerd-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope",
         ProcessOwner(container: "aaaaaaaaaaaa", podUID: "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")),
        ("/kubepods/burstable/pod1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         ProcessOwner(container: "bbbbbbbbbbbb", podUID: "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")),
        ("/user.slice/user-1000.slice/session-3.scope", ProcessOwner(unit: "session-3.scope")),
        ("/", ProcessOwner()),
        ("/../../etc/passwd\u{0}pod", ProcessOwner()),
    ])
    func aCgroupPathNamesItsUnitContainerAndPod(_ path: String, _ expected: ProcessOwner) {
        #expect(ProcessOwner.parse(cgroupPath: path) == expected)
    }

    @Test func theConsumerIsTheMostSpecificOwnerKnown() {
        #expect(ProcessOwner(server: "127.0.0.1:8000", unit: "vllm.service").consumer == "127.0.0.1:8000")
        #expect(ProcessOwner(unit: "x.service", container: "abc", podUID: "u").consumer == "pod:u")
        #expect(ProcessOwner(unit: "x.service", container: "abc").consumer == "container:abc")
        #expect(ProcessOwner().consumer == "unattributed")
    }
}

extension NvidiaCollectorTests {
    static let container = String(repeating: "c0ffee", count: 11).prefix(64)

    /// A procfs with vLLM's API server (pid 4200) listening on port 8000 (0x1F40) and its engine
    /// core (4242) on the GPU, and a container's process (5151).
    static func procfs() throws -> FixtureTree {
        let tree = try FixtureTree([
            "net/tcp": """
                  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
                   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0
                   1: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 778 1 0000000000000000 20 4 30 10 -1

                """,
            "4200/status": "Name:\tvllm\nPPid:\t1\n",
            "4200/cgroup": "0::/system.slice/vllm.service\n",
            "4242/status": "Name:\tVLLM::EngineCore\nPPid:\t4200\n",
            "4242/cgroup": "0::/system.slice/vllm.service\n",
            "5151/status": "Name:\tpython\nPPid:\t1\n",
            "5151/cgroup": "0::/system.slice/docker-\(container).scope\n",
        ])
        try tree.link("4200/fd/3", to: "socket:[777]")
        try tree.link("4200/fd/4", to: "/dev/null")
        try tree.link("5151/fd/3", to: "socket:[778]")  // a connection, not a listener
        return tree
    }

    static func shared(energy: Int, power: Int, samplesAt timestamp: Int) -> String {
        """
        count 1
        gpu 0 uuid GPU-shared
        gpu 0 power \(power)
        gpu 0 energy \(energy)
        gpu 0 process 4242 40000000000
        gpu 0 process 5151 20000000000
        gpu 0 process_util 4242 60 30 \(timestamp)
        gpu 0 process_util 5151 20 10 \(timestamp)
        """
    }

    /// 60,000 J in a minute: 100 W (the lowest seen) × 60 s idle, 54,000 J shared by SM activity 60:20.
    @Test func twoServersOnOneGPUAreSplitByTheirActivityAndAddUpToTheGPU() async throws {
        let library = try FakeNVML.current.get()
        let procfs = try NvidiaCollectorTests.procfs()
        defer { procfs.remove() }
        try FakeNVML.setScenario(NvidiaCollectorTests.shared(energy: 5_000_000, power: 100_000, samplesAt: 1_000))
        let clock = Mutex(0.0)
        let collector = NvidiaCollector(libraryPath: library, procfs: SystemFiles(root: procfs.root), servers: ["127.0.0.1:8000"],
                                        now: { clock.withLock { $0 } })
        _ = try await collector.collect()
        try FakeNVML.setScenario(NvidiaCollectorTests.shared(energy: 65_000_000, power: 400_000, samplesAt: 2_000))
        clock.withLock { $0 = 60 }
        let samples = try await collector.collect()

        let gpu = ["gpu": "0", "uuid": "GPU-shared"]
        let server = gpu.merging(["consumer": "127.0.0.1:8000"]) { $1 }, container = gpu.merging(["consumer": "container:c0ffeec0ffee"]) { $1 }
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", gpu.merging(["consumer": "idle"]) { $1 }) == 6_000)
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", server) == 40_500)
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", container) == 13_500)
        let parts = samples.filter { $0.name == "tokenwatt_gpu_consumer_energy_joules_total" }.map(\.value).reduce(0, +)
        #expect(parts == 65_000 - 5_000)  // the GPU counter's increase, exactly
        #expect(value(samples, "tokenwatt_gpu_consumer_sm_utilization_ratio", server) == 0.6)
        #expect(value(samples, "tokenwatt_gpu_consumer_memory_used_bytes", container) == 20_000_000_000)
        // The engine core is the server through its parent's listening socket, and vllm.service by its cgroup.
        #expect(value(samples, "tokenwatt_gpu_consumer_info", server.merging(["basis": "sm", "server": "127.0.0.1:8000", "unit": "vllm.service"]) { $1 }) == 1)
        #expect(value(samples, "tokenwatt_gpu_consumer_info", container.merging(["basis": "sm", "container": "c0ffeec0ffee"]) { $1 }) == 1)

        // A process is looked up once while it runs: with procfs gone, the server keeps its share.
        procfs.remove()
        try FakeNVML.setScenario(NvidiaCollectorTests.shared(energy: 125_000_000, power: 400_000, samplesAt: 3_000))
        clock.withLock { $0 = 120 }
        let later = try await collector.collect()
        #expect(value(later, "tokenwatt_gpu_consumer_energy_joules_total", server) == 81_000)
    }

    /// MIG: the parent's 60,000 J counted once; 54,000 J active shared by the busy instances'
    /// sizes (40 GB and 20 GB); the empty third instance gets nothing; no instance has an
    /// energy series of its own.
    @Test func migInstancesShareTheParentsEnergyOnceBySize() async throws {
        let library = try FakeNVML.current.get()
        let procfs = try NvidiaCollectorTests.procfs()
        defer { procfs.remove() }
        func scenario(_ energy: Int) -> String {
            """
            count 1
            gpu 0 uuid GPU-mig
            gpu 0 power 100000
            gpu 0 energy \(energy)
            gpu 0 mig_mode 1
            gpu 0 mig 0 1 MIG-aaa 40000000000 30000000000
            gpu 0 mig 1 2 MIG-bbb 20000000000 10000000000
            gpu 0 mig 3 5 MIG-ccc 20000000000 0
            gpu 0 process 4242 30000000000 1 0
            gpu 0 process 5151 10000000000 2 0
            gpu 0 process_util 4242 60 30 1000
            """
        }
        try FakeNVML.setScenario(scenario(5_000_000))
        let clock = Mutex(0.0)
        let collector = NvidiaCollector(libraryPath: library, procfs: SystemFiles(root: procfs.root), servers: ["127.0.0.1:8000"],
                                        now: { clock.withLock { $0 } })
        _ = try await collector.collect()
        try FakeNVML.setScenario(scenario(65_000_000))
        clock.withLock { $0 = 60 }
        let samples = try await collector.collect()

        let gpu = ["gpu": "0", "uuid": "GPU-mig"]
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", gpu.merging(["consumer": "127.0.0.1:8000"]) { $1 }) == 36_000)
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", gpu.merging(["consumer": "container:c0ffeec0ffee"]) { $1 }) == 18_000)
        #expect(samples.filter { $0.name == "tokenwatt_gpu_consumer_energy_joules_total" }.map(\.value).reduce(0, +) == 60_000)
        #expect(samples.filter { $0.name == "tokenwatt_gpu_energy_joules_total" }.count == 1)
        #expect(!samples.contains { $0.name.contains("energy") && $0.labels.contains { $0.name == "mig_uuid" } })
        #expect(Set(samples.filter { $0.name == "tokenwatt_gpu_mig_instance_info" }.compactMap { $0.labels.first { $0.name == "mig_uuid" }?.value })
                == ["MIG-aaa", "MIG-bbb", "MIG-ccc"])
        #expect(value(samples, "tokenwatt_gpu_mig_memory_used_bytes", gpu.merging(["mig_uuid": "MIG-bbb"]) { $1 }) == 10_000_000_000)
        #expect(value(samples, "tokenwatt_gpu_consumer_info", gpu.merging(["consumer": "127.0.0.1:8000", "basis": "mig", "mig_uuid": "MIG-aaa"]) { $1 }) == 1)
        // NVML has no per-process samples under MIG; they are not read.
        #expect(value(samples, "tokenwatt_gpu_consumer_sm_utilization_ratio", gpu.merging(["consumer": "127.0.0.1:8000"]) { $1 }) == nil)
    }

    /// A process list that fails is a counted reason; its energy stays whole, unattributed.
    @Test func aFailingProcessListIsCountedAndItsEnergyUnattributed() async throws {
        let library = try FakeNVML.current.get()
        let procfs = try FixtureTree()
        defer { procfs.remove() }
        let clock = Mutex(0.0)
        let collector = NvidiaCollector(libraryPath: library, procfs: SystemFiles(root: procfs.root), now: { clock.withLock { $0 } })
        func scenario(_ energy: Int) -> String {
            "count 1\ngpu 0 uuid GPU-shared\ngpu 0 power 100000\ngpu 0 energy \(energy)\ngpu 0 process 4242 1000\ngpu 0 fail processes 4\n"
        }
        try FakeNVML.setScenario(scenario(5_000_000))
        _ = try await collector.collect()
        try FakeNVML.setScenario(scenario(65_000_000))
        clock.withLock { $0 = 60 }
        let samples = try await collector.collect()
        let gpu = ["gpu": "0", "uuid": "GPU-shared"]
        #expect(value(samples, "tokenwatt_gpu_errors_total", ["gpu": "0", "call": "processes", "error": "NO_PERMISSION"]) == 2)
        #expect(value(samples, "tokenwatt_gpu_consumer_energy_joules_total", gpu.merging(["consumer": "unattributed"]) { $1 }) == 54_000)
        #expect(samples.filter { $0.name == "tokenwatt_gpu_consumer_energy_joules_total" }.map(\.value).reduce(0, +) == 60_000)
        #expect(value(samples, "tokenwatt_gpu_up", gpu) == 1)
    }

    @Test func nvmlRecordsHaveTheCLayout() {
        #expect(MemoryLayout<NVMLProcessInfo>.stride == 24 && MemoryLayout<NVMLProcessInfo>.offset(of: \.usedGPUMemory) == 8
                && MemoryLayout<NVMLProcessInfo>.offset(of: \.gpuInstanceID) == 16)
        #expect(MemoryLayout<NVMLProcessSample>.stride == 32 && MemoryLayout<NVMLProcessSample>.offset(of: \.timestamp) == 8
                && MemoryLayout<NVMLProcessSample>.offset(of: \.smUtilization) == 16)
    }
}
