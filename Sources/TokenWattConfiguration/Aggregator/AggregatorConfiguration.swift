import TokenWattCore
import TokenWattService

/// Everything the aggregator is told, with the defaults it uses when no config file is given.
public struct AggregatorConfiguration: Sendable {
    /// Where the HTTP server listens (default 127.0.0.1:9470).
    public var listen = ListenAddress(host: "127.0.0.1", port: 9470)
    /// The HTTP server's limits, TLS and readers (`web:`).
    public var web = WebConfiguration()
    /// Nodes allowed to push, each with its bearer token. The token decides the `node` label.
    public var nodes: [SenderCredential] = []
    /// Metering gateways allowed to reserve and to push their usage, each replica with its own
    /// credential; its name is the `node` label of what it pushes.
    public var gateways: [SenderCredential] = []
    /// Accept pushes and reservations without a credential, labelled with this node name: set
    /// when no node and no gateway is configured (no config file, or one without either), and
    /// honoured only on a loopback listener, so the quick start and a packaged single-host
    /// setup work without tokens.
    public var anonymousNode: String?
    /// The node a push without a credential is stored as: only on a loopback listener.
    public var unauthenticatedNode: String? { listen.isLoopback ? anonymousNode : nil }
    /// Labels added to every pushed series, e.g. `site`, `rack`; they override pushed labels.
    public var staticLabels: [String: String] = [:]
    public var ingest = IngestConfiguration()
    public var storage = StorageConfiguration()
    /// A series silent for longer than this leaves `/metrics` (default 5 minutes).
    public var stalenessMs: Int64 = 5 * 60_000
    /// How often agents push, and how many pushes a node may miss before `tokenwatt_agent_up`
    /// says 0 (defaults 10 s and 3).
    public var agentPushIntervalMs: Int64 = 10_000
    public var agentMissedPushes = 3
    /// Prices of energy, hardware and cloud tokens.
    public var pricing = Pricing()
    /// How often the cost engine rewrites the current hours of the ledger (default 1 minute).
    public var costIntervalMs: Int64 = 60_000
    /// The burst advisor's window and step, and the rate below which a model counts as idle.
    public var advice = AdviceSettings()
    /// Budgets and where their alerts go.
    public var budgets: [Budget] = []
    public var receivers: [Receiver] = []
    /// How often budgets are evaluated besides when samples arrive (default 10 s).
    public var budgetIntervalMs: Int64 = 10_000
    /// The aggregator's URL as people reach it, for links in alerts.
    public var externalURL: String?
    public var delivery = DeliverySettings()
    /// Receivers everything stored is forwarded to with remote write.
    public var forwardTargets: [ForwardTarget] = []

    public init() {}
}

extension AggregatorConfiguration {
    /// Refuses a listener beyond loopback without nodes or gateways: a push (samples,
    /// reservations) would then need no credential, and anyone who reaches the port could
    /// write; and one without
    /// readers, unless reads are opened on purpose (`WebConfiguration.checkReads`). `source`
    /// names where the listener came from (the config file, or `--listen`).
    public func checkListener(source: String) throws(CoreError) {
        // (A node with a client certificate only is a credential too: the TLS handshake checks it.)
        if !listen.isLoopback, nodes.isEmpty, gateways.isEmpty {
            throw .config(file: source, key: "nodes",
                          expected: "nodes with push tokens when listening on \(listen), beyond loopback: without them anyone who reaches "
                              + "the port could push (add nodes: [{name: gpu-01, token_file: /etc/tokenwatt/gpu-01.token}], or listen on 127.0.0.1)")
        }
        try web.checkReads(listen: listen, source: source)
    }
}
