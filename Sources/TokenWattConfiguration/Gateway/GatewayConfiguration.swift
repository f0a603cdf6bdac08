import TokenWattAPI
import TokenWattCore
import TokenWattService

/// `tokenwatt-gateway`'s settings: where it listens, the callers' keys and who they are, the
/// upstream each model goes to, and (as the agent) the aggregator it ships usage to and
/// reserves against, and its spool.
public struct GatewayConfiguration: Sendable, Equatable {
    /// A caller: its key (from a file or the environment), the labels its tokens carry, and
    /// its own rate caps.
    public struct Caller: Sendable, Equatable {
        public var key: String
        public var labels: [String: String]
        public var rateLimit: RateLimit?
        /// Whether its answers carry what they cost (`x-tokenwatt-*`, a stream's last event).
        public var costHeaders = true
    }

    /// Per-caller rate caps: past either, the caller is refused for `coolDownMs`.
    public struct RateLimit: Sendable, Equatable {
        public var tokensPerMinute: Int?
        public var requestsPerMinute: Int?
        public var coolDownMs: Int64 = 60_000
    }

    /// The API an upstream speaks.
    public enum API: String, Sendable, CaseIterable {
        case openai, anthropic
    }

    /// Models that `match` go to `upstream`, with its own key (never the caller's).
    public struct Route: Sendable, Equatable {
        public var match: ModelPattern
        public var upstream: String
        public var api: API
        public var provider: String
        /// A local inference server (its tokens are priced by the ledger's measured cost), or a cloud API.
        public var local: Bool
        public var key: String?
        /// Whether requests reserve their worst case against the aggregator's hard caps first.
        public var capped: Bool = true
        /// Whether a capped request goes through unmetered once the aggregator cannot be asked
        /// and the gateway's slices are spent or expired.
        public var allowWhenUnreachable: Bool = false
        /// The model a request over a cap is sent to instead of being refused.
        public var fallback: String?
        /// What a streamed request that names no output limit reserves: its worst case
        /// (`default_max_output_tokens`), or its caller's typical output (`typical_output`).
        public var typicalOutput = false
        /// Whether its answers carry what they cost: off where a provider's terms forbid extra headers.
        public var costHeaders = true

        /// The route's name in metrics: its pattern.
        public var pattern: String { match.pattern }

        /// The usage path's `source` of this route's tokens: the ledger prices `gateway` as
        /// cloud spend and carves `gateway_local` out of the local servers' own counts.
        public var source: String { local ? TokenSource.gatewayLocal : TokenSource.gateway }
    }

    public var listen = ListenAddress(host: "127.0.0.1", port: 9472)
    /// The aggregator, the spool, the interval and the usage labels (`SenderConfiguration`).
    public var sender = SenderConfiguration(spoolDirectory: "./tokenwatt-gateway-data")
    /// The listener's limits, TLS and readers (of its `/metrics`): many callers often share one
    /// address (a host, a NAT) and one key (an application's requests in flight), so more
    /// connections per client and per key than the agent's listener allows.
    public var web: WebConfiguration = {
        var limits = ConnectionLimits()
        limits.maxUnauthenticatedConnectionsPerClient = 4_096
        limits.maxConnectionsPerCredential = 4_096
        return WebConfiguration(limits: limits)
    }()
    /// Requests in flight to one upstream host at most; more wait for a connection.
    public var upstreamConnections = 1_024
    public var callers: [Caller] = [] {
        didSet { callersByKey = BearerTokenTable(callers.map { (Array($0.key.utf8), $0) }) }
    }
    private var callersByKey = BearerTokenTable<Caller>([])
    public var routes: [Route] = []
    /// The output a request that names no limit is reserved for.
    public var defaultMaxOutputTokens = 4_096
    /// The gateway's slices of the hard caps (`leases:`).
    public var leases = Leases()
    /// How a `typical` route sizes a streamed request's output (`typical_output:`).
    public var typical = TypicalOutput()
    /// The request header that names an agent's session or run (caps held `per: session`),
    /// and how many sessions the gateway tells apart at once; more share one overflow session.
    public var sessions = Sessions()

    public struct Sessions: Sendable, Equatable {
        public var header = "x-tokenwatt-session"
        public var maxActive = 10_000
    }
    /// The longest an upstream may take to answer in full.
    public var upstreamTimeoutMs: Int64 = 600_000
    /// How long a stream whose client left is read on for its usage.
    public var abandonedStreamTimeoutMs: Int64 = 120_000

    /// A `typical` route's reservation for a streamed request without an output limit: the
    /// `percentile` of the output its caller's last `samples` requests to its model used,
    /// within `floor` and `ceiling` (the ceiling while there is no history yet; at most
    /// `default_max_output_tokens`).
    public struct TypicalOutput: Sendable, Equatable {
        public var percentile = 0.95
        public var floor = 64
        public var ceiling = 4_096
        public var samples = 100
    }

    /// How the gateway holds its slices of the hard caps: it reports them every
    /// `reportIntervalMs`; a slice unreported for `expiryMs` expires; it asks for room for
    /// `coverMs` of its recent rate (what it admits from while the aggregator is away); a
    /// request without room waits up to `waitMs` for room another gateway gives back.
    public struct Leases: Sendable, Equatable {
        public var reportIntervalMs: Int64 = 1_000
        public var expiryMs: Int64 = 120_000
        public var coverMs: Int64 = 60_000
        public var waitMs: Int64 = 3_000
        /// A slice nothing was admitted from for this long goes back to its cap.
        public var idleMs: Int64 = 10_000
    }

    /// The caller a request's `Authorization: Bearer` or `x-api-key` names.
    public func caller(authorization: String?, apiKey: String?) -> Caller? {
        guard let presented = authorization.flatMap(BearerToken.presented(in:)) ?? apiKey.map({ Array($0.utf8) }) else { return nil }
        return callersByKey.owner(of: presented)
    }

    /// The first route whose pattern matches the whole model name.
    public func route(model: String) -> Route? {
        routes.first { $0.match.matches(model) }
    }

    public init() {}
}

extension GatewayConfiguration: ConfigFileLoadable {
    public static func parse(_ node: ConfigNode, environment: [String: String]) throws(CoreError) -> GatewayConfiguration {
        try node.requireMapping(allowing: ["listen", "web", "aggregator", "spool", "interval", "usage", "callers", "routes", "default_max_output_tokens",
                                           "leases", "typical_output", "sessions", "upstream_timeout", "upstream_connections", "abandoned_stream_timeout",
                                           "reservation_ttl", "grace"])
        // Keys of the version before leases: named, so that the operator knows what replaced them.
        for replaced in ["reservation_ttl", "grace"] where node[replaced].isPresent {
            throw node[replaced].error("nothing: capped requests are admitted from the gateway's slices of the caps now (leases: report_interval, expiry, cover, wait)")
        }
        var gateway = GatewayConfiguration()
        gateway.listen = try node["listen"].listenAddress(default: gateway.listen)
        gateway.web = try WebConfiguration(node["web"], defaults: gateway.web, environment: environment)
        try gateway.sender.parse(node, environment: environment)
        let attributes = gateway.sender.usageAttributes
        gateway.upstreamConnections = try node["upstream_connections"].int(default: gateway.upstreamConnections)
        guard gateway.upstreamConnections > 0 else { throw node["upstream_connections"].error("a positive number of connections") }
        for item in try node["callers"].items() {
            try item.requireMapping(allowing: ["key_file", "key_env", "labels", "rate_limit", "cost_headers"])
            guard let key = try item.secret(named: "key", environment: environment) else { throw item.error("key_file or key_env with the caller's API key") }
            guard !gateway.callers.contains(where: { $0.key == key }) else { throw item.error("a key no other caller has") }
            gateway.callers.append(Caller(key: key, labels: try Attribution.labels(item["labels"], allowed: attributes),
                                          rateLimit: try rateLimit(item["rate_limit"]), costHeaders: try item["cost_headers"].bool(default: true)))
        }
        for item in try node["routes"].items() {
            gateway.routes.append(try route(item, environment: environment))
        }
        for (index, route) in gateway.routes.enumerated() {
            guard let fallback = route.fallback else { continue }
            guard let target = gateway.route(model: fallback), target != route else {
                throw try node["routes"].items()[index]["fallback"].error("a model another route takes, not \(fallback)")
            }
        }
        guard !gateway.callers.isEmpty else { throw node["callers"].error("at least one caller: the gateway takes no request without a key") }
        gateway.defaultMaxOutputTokens = try node["default_max_output_tokens"].int(default: gateway.defaultMaxOutputTokens)
        guard gateway.defaultMaxOutputTokens > 0 else { throw node["default_max_output_tokens"].error("a positive number of tokens") }
        gateway.leases = try leases(node["leases"])
        gateway.typical = try typical(node["typical_output"], maxOutput: gateway.defaultMaxOutputTokens)
        let sessions = node["sessions"]
        try sessions.requireMapping(allowing: ["header", "max_active"])
        gateway.sessions.header = try sessions["header"].string(default: gateway.sessions.header).lowercased()
        // An HTTP token: letters, digits and these marks.
        let token = Set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")
        guard !gateway.sessions.header.isEmpty, gateway.sessions.header.allSatisfy(token.contains),
              !["authorization", "x-api-key", "host"].contains(gateway.sessions.header) else {
            throw sessions["header"].error("an HTTP header name other than the callers' keys'")
        }
        gateway.sessions.maxActive = try sessions["max_active"].int(default: gateway.sessions.maxActive)
        guard gateway.sessions.maxActive > 0 else { throw sessions["max_active"].error("a positive number of sessions") }
        gateway.upstreamTimeoutMs = try node["upstream_timeout"].durationMilliseconds(default: gateway.upstreamTimeoutMs)
        gateway.abandonedStreamTimeoutMs = try node["abandoned_stream_timeout"].durationMilliseconds(default: gateway.abandonedStreamTimeoutMs)
        return gateway
    }

    private static func typical(_ node: ConfigNode, maxOutput: Int) throws(CoreError) -> TypicalOutput {
        try node.requireMapping(allowing: ["percentile", "floor", "ceiling", "samples"])
        var typical = TypicalOutput()
        if let text = try node["percentile"].string() {
            guard let value = Double(text), value > 0, value <= 1 else { throw node["percentile"].error("a fraction above 0 and at most 1, such as 0.95") }
            typical.percentile = value
        }
        typical.floor = try node["floor"].int(default: typical.floor)
        typical.ceiling = try node["ceiling"].int(default: maxOutput)
        guard typical.floor > 0, typical.floor <= typical.ceiling, typical.ceiling <= maxOutput else {
            throw node.error("0 < floor <= ceiling <= default_max_output_tokens (\(maxOutput))")
        }
        typical.samples = try node["samples"].int(default: typical.samples)
        guard (1...10_000).contains(typical.samples) else { throw node["samples"].error("from 1 to 10000 requests") }
        return typical
    }

    private static func leases(_ node: ConfigNode) throws(CoreError) -> Leases {
        try node.requireMapping(allowing: ["report_interval", "expiry", "cover", "wait", "idle"])
        var leases = Leases()
        leases.reportIntervalMs = try node["report_interval"].durationMilliseconds(default: leases.reportIntervalMs)
        guard (100...60_000).contains(leases.reportIntervalMs) else { throw node["report_interval"].error("from 100ms to 1m") }
        leases.expiryMs = try node["expiry"].durationMilliseconds(default: leases.expiryMs)
        guard leases.expiryMs >= 3 * leases.reportIntervalMs, leases.expiryMs <= LeaseAPI.maxExpiryMs else {
            throw node["expiry"].error("at least three report intervals and at most 10m (the aggregator's limit)")
        }
        leases.coverMs = try node["cover"].durationMilliseconds(default: leases.coverMs)
        guard leases.coverMs >= leases.reportIntervalMs else { throw node["cover"].error("at least one report interval") }
        leases.waitMs = try node["wait"].durationMilliseconds(default: leases.waitMs)
        leases.idleMs = try node["idle"].durationMilliseconds(default: leases.idleMs)
        guard leases.idleMs >= leases.reportIntervalMs else { throw node["idle"].error("at least one report interval") }
        return leases
    }

    private static func route(_ item: ConfigNode, environment: [String: String]) throws(CoreError) -> Route {
        try item.requireMapping(allowing: ["match", "upstream", "api", "provider", "local", "key_file", "key_env", "capped", "on_unreachable", "fallback",
                                           "output_reservation", "cost_headers"])
        guard let upstream = try item["upstream"].string(), upstream.hasPrefix("http://") || upstream.hasPrefix("https://") else {
            throw item["upstream"].error("the upstream's http:// or https:// base URL")
        }
        guard let api = API(rawValue: try item["api"].string(default: "openai")) else { throw item["api"].error("openai or anthropic") }
        let local = try item["local"].bool(default: false)
        var route = Route(match: try ModelPattern(item["match"]), upstream: upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream, api: api,
                          provider: try item["provider"].string(default: local ? "local" : api.rawValue), local: local,
                          key: try item.secret(named: "key", environment: environment))
        route.capped = try item["capped"].bool(default: true)
        switch try item["on_unreachable"].string(default: "deny") {
        case "deny": route.allowWhenUnreachable = false
        case "allow": route.allowWhenUnreachable = true
        default: throw item["on_unreachable"].error("deny or allow")
        }
        route.fallback = try item["fallback"].string()
        switch try item["output_reservation"].string(default: "worst_case") {
        case "worst_case": route.typicalOutput = false
        case "typical": route.typicalOutput = true
        default: throw item["output_reservation"].error("worst_case or typical")
        }
        route.costHeaders = try item["cost_headers"].bool(default: true)
        return route
    }

    private static func rateLimit(_ node: ConfigNode) throws(CoreError) -> RateLimit? {
        guard node.isPresent else { return nil }
        try node.requireMapping(allowing: ["tokens_per_minute", "requests_per_minute", "cool_down"])
        var limit = RateLimit()
        for (key, path) in [("tokens_per_minute", \RateLimit.tokensPerMinute), ("requests_per_minute", \RateLimit.requestsPerMinute)] {
            guard node[key].isPresent else { continue }
            let value = try node[key].int(default: 0)
            guard value > 0 else { throw node[key].error("a positive number") }
            limit[keyPath: path] = value
        }
        guard limit.tokensPerMinute != nil || limit.requestsPerMinute != nil else { throw node.error("tokens_per_minute, requests_per_minute or both") }
        limit.coolDownMs = try node["cool_down"].durationMilliseconds(default: limit.coolDownMs)
        return limit
    }
}

extension GatewayConfiguration {
    /// Refuses a listener beyond loopback whose `/metrics` needs no credential, unless reads are
    /// opened on purpose (`WebConfiguration.checkReads`); callers always need their keys.
    public func checkListener(source: String) throws(CoreError) {
        try web.checkReads(listen: listen, source: source)
    }
}
