import TokenWattCore

/// What a sender may do with its credential: one credential, one right.
public enum SenderRole: String, Sendable {
    /// A node's agent (`nodes:`): pushes samples; cannot reserve.
    case node
    /// A metering gateway (`gateways:`): reserves against the hard caps and pushes its usage and
    /// its own metrics (`MetricDescriptor.gatewayFamilies`), no node's samples.
    case gateway
}

/// A sender's name (its `node` label) and what it authenticates with: a token, a client
/// certificate (its common name), or both.
public struct SenderCredential: Sendable {
    public var name: String
    public var role: SenderRole
    public var token: String?
    public var clientCertCommonName: String?

    public init(name: String, role: SenderRole = .node, token: String? = nil, clientCertCommonName: String? = nil) {
        self.name = name
        self.role = role
        self.token = token
        self.clientCertCommonName = clientCertCommonName
    }
}

/// Limits of `POST /api/v1/write`.
public struct IngestConfiguration: Sendable {
    /// Largest compressed body accepted (default 16 MiB); larger gets 413.
    public var maxBodyBytes = 16 << 20
    /// Largest body after snappy decompression (default 64 MiB); larger gets 413.
    public var maxDecodedBytes = 64 << 20
    /// Samples more than this far in the future are refused (default 10 minutes).
    public var maxFutureSkewMs: Int64 = 10 * 60_000
    /// Bounds on one request's series, samples and labels, checked before decoding.
    public var limits = RemoteWriteLimits()
    /// Distinct series one node may have (default 100,000); a request past it gets 400.
    public var maxSeriesPerNode = 100_000

    public init() {}
}
