import AsyncHTTPClient
import TokenWattConfiguration
import TokenWattSender

/// The one place that knows every collector: builds the enabled ones from the configuration.
/// Inference servers found later by `InferenceDiscovery` join the scheduler as they are found.
enum CollectorRegistry {
    static func collectors(for configuration: AgentConfiguration, client: HTTPClient, counters: CounterStore?) -> [any Collector] {
        hardwareCollectors(for: configuration)
            + configuration.inferenceServers.compactMap {
                InferenceCollector(server: $0, client: client, store: counters, nodeLabels: configuration.attribution,
                                   procfs: SystemFiles(root: configuration.procfs))
            }
    }

    private static func hardwareCollectors(for configuration: AgentConfiguration) -> [any Collector] {
        let procfs = SystemFiles(root: configuration.procfs)
        let sysfs = SystemFiles(root: configuration.sysfs)
        return CollectorName.allCases.filter { configuration.collectors.contains($0.rawValue) }.map { name -> any Collector in
            switch name {
            case .cpu: CPUCollector(procfs: procfs)
            case .memory: MemoryCollector(procfs: procfs)
            case .nvidia: NvidiaCollector(libraryPath: configuration.nvmlLibrary, procfs: procfs,
                                          servers: configuration.inferenceServers.compactMap { $0.parts?.address })
            case .drm: DRMGPUCollector(sysfs: sysfs)
            case .rapl: RAPLCollector(sysfs: sysfs)
            case .hwmon: HwmonCollector(sysfs: sysfs)
            case .bmc: BMCCollector(command: configuration.bmcCommand, interval: .milliseconds(configuration.bmcIntervalMs),
                                    timeout: .milliseconds(configuration.bmcTimeoutMs))
            }
        }
    }
}
