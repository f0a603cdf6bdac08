/// Where tokens were counted: the `source` label of `tokenwatt_tokens_total`. Inference
/// servers' own counters carry the server's kind (`vllm`, `sglang`, ...); these are the others.
public enum TokenSource {
    /// Reported by applications through the agent's `POST /v1/usage`: cloud API calls.
    public static let usageAPI = "usage_api"
    /// Metered by the gateway on a route to a cloud API.
    public static let gateway = "gateway"
    /// Metered by the gateway on a route to a local inference server, whose own counters count
    /// the same tokens: the ledger attributes the server's tokens to the callers by these.
    public static let gatewayLocal = "gateway_local"
}

/// What a token stream is, told by its `source` label: the one rule every place that decides
/// asks (the ledger, its day summary in SQL, reports, FOCUS, budgets, caps, the advisor).
/// Cloud spend is priced at the cloud's price and charged as such; every other stream ran on
/// the fleet and shares its node's measured cost.
public enum StreamKind: CaseIterable, Sendable {
    /// Cloud API calls that applications reported (`usage_api`).
    case usageAPI
    /// The gateway's routes to a cloud API (`gateway`).
    case gatewayCloud
    /// The gateway's routes to a local inference server (`gateway_local`), by caller.
    case gatewayLocal
    /// An inference server's own counters: any other source (`vllm`, `sglang`, ...).
    case inferenceServer

    /// The `source` label that marks the kind; inference servers carry their own.
    public var source: String? {
        switch self {
        case .usageAPI: TokenSource.usageAPI
        case .gatewayCloud: TokenSource.gateway
        case .gatewayLocal: TokenSource.gatewayLocal
        case .inferenceServer: nil
        }
    }

    /// Tokens bought from a cloud API: money spent, not a share of a node's cost.
    public var isCloudSpend: Bool {
        switch self {
        case .usageAPI, .gatewayCloud: true
        case .gatewayLocal, .inferenceServer: false
        }
    }

    /// Tokens that went through the gateway: hard caps hold them through reservations.
    public var isThroughGateway: Bool {
        switch self {
        case .gatewayCloud, .gatewayLocal: true
        case .usageAPI, .inferenceServer: false
        }
    }

    public init(source: String?) {
        self = StreamKind.allCases.first { $0.source != nil && $0.source == source } ?? .inferenceServer
    }

    /// Whether a stream of `source` is cloud spend.
    public static func isCloudSpend(_ source: String?) -> Bool {
        StreamKind(source: source).isCloudSpend
    }

    /// The same rule as an SQL condition on a `source` column: true where the row's kind is
    /// cloud spend as `cloudSpend` says. Made from the same table, so the day summary and the
    /// Swift code cannot disagree.
    public static func sqlCondition(column: String, cloudSpend: Bool) -> String {
        let sources = allCases.filter(\.isCloudSpend).compactMap(\.source).map { "'\($0)'" }
        return "\(column) \(cloudSpend ? "IN" : "NOT IN") (\(sources.joined(separator: ", ")))"
    }
}
