import TokenWattCore
import TokenWattSender

/// Who used a GPU, read through NVML on the collector's queue: its compute processes
/// (`nvmlDeviceGetComputeRunningProcesses_v3`), their SM activity where the driver samples it
/// (`nvmlDeviceGetProcessUtilization`), and its MIG instances (`nvmlDeviceGetMigMode`,
/// `nvmlDeviceGetMigDeviceHandleByIndex`). Each process is tied to its owner (`ProcessOwner`),
/// and the GPU's energy is split among the owners (`GPUEnergySplit`): by SM activity, else by
/// the memory each holds; under MIG by each busy instance's size, then within it by memory.
/// MIG instances never get an energy counter of their own: the parent's is split, once.
/// A call that fails or is unsupported is a reason (unsupported ones are not asked again); the
/// energy it leaves unexplained is `unattributed`, never dropped.
extension NvidiaCollector {
    struct Sharing {
        var split = GPUEnergySplit()
        /// The newest per-process sample seen (µs), so each is counted once.
        var lastSample: UInt64 = 0
        var unsupported: Set<String> = []
    }

    struct MIGInstance {
        var uuid: String
        var gpuInstance: UInt32
        var total: UInt64
        var used: UInt64
    }

    func share(_ index: UInt32, _ handle: NVMLLibrary.Device, sharing: inout Sharing, library: NVMLLibrary, labels: [(String, String)], energy: Double?,
               watts: Double?, into samples: inout SampleList, problems: inout [String]) {
        /// Runs one call unless known unsupported; a failure is a problem, nothing else.
        func ask<T>(_ what: String, _ call: () -> (code: Int32, value: T)?) -> T? {
            guard !sharing.unsupported.contains(what) else { return nil }
            guard let (code, value) = call() else {
                sharing.unsupported.insert(what)  // the driver lacks the function
                return nil
            }
            if code == NVMLError.success { return value }
            if code == NVMLError.notSupported { sharing.unsupported.insert(what) } else { failed(gpu: index, what, code: code, library: library, problems: &problems) }
            return nil
        }
        let instances = ask("mig") { migInstances(handle, library: library) } ?? []
        let processes = ask("processes") { library.computeProcesses.map { call in NvidiaCollector.list(of: NVMLProcessInfo.self) { call(handle, $0, $1) } } }
        // NVML samples processes on whole GPUs only.
        let activity = instances.isEmpty ? ask("process_util") { library.processUtilization.map { call in
            NvidiaCollector.list(of: NVMLProcessSample.self, empty: NVMLError.notFound) { call(handle, $1, $0, sharing.lastSample) }
        } } ?? [] : []
        sharing.lastSample = activity.map(\.timestamp).max() ?? sharing.lastSample

        let pids = Set((processes ?? []).map(\.pid) + activity.map(\.pid))
        let owners = owners(of: pids)
        func consumer(_ pid: UInt32) -> String { owners[pid]?.consumer ?? GPUConsumer.unattributed }
        let held = (processes ?? []).filter { $0.usedGPUMemory != NVMLProcessInfo.unavailableMemory }
        var memory: [String: Double] = [:]
        for process in held { memory[consumer(process.pid), default: 0] += Double(process.usedGPUMemory) }
        var busy: [String: Double] = [:]
        for (pid, samples) in Dictionary(grouping: activity, by: \.pid) {
            busy[consumer(pid), default: 0] += Double(samples.reduce(0) { $0 + $1.smUtilization }) / Double(samples.count) / 100
        }

        var weights: [String: Double] = [:]
        let basis: GPUEnergySplit.Basis
        if !instances.isEmpty {
            basis = .mig
            for instance in instances {
                let inside = held.filter { $0.gpuInstanceID == instance.gpuInstance }
                let total = inside.reduce(0.0) { $0 + Double($1.usedGPUMemory) }
                for process in inside {
                    let part = total > 0 ? Double(process.usedGPUMemory) / total : 1 / Double(inside.count)
                    weights[consumer(process.pid), default: 0] += Double(instance.total) * part
                }
                let instanceLabels = labels + [("mig_uuid", instance.uuid)]
                samples.add(.gpuMIGInstanceInfo, 1, instanceLabels + [("gpu_instance", "\(instance.gpuInstance)")])
                samples.add(.gpuMIGMemoryUsedBytes, Double(instance.used), instanceLabels)
                samples.add(.gpuMIGMemoryTotalBytes, Double(instance.total), instanceLabels)
            }
        } else if !busy.isEmpty {
            (weights, basis) = (busy, .sm)
        } else {
            (weights, basis) = (memory, memory.values.contains { $0 > 0 } ? .memory : .none)
        }

        for pid in pids.sorted() {
            let name = consumer(pid)
            guard name != GPUConsumer.unattributed, let owner = owners[pid] else { continue }
            let instance = instances.first { instance in processes?.contains { $0.pid == pid && $0.gpuInstanceID == instance.gpuInstance } == true }
            let identity = [("server", owner.server), ("unit", owner.unit), ("container", owner.container), ("pod_uid", owner.podUID),
                            ("mig_uuid", instance?.uuid)].compactMap { label, value in value.map { (label, $0) } }
            samples.add(.gpuConsumerInfo, 1, labels + [("consumer", name), ("basis", basis.rawValue)] + identity)
        }
        for (name, bytes) in memory.sorted(by: { $0.key < $1.key }) { samples.add(.gpuConsumerMemoryUsedBytes, bytes, labels + [("consumer", name)]) }
        for (name, ratio) in busy.sorted(by: { $0.key < $1.key }) { samples.add(.gpuConsumerSMUtilizationRatio, ratio, labels + [("consumer", name)]) }
        if let energy {
            sharing.split.add(energy: energy, atSeconds: now(), watts: watts, weights: weights)
            for (name, joules) in sharing.split.joules.sorted(by: { $0.key < $1.key }) {
                samples.add(.gpuConsumerEnergyJoules, joules, labels + [("consumer", name)])
            }
        }
    }

    /// The owners of these processes: from the cache, read from procfs for processes new to
    /// it and, while no server was found for them, again once a minute.
    private func owners(of pids: Set<UInt32>) -> [UInt32: ProcessOwner] {
        let now = self.now()
        ownersSeen.formUnion(pids)
        let due = pids.filter { pid in owners[pid].map { $0.owner.server == nil && now - $0.at >= NvidiaCollector.ownerRecheckSeconds } ?? true }
        for (pid, owner) in ProcessOwner.read(due, servers: servers, procfs: procfs) { owners[pid] = (owner, now) }
        return pids.reduce(into: [:]) { found, pid in found[pid] = owners[pid]?.owner }
    }

    /// The GPU's MIG instances; empty when MIG is off.
    private func migInstances(_ handle: NVMLLibrary.Device, library: NVMLLibrary) -> (code: Int32, value: [MIGInstance])? {
        guard let migMode = library.migMode, let maxCount = library.maxMigDeviceCount, let byIndex = library.migDeviceByIndex else { return nil }
        var current: UInt32 = 0, pending: UInt32 = 0, count: UInt32 = 0
        var code = migMode(handle, &current, &pending)
        guard code == NVMLError.success, current == 1 else { return (code, []) }
        code = maxCount(handle, &count)
        guard code == NVMLError.success else { return (code, []) }
        var instances: [MIGInstance] = []
        for index in 0..<count {
            var device: NVMLLibrary.Device?
            code = byIndex(handle, index, &device)
            if code == NVMLError.notFound { continue }  // an empty slot
            guard code == NVMLError.success, let device else { return (code, instances) }
            var gpuInstance: UInt32 = 0
            var info: [UInt64] = [0, 0, 0]
            let uuid = library.uuid.map { getter in NVMLLibrary.string { getter(device, $0, $1) }.value } ?? ""
            guard library.gpuInstanceID?(device, &gpuInstance) == NVMLError.success, library.memoryInfo?(device, &info) == NVMLError.success else { continue }
            instances.append(MIGInstance(uuid: uuid, gpuInstance: gpuInstance, total: info[0], used: info[2]))
        }
        return (NVMLError.success, instances)
    }

    /// Calls an NVML getter that fills an array: first for the count, then with room for a few
    /// more (processes start between the two calls). `empty` is the code that means none.
    static func list<T: NVMLRecord>(of type: T.Type, empty: Int32? = nil,
                                    _ call: (UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer?) -> Int32) -> (code: Int32, value: [T]) {
        var count: UInt32 = 0
        let first = call(&count, nil)
        if first == empty || (first == NVMLError.success && count == 0) { return (NVMLError.success, []) }
        guard first == NVMLError.insufficientSize else { return (first, []) }
        var records = [T](repeating: T(), count: Int(count) + 8)
        count = UInt32(records.count)
        let code = records.withUnsafeMutableBytes { call(&count, $0.baseAddress) }
        if code == empty { return (NVMLError.success, []) }  // gone between the two calls
        return (code, code == NVMLError.success ? Array(records.prefix(Int(count))) : [])
    }
}
