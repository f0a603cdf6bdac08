import Foundation

/// NVIDIA's management library, loaded at run time with `dlopen`, so that one agent binary runs
/// on nodes with and without GPUs. Symbols are the versioned names (`nvmlInit_v2`, ...); the
/// header's unversioned aliases are macros, not symbols. A function missing from an old driver
/// is nil, and the fields it serves are unsupported.
///
/// Not thread-safe by design: `NvidiaCollector` calls it from one queue only.
final class NVMLLibrary: @unchecked Sendable {
    typealias Device = OpaquePointer

    let initialize: @convention(c) () -> Int32
    let shutdown: (@convention(c) () -> Int32)?
    let errorString: (@convention(c) (Int32) -> UnsafePointer<CChar>?)?
    let driverVersion: (@convention(c) (UnsafeMutablePointer<CChar>, UInt32) -> Int32)?
    let deviceCount: @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    let handleByIndex: @convention(c) (UInt32, UnsafeMutablePointer<Device?>) -> Int32
    let uuid: (@convention(c) (Device, UnsafeMutablePointer<CChar>, UInt32) -> Int32)?
    let name: (@convention(c) (Device, UnsafeMutablePointer<CChar>, UInt32) -> Int32)?
    /// Fills `struct { unsigned int gpu, memory; }` (percent): two UInt32s.
    let utilization: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32)?
    /// Fills `struct { unsigned long long total, free, used; }` (bytes): three UInt64s.
    let memoryInfo: (@convention(c) (Device, UnsafeMutablePointer<UInt64>) -> Int32)?
    let powerUsage: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32)?
    let powerLimit: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32)?
    let totalEnergy: (@convention(c) (Device, UnsafeMutablePointer<UInt64>) -> Int32)?
    let temperature: (@convention(c) (Device, Int32, UnsafeMutablePointer<UInt32>) -> Int32)?
    /// `nvmlDeviceGetComputeRunningProcesses_v3`: a count in and out, and an array of
    /// `NVMLProcessInfo` (nil asks for the count; raw, as C sees a Swift struct's memory).
    let computeProcesses: (@convention(c) (Device, UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer?) -> Int32)?
    /// `nvmlDeviceGetProcessUtilization`: samples newer than a timestamp (µs).
    let processUtilization: (@convention(c) (Device, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt32>, UInt64) -> Int32)?
    /// `nvmlDeviceGetMigMode`: the current and the pending mode (1: enabled).
    let migMode: (@convention(c) (Device, UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>) -> Int32)?
    let maxMigDeviceCount: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32)?
    let migDeviceByIndex: (@convention(c) (Device, UInt32, UnsafeMutablePointer<Device?>) -> Int32)?
    let gpuInstanceID: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32)?
    private let handle: UnsafeMutableRawPointer

    /// Opens the library; fails with the loader's reason when it or one of the three functions
    /// without which nothing can be read is missing.
    init(path: String) throws(NVMLError) {
        guard let handle = dlopen(path, RTLD_LAZY) else {
            throw .libraryNotLoaded(dlerror().map { String(cString: $0) } ?? path)
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let initialize = symbol("nvmlInit_v2", as: (@convention(c) () -> Int32).self),
              let deviceCount = symbol("nvmlDeviceGetCount_v2", as: (@convention(c) (UnsafeMutablePointer<UInt32>) -> Int32).self),
              let handleByIndex = symbol("nvmlDeviceGetHandleByIndex_v2",
                                         as: (@convention(c) (UInt32, UnsafeMutablePointer<Device?>) -> Int32).self) else {
            dlclose(handle)
            throw .libraryNotLoaded("\(path) lacks nvmlInit_v2, nvmlDeviceGetCount_v2 or nvmlDeviceGetHandleByIndex_v2")
        }
        self.handle = handle
        self.initialize = initialize
        self.deviceCount = deviceCount
        self.handleByIndex = handleByIndex
        shutdown = symbol("nvmlShutdown", as: (@convention(c) () -> Int32).self)
        errorString = symbol("nvmlErrorString", as: (@convention(c) (Int32) -> UnsafePointer<CChar>?).self)
        driverVersion = symbol("nvmlSystemGetDriverVersion", as: (@convention(c) (UnsafeMutablePointer<CChar>, UInt32) -> Int32).self)
        uuid = symbol("nvmlDeviceGetUUID", as: (@convention(c) (Device, UnsafeMutablePointer<CChar>, UInt32) -> Int32).self)
        name = symbol("nvmlDeviceGetName", as: (@convention(c) (Device, UnsafeMutablePointer<CChar>, UInt32) -> Int32).self)
        utilization = symbol("nvmlDeviceGetUtilizationRates", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32).self)
        memoryInfo = symbol("nvmlDeviceGetMemoryInfo", as: (@convention(c) (Device, UnsafeMutablePointer<UInt64>) -> Int32).self)
        powerUsage = symbol("nvmlDeviceGetPowerUsage", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32).self)
        powerLimit = symbol("nvmlDeviceGetEnforcedPowerLimit", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32).self)
        totalEnergy = symbol("nvmlDeviceGetTotalEnergyConsumption", as: (@convention(c) (Device, UnsafeMutablePointer<UInt64>) -> Int32).self)
        temperature = symbol("nvmlDeviceGetTemperature", as: (@convention(c) (Device, Int32, UnsafeMutablePointer<UInt32>) -> Int32).self)
        computeProcesses = symbol("nvmlDeviceGetComputeRunningProcesses_v3",
                                  as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer?) -> Int32).self)
        processUtilization = symbol("nvmlDeviceGetProcessUtilization",
                                    as: (@convention(c) (Device, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt32>, UInt64) -> Int32).self)
        migMode = symbol("nvmlDeviceGetMigMode", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>) -> Int32).self)
        maxMigDeviceCount = symbol("nvmlDeviceGetMaxMigDeviceCount", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32).self)
        migDeviceByIndex = symbol("nvmlDeviceGetMigDeviceHandleByIndex", as: (@convention(c) (Device, UInt32, UnsafeMutablePointer<Device?>) -> Int32).self)
        gpuInstanceID = symbol("nvmlDeviceGetGpuInstanceId", as: (@convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32).self)
    }

    deinit {
        dlclose(handle)
    }

    /// NVML's own words for a return code.
    func describe(_ code: Int32) -> String {
        let text = errorString?(code).map { String(cString: $0) } ?? "error"
        return "\(text) (\(NVMLError.name(of: code)))"
    }

    /// Calls a getter that fills a C string buffer (96 bytes, as NVML asks).
    static func string(_ getter: (UnsafeMutablePointer<CChar>, UInt32) -> Int32) -> (code: Int32, value: String) {
        var buffer = [CChar](repeating: 0, count: 96)
        let code = getter(&buffer, UInt32(buffer.count))
        let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return (code, code == NVMLError.success ? String(decoding: text, as: UTF8.self) : "")
    }
}

/// `nvmlProcessInfo_t` (v2/v3 layout): a process on a GPU, and its MIG instance where it runs in one.
/// A record NVML fills in an array.
protocol NVMLRecord { init() }

struct NVMLProcessInfo: NVMLRecord {
    var pid: UInt32 = 0
    var usedGPUMemory: UInt64 = 0
    var gpuInstanceID: UInt32 = 0
    var computeInstanceID: UInt32 = 0

    /// NVML's value for "not in a MIG instance" and for memory it cannot tell.
    static let none: UInt32 = 0xFFFF_FFFF
    static let unavailableMemory: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
}

/// `nvmlProcessUtilizationSample_t`: one process's SM and memory activity (percent) at a time (µs).
struct NVMLProcessSample: NVMLRecord {
    var pid: UInt32 = 0
    var timestamp: UInt64 = 0
    var smUtilization: UInt32 = 0
    var memoryUtilization: UInt32 = 0
    var encoderUtilization: UInt32 = 0
    var decoderUtilization: UInt32 = 0
}

enum NVMLError: Error, Equatable, CustomStringConvertible {
    case libraryNotLoaded(String)

    static let success: Int32 = 0
    static let notSupported: Int32 = 3
    static let notFound: Int32 = 6
    static let insufficientSize: Int32 = 7
    /// Codes after which a GPU is gone until the driver or the node is reset.
    static let deviceLost: Set<Int32> = [15, 16, 999]  // GPU_IS_LOST, RESET_REQUIRED, UNKNOWN

    var description: String {
        switch self {
        case .libraryNotLoaded(let reason): "NVML not loaded: \(reason)"
        }
    }

    static func name(of code: Int32) -> String {
        let names: [Int32: String] = [
            0: "SUCCESS", 1: "UNINITIALIZED", 2: "INVALID_ARGUMENT", 3: "NOT_SUPPORTED", 4: "NO_PERMISSION",
            5: "ALREADY_INITIALIZED", 6: "NOT_FOUND", 7: "INSUFFICIENT_SIZE", 8: "INSUFFICIENT_POWER",
            9: "DRIVER_NOT_LOADED", 10: "TIMEOUT", 11: "IRQ_ISSUE", 12: "LIBRARY_NOT_FOUND", 13: "FUNCTION_NOT_FOUND",
            14: "CORRUPTED_INFOROM", 15: "GPU_IS_LOST", 16: "RESET_REQUIRED", 17: "OPERATING_SYSTEM",
            18: "LIB_RM_VERSION_MISMATCH", 19: "IN_USE", 20: "MEMORY", 21: "NO_DATA", 28: "GPU_NOT_FOUND", 999: "UNKNOWN",
        ]
        return names[code] ?? "NVML_ERROR_\(code)"
    }
}
