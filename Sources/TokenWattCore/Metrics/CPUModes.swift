/// The modes of `tokenwatt_cpu_seconds_total`, and which of them are not work: the one rule
/// for the agent's `tokenwatt_cpu_utilization_ratio` and the ledger's CPU power estimate.
public enum CPUModes {
    /// In `/proc/stat`'s order; guest and guest_nice are already inside user and nice.
    public static let all = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    /// Time a CPU had nothing to run (waiting for I/O included).
    public static let idle: Set<String> = ["idle", "iowait"]
}
