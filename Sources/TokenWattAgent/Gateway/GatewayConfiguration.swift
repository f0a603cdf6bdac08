import TokenWattCore
import TokenWattService

/// The metering gateway's settings (`gateway:` in the agent's config; off without it): where it
/// listens, the callers' keys and who they are, and the upstream each model goes to.
public struct GatewayConfiguration: Sendable, Equatable {
    /// A caller: its key (from a file or the environment) and the labels its tokens carry.
    public struct Caller: Sendable, Equatable {
        public var key: String
        public var labels: [String: String]
    }

    /// The API an upstream speaks.
    public enum API: String, Sendable, CaseIterable {
        case openai, anthropic
    }

    /// Models that `match` go to `upstream`, with its own key (never the caller's).
    public struct Route: Sendable, Equatable {
        public var pattern: String
        public var upstream: String
        public var api: API
        public var provider: String
        /// A local inference server (its tokens are priced by the ledger's measured cost), or a cloud API.
        public var local: Bool
        public var key: String?
        let matcher: LabelMatcher

        public static func == (lhs: Route, rhs: Route) -> Bool {
            (lhs.pattern, lhs.upstream, lhs.api, lhs.provider, lhs.local, lhs.key) == (rhs.pattern, rhs.upstream, rhs.api, rhs.provider, rhs.local, rhs.key)
        }
    }

    public var listen = ListenAddress(host: "127.0.0.1", port: 9472)
    public var callers: [Caller] = []
    public var routes: [Route] = []
    /// The output a request that names no limit is reserved for.
    public var defaultMaxOutputTokens = 4_096

    /// The caller a request's `Authorization: Bearer` or `x-api-key` names; every key is
    /// compared in full, so timing tells nothing about which one nearly matched.
    func caller(authorization: String?, apiKey: String?) -> Caller? {
        guard let presented = authorization.flatMap(BearerToken.presented(in:)) ?? apiKey.map({ Array($0.utf8) }) else { return nil }
        var found: Caller?
        for caller in callers where BearerToken.constantTimeEqual(presented, Array(caller.key.utf8)) { found = caller }
        return found
    }

    /// The first route whose pattern matches the whole model name.
    func route(model: String) -> Route? {
        routes.first { $0.matcher.matches(model) }
    }

    static func parse(_ node: ConfigNode, attributes: [String], environment: [String: String]) throws(CoreError) -> GatewayConfiguration? {
        guard node.isPresent else { return nil }
        try node.requireMapping(allowing: ["listen", "callers", "routes", "default_max_output_tokens"])
        var gateway = GatewayConfiguration()
        if let listen = try node["listen"].string() {
            guard let address = ListenAddress(parsing: listen) else { throw node["listen"].error("host:port, got \"\(listen)\"") }
            gateway.listen = address
        }
        for item in try node["callers"].items() {
            try item.requireMapping(allowing: ["key_file", "key_env", "labels"])
            guard let key = try item.secret(named: "key", environment: environment) else { throw item.error("key_file or key_env with the caller's API key") }
            guard !gateway.callers.contains(where: { $0.key == key }) else { throw item.error("a key no other caller has") }
            gateway.callers.append(Caller(key: key, labels: try Attribution.labels(item["labels"], allowed: attributes)))
        }
        for item in try node["routes"].items() {
            try item.requireMapping(allowing: ["match", "upstream", "api", "provider", "local", "key_file", "key_env"])
            guard let pattern = try item["match"].string(), !pattern.isEmpty else { throw item["match"].error("a regular expression over the model name") }
            let matcher: LabelMatcher
            do {
                matcher = try LabelMatcher("model", .matchesRegex, pattern)
            } catch {
                throw item["match"].error("a valid regular expression: \(error)")
            }
            guard let upstream = try item["upstream"].string(), upstream.hasPrefix("http://") || upstream.hasPrefix("https://") else {
                throw item["upstream"].error("the upstream's http:// or https:// base URL")
            }
            guard let api = API(rawValue: try item["api"].string(default: "openai")) else { throw item["api"].error("openai or anthropic") }
            let local = try item["local"].bool(default: false)
            gateway.routes.append(Route(pattern: pattern, upstream: upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream, api: api,
                                        provider: try item["provider"].string(default: local ? "local" : api.rawValue), local: local,
                                        key: try item.secret(named: "key", environment: environment), matcher: matcher))
        }
        guard !gateway.callers.isEmpty else { throw node["callers"].error("at least one caller: the gateway takes no request without a key") }
        gateway.defaultMaxOutputTokens = try node["default_max_output_tokens"].int(default: gateway.defaultMaxOutputTokens)
        guard gateway.defaultMaxOutputTokens > 0 else { throw node["default_max_output_tokens"].error("a positive number of tokens") }
        return gateway
    }
}
