import TokenWattSender
/// What to do about a collector that is down, by collector and kind of failure: one table for
/// the line the scheduler logs when a collector goes down and for what `tokenwatt-agent --once`
/// prints. The troubleshooting in docs/operations.md quotes every entry (`AgentOnceTests` keeps them equal).
enum CollectorRemedy {
    /// Each collector's fixes: when its source is not on this node, and when it failed to read it.
    static let table: [(collector: String, noData: String, failed: String)] = [
        ("nvidia",
         "on a machine with NVIDIA GPUs, install the driver (nvidia-smi must work) or set nvidia.library (--nvml-library) to the path of libnvidia-ml.so.1; on one without, nothing to do (or leave nvidia out of collectors)",
         "NVML's error is above; nvidia-smi shows whether the driver answers"),
        ("drm",
         "no AMD or Intel GPU here: nothing to do (or leave drm out of collectors)",
         "the GPU's files under paths.sysfs could not be read: the unit must allow the drm devices"),
        ("rapl",
         "a VM or a CPU without RAPL: the aggregator estimates CPU power from utilisation (a node class's power:); on bare metal, load the intel_rapl_common module",
         "energy_uj is readable by root alone since Linux 5.10: run the packaged unit (CAP_DAC_READ_SEARCH) or install deploy/udev/60-tokenwatt.rules"),
        ("hwmon",
         "no hardware sensors exposed (a VM): nothing to do; on bare metal, load the sensor drivers (sensors-detect)",
         "the sensors under paths.sysfs could not be read"),
        ("bmc",
         "install ipmitool (with the ipmi_si and ipmi_devintf modules) or set bmc.command to a command that prints the power; without a BMC, leave bmc out of collectors",
         "the BMC command's error is above: run bmc.command by hand (it is killed after bmc.timeout)"),
        ("cpu", "procfs has no /proc/stat: check paths.procfs", "procfs could not be read: check paths.procfs"),
        ("memory", "procfs has no /proc/meminfo: check paths.procfs", "procfs could not be read: check paths.procfs"),
    ]

    /// What an inference server's collector asks for, whatever the failure.
    static let inferenceServer = "is the server running and serving /metrics at that address? (inference.servers, or its port for discovery)"

    /// The fix for `collector` down with `error`.
    static func fix(collector: String, error: CollectorError) -> String {
        if collector.hasPrefix(inferenceCollectorPrefix) { return inferenceServer }
        guard let entry = table.first(where: { $0.collector == collector }) else { return "see the reason" }
        if case .noData = error { return entry.noData }
        return entry.failed
    }
}

/// The `collector` label of an inference server's collector: this, then the server's address.
let inferenceCollectorPrefix = "inference:"
