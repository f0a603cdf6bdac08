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

    /// Cloud spend, priced at the model's cloud price; every other source runs on the fleet.
    public static func isCloud(_ source: String?) -> Bool {
        source == usageAPI || source == gateway
    }

    /// Tokens that went through the gateway: hard caps hold them through reservations.
    public static func isGateway(_ source: String?) -> Bool {
        source == gateway || source == gatewayLocal
    }
}
