/// The `consumer` label of `tokenwatt_gpu_consumer_energy_joules_total`: an inference server's
/// address (`host:port`), `pod:UID`, `container:ID`, a systemd unit, or one of these two lines.
public enum GPUConsumer {
    /// The power a GPU draws doing nothing.
    public static let idle = "idle"
    /// Activity no process on the GPU explains.
    public static let unattributed = "unattributed"
}
