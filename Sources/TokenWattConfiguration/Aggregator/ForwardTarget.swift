import TokenWattCore
import TokenWattService

/// A remote-write receiver the aggregator forwards to (`remote_write:` in the config):
/// Prometheus, Mimir, Thanos Receive, VictoriaMetrics.
public struct ForwardTarget: Sendable {
    public var name: String
    public var url: String
    public var token: String?
    public var headers: [String: String] = [:]
    /// How the receiver's certificate is checked, and the certificate shown to it (`tls_config`).
    public var tls: TLSClientConfiguration?
    /// Rows waiting longer than this are dropped, counted, so an endless outage cannot fill the disk.
    public var maxAgeMs: Int64 = Milliseconds.week
    /// `protobuf_message`: remote write 1.0's `prometheus.WriteRequest` (the default: every
    /// receiver takes it) or 2.0's `io.prometheus.write.v2.Request`, for receivers that take it.
    public var sendsV2 = false
}
