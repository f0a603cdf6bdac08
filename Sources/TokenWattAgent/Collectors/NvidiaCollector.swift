import Foundation
import Synchronization
import TokenWattCore
import TokenWattSender

/// NVIDIA GPUs through NVML (`NVMLLibrary`, loaded with `dlopen`).
///
/// Every NVML call runs on one serial queue of its own, never on the async executor: a call that
/// hangs (driver trouble, a GPU falling off the bus) blocks that queue only. The scheduler's
/// deadline then marks the collector down, and while the call has not returned every later run
/// fails at once instead of queueing behind it.
///
/// Per GPU (labels `gpu` = index, `uuid`, the stable identity): utilisation, memory, power, power
/// limit, energy (the driver's counter; where unsupported, integrated from power with
/// `method="integrated"`), temperature, `tokenwatt_gpu_info` and `tokenwatt_gpu_up`. A field that
/// answers NOT_SUPPORTED, or whose function the driver lacks, is left out (never 0) and not asked
/// again. A refused handle skips that GPU; GPU_IS_LOST, RESET_REQUIRED or UNKNOWN set its `up` to
/// 0 while the others go on. Only physical GPUs are enumerated, so with MIG the power and energy
/// stay on the parent and are never repeated per instance. Who used each GPU, and its energy
/// split among them: `GPUSharing`.
final class NvidiaCollector: Collector, @unchecked Sendable {
    /// Initialisation is retried this often at most: NVML is initialised once per process, and
    /// re-initialising on every sample has stalled hosts.
    static let initRetrySeconds = 300.0

    private enum Field: Hashable { case uuid, name, utilization, memory, power, powerLimit, energy, temperature }

    private struct GPU {
        let handle: NVMLLibrary.Device
        var sharing = Sharing()
        var uuid = ""
        var name = ""
        var unsupported: Set<Field> = []
        var energy = MonotonicCounter()
        var integrator = PowerIntegrator(maxGapSeconds: 300)
    }

    let name = "nvidia"
    let timeout: Duration
    private let libraryPath: String
    let now: @Sendable () -> Double
    /// Where processes are looked up, and the inference servers they may be (`host:port`).
    let procfs: SystemFiles
    let servers: [String]
    private let queue = DispatchQueue(label: "tokenwatt.nvml")
    private let busySince = Mutex<Double?>(nil)

    // Touched on `queue` only.
    private var library: NVMLLibrary?
    private var loadFailure: String?
    private var initialized = false
    private var initFailure: (reason: String, at: Double)?
    private var driverVersion = ""
    private var gpus: [UInt32: GPU] = [:]
    /// Owners of the GPUs' processes, kept while the process runs: procfs is read for a process
    /// once, and again after `ownerRecheckSeconds` while no server was found for it (an engine
    /// is on the GPU before its API server listens). With when each was read.
    var owners: [UInt32: (owner: ProcessOwner, at: Double)] = [:]
    var ownersSeen: Set<UInt32> = []
    static let ownerRecheckSeconds = 60.0
    /// Calls that answered an error other than NOT_SUPPORTED, by GPU, call and NVML's name of
    /// the error: `tokenwatt_gpu_errors_total`, so a failing field is counted, not just missing.
    private var errors: [[String]: Double] = [:]

    /// Notes a failed call: a problem for the run's reason, and a count.
    func failed(gpu index: UInt32, _ call: String, code: Int32, library: NVMLLibrary, problems: inout [String]) {
        problems.append("GPU \(index) \(call): \(library.describe(code))")
        errors[["\(index)", call, NVMLError.name(of: code)], default: 0] += 1
    }

    init(libraryPath: String, procfs: SystemFiles = SystemFiles(root: "/proc"), servers: [String] = [], timeout: Duration = .seconds(5),
         now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.libraryPath = libraryPath
        self.procfs = procfs
        self.servers = servers
        self.timeout = timeout
        self.now = now
    }

    deinit {
        if initialized { _ = library?.shutdown?() }
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let started = now()
        let stuckSince: Double? = busySince.withLock { since in
            if let since { return since }
            since = started
            return nil
        }
        if let stuckSince {
            throw .failed(String(format: "an NVML call has not returned for %.0f s; GPU values are stale", started - stuckSince))
        }
        let result = await withCheckedContinuation { continuation in
            queue.async {
                let result = self.collectOnQueue()
                self.busySince.withLock { $0 = nil }
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }

    private func collectOnQueue() -> Result<[ExpositionSample], CollectorError> {
        if library == nil {
            if let loadFailure { return .failure(.noData(loadFailure)) }
            do {
                library = try NVMLLibrary(path: libraryPath)
            } catch {
                loadFailure = "\(error)"
                return .failure(.noData("\(error)"))
            }
        }
        guard let library else { return .failure(.noData("NVML not loaded")) }
        if !initialized {
            if let initFailure, now() - initFailure.at < NvidiaCollector.initRetrySeconds { return .failure(.noData(initFailure.reason)) }
            let code = library.initialize()
            guard code == NVMLError.success else {
                initFailure = ("nvmlInit_v2: \(library.describe(code))", now())
                return .failure(.noData(initFailure!.reason))
            }
            initialized = true
            initFailure = nil
            driverVersion = library.driverVersion.map { getter in NVMLLibrary.string { getter($0, $1) }.value } ?? ""
        }
        var count: UInt32 = 0
        let code = library.deviceCount(&count)
        guard code == NVMLError.success else { return .failure(.failed("nvmlDeviceGetCount_v2: \(library.describe(code))")) }
        guard count > 0 else { return .failure(.noData("NVML sees no GPU")) }

        var samples = SampleList()
        var problems: [String] = []
        ownersSeen = []
        for index in 0..<count {
            if gpus[index] == nil {
                var handle: NVMLLibrary.Device?
                let code = library.handleByIndex(index, &handle)
                guard code == NVMLError.success, let handle else {
                    // Counted by nvmlDeviceGetCount_v2 yet refused (no permission, not enough power, ...).
                    problems.append("GPU \(index): \(library.describe(code))")
                    continue
                }
                gpus[index] = GPU(handle: handle)
            }
            var gpu = gpus[index]!
            read(index: index, gpu: &gpu, library: library, into: &samples, problems: &problems)
            gpus[index] = gpu
        }
        owners = owners.filter { ownersSeen.contains($0.key) }  // processes gone are forgotten
        if samples.samples.isEmpty { return .failure(.failed(problems.joined(separator: "; "))) }
        for (key, count) in errors.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            samples.add(.gpuErrors, count, [("gpu", key[0]), ("call", key[1]), ("error", key[2])])
        }
        return .success(samples.samples)
    }

    /// Reads one GPU's fields; a lost GPU reports `up` 0 and nothing else.
    private func read(index: UInt32, gpu: inout GPU, library: NVMLLibrary, into samples: inout SampleList, problems: inout [String]) {
        var lost: String?
        /// Runs one getter unless its field is known unsupported; remembers NOT_SUPPORTED and
        /// missing functions, notes a lost GPU.
        func value<T>(_ field: Field, _ call: (() -> (code: Int32, value: T))?) -> T? {
            guard lost == nil, !gpu.unsupported.contains(field) else { return nil }
            guard let call else {
                gpu.unsupported.insert(field)  // the driver lacks the function
                return nil
            }
            let (code, result) = call()
            switch code {
            case NVMLError.success: return result
            case NVMLError.notSupported: gpu.unsupported.insert(field)
            case let code where NVMLError.deviceLost.contains(code): lost = library.describe(code)
            default: failed(gpu: index, "\(field)", code: code, library: library, problems: &problems)
            }
            return nil
        }
        let handle = gpu.handle
        if gpu.uuid.isEmpty {
            gpu.uuid = value(.uuid, library.uuid.map { getter in { NVMLLibrary.string { getter(handle, $0, $1) } } }) ?? ""
            gpu.name = value(.name, library.name.map { getter in { NVMLLibrary.string { getter(handle, $0, $1) } } }) ?? ""
        }
        // Without a UUID the index has to do; it is not stable across reboots.
        let labels = [("gpu", "\(index)"), ("uuid", gpu.uuid.isEmpty ? "index-\(index)" : gpu.uuid)]
        samples.add(.gpuInfo, 1, labels + [("name", gpu.name), ("vendor", "nvidia"), ("driver_version", driverVersion)])

        let utilization = value(.utilization, library.utilization.map { getter in { () -> (code: Int32, value: (gpu: UInt32, memory: UInt32)) in
            var rates: [UInt32] = [0, 0]
            return (getter(handle, &rates), (rates[0], rates[1]))
        } })
        let memory = value(.memory, library.memoryInfo.map { getter in { () -> (code: Int32, value: (total: UInt64, used: UInt64)) in
            var info: [UInt64] = [0, 0, 0]  // total, free, used
            return (getter(handle, &info), (info[0], info[2]))
        } })
        let milliwatts = value(.power, library.powerUsage.map { getter in { () -> (code: Int32, value: UInt32) in
            var reading: UInt32 = 0
            return (getter(handle, &reading), reading)
        } })
        let limitMilliwatts = value(.powerLimit, library.powerLimit.map { getter in { () -> (code: Int32, value: UInt32) in
            var reading: UInt32 = 0
            return (getter(handle, &reading), reading)
        } })
        let millijoules = value(.energy, library.totalEnergy.map { getter in { () -> (code: Int32, value: UInt64) in
            var reading: UInt64 = 0
            return (getter(handle, &reading), reading)
        } })
        let celsius = value(.temperature, library.temperature.map { getter in { () -> (code: Int32, value: UInt32) in
            var reading: UInt32 = 0
            return (getter(handle, 0, &reading), reading)  // sensor 0: the GPU die
        } })
        if let lost {
            problems.append("GPU \(index) (\(gpu.uuid)): \(lost)")
            samples.add(.gpuUp, 0, labels)
            return
        }
        samples.add(.gpuUp, 1, labels)
        if let utilization {
            samples.add(.gpuUtilizationRatio, Double(utilization.gpu) / 100, labels)
            samples.add(.gpuMemoryUtilizationRatio, Double(utilization.memory) / 100, labels)
        }
        if let memory {
            samples.add(.gpuMemoryUsedBytes, Double(memory.used), labels)
            samples.add(.gpuMemoryTotalBytes, Double(memory.total), labels)
        }
        if let milliwatts { samples.add(.gpuPowerWatts, Double(milliwatts) / 1000, labels) }
        if let limitMilliwatts { samples.add(.gpuPowerLimitWatts, Double(limitMilliwatts) / 1000, labels) }
        if let celsius { samples.add(.gpuTemperatureCelsius, Double(celsius), labels) }
        if let millijoules {
            // The counter restarts from 0 when the driver reloads: that is a reset, not a drop.
            gpu.energy.add(Double(millijoules) / 1000, restartsAtZero: true)
            if let joules = gpu.energy.total { samples.add(.gpuEnergyJoules, joules, labels + [("method", "counter")]) }
        } else if let milliwatts {
            gpu.integrator.add(watts: Double(milliwatts) / 1000, atSeconds: now())
            samples.add(.gpuEnergyJoules, gpu.integrator.joules, labels + [("method", "integrated")])
        }
        let energy = millijoules != nil ? gpu.energy.total : milliwatts.map { _ in gpu.integrator.joules }
        share(index, handle, sharing: &gpu.sharing, library: library, labels: labels, energy: energy, watts: milliwatts.map { Double($0) / 1000 },
              into: &samples, problems: &problems)
    }
}
