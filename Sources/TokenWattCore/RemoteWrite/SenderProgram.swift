/// The programs that push to the aggregator, by the `User-Agent` they send. Where no
/// credential is configured (loopback only), the aggregator tells an agent and a gateway on
/// the same host apart by it: their own series (spool, pushes, collectors) would otherwise
/// share a `node` and mix.
public enum SenderProgram: String, Sendable {
    case agent = "tokenwatt-agent"
    case gateway = "tokenwatt-gateway"

    /// The `node` a push without a credential is stored as: the host's name for an agent, the
    /// host's name and `-gateway` for a gateway.
    public func anonymousNode(_ host: String) -> String {
        self == .gateway ? host + "-gateway" : host
    }

    /// The program a `User-Agent` names, if one of these.
    public init?(userAgent: String?) {
        guard let name = userAgent?.split(separator: "/").first else { return nil }
        self.init(rawValue: String(name))
    }
}
