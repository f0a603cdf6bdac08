import Testing
import TokenWattCore
@testable import TokenWattConfiguration

/// The gateway's config: callers' keys and who they are, routes by model.
@Suite struct GatewayConfigurationTests {
    static let yaml = """
        usage: {attributes: [team, agent]}
        listen: 127.0.0.1:19472
        aggregator: {url: "https://aggregator.example:9470", token_env: GATEWAY_TOKEN}
        spool: {directory: /var/lib/tokenwatt-gateway}
        callers:
          - {key_env: KEY_RESEARCH, labels: {team: research, agent: triage}}
          - {key_env: KEY_OPS, labels: {team: ops}}
        routes:
          - {match: "meta-llama/.*", upstream: "http://127.0.0.1:8000/", local: true}
          - {match: "gpt-.*", upstream: "https://api.openai.com", key_env: OPENAI_KEY}
          - {match: "claude-.*", upstream: "https://api.anthropic.com", api: anthropic, key_env: ANTHROPIC_KEY}
        """
    static let environment = ["GATEWAY_TOKEN": "gw-secret", "KEY_RESEARCH": "sk-research", "KEY_OPS": "sk-ops", "OPENAI_KEY": "sk-upstream", "ANTHROPIC_KEY": "sk-ant"]

    @Test func callersAreKnownByTheirKeysAndModelsByTheirRoutes() throws {
        let gateway = try GatewayConfiguration.parse(yaml: GatewayConfigurationTests.yaml, file: "gateway.yml", environment: GatewayConfigurationTests.environment)
        #expect(gateway.listen == ListenAddress(host: "127.0.0.1", port: 19472))
        #expect(gateway.sender.aggregatorURL == "https://aggregator.example:9470/api/v1/write" && gateway.sender.token == "gw-secret")
        #expect(gateway.sender.spoolDirectory == "/var/lib/tokenwatt-gateway" && gateway.sender.usageAttributes == ["team", "agent"])
        #expect(gateway.caller(authorization: "Bearer sk-research", apiKey: nil)?.labels == ["team": "research", "agent": "triage"])
        #expect(gateway.caller(authorization: nil, apiKey: "sk-ops")?.labels == ["team": "ops"])
        #expect(gateway.caller(authorization: "Bearer sk-researc", apiKey: nil) == nil)
        #expect(gateway.caller(authorization: nil, apiKey: nil) == nil)
        let local = try #require(gateway.route(model: "meta-llama/Llama-3.1-8B-Instruct"))
        #expect(local.upstream == "http://127.0.0.1:8000" && local.local && local.provider == "local" && local.key == nil)
        #expect(gateway.route(model: "gpt-4o-mini")?.key == "sk-upstream")
        #expect(gateway.route(model: "claude-sonnet-4-5")?.api == .anthropic)
        #expect(gateway.route(model: "claude-sonnet-4-5")?.provider == "anthropic")
        #expect(gateway.route(model: "mistral-7b") == nil)
        #expect(gateway.leases == GatewayConfiguration.Leases(reportIntervalMs: 1_000, expiryMs: 120_000, coverMs: 60_000, waitMs: 3_000, idleMs: 10_000))
    }

    @Test(arguments: [
        ("routes: []", "gateway.yml: callers: at least one caller: the gateway takes no request without a key"),
        ("callers: [{key_env: K, labels: {cost_center: x}}]",
         "gateway.yml: callers[0].labels.cost_center: a label usage.attributes allows (team, project, agent), not cost_center"),
        ("callers: [{key_env: K}]\nroutes: [{match: m, upstream: ftp://x}]", "gateway.yml: routes[0].upstream: the upstream's http:// or https:// base URL"),
        ("callers: [{key_env: K}]\nroutes: [{match: m, upstream: \"http://x\", api: grpc}]", "gateway.yml: routes[0].api: openai or anthropic"),
        ("callers: [{key_env: K}, {key_env: K}]", "gateway.yml: callers[1]: a key no other caller has"),
        ("callers: [{key_env: K}]\naggregator: {url: ftp://x}", "gateway.yml: aggregator.url: an http:// or https:// URL, got \"ftp://x\""),
        ("callers: [{key_env: K}]\nusage: {token_file: /x}", "gateway.yml: usage.token_file: no such key (known keys: attributes, max_series, max_values_per_attribute)"),
        ("callers: [{key_env: K}]\ngrace: {tokens: 1}",
         "gateway.yml: grace: nothing: capped requests are admitted from the gateway's slices of the caps now (leases: report_interval, expiry, cover, wait)"),
        ("callers: [{key_env: K}]\nleases: {report_interval: 2s, expiry: 5s}",
         "gateway.yml: leases.expiry: at least three report intervals and at most 10m (the aggregator's limit)"),
        ("callers: [{key_env: K}]\nleases: {report_interval: 10ms}", "gateway.yml: leases.report_interval: from 100ms to 1m"),
    ] as [(String, String)])
    func invalidGatewayConfigNamesTheKey(yaml: String, message: String) {
        #expect { try GatewayConfiguration.parse(yaml: yaml, file: "gateway.yml", environment: ["K": "sk"]) } throws: { "\($0)" == message }
    }

    /// The agent ran the gateway until it became a daemon of its own: an agent config that still
    /// has the section says where it went.
    @Test func anAgentConfigWithAGatewaySectionNamesTheNewBinaryAndFile() {
        #expect {
            try AgentConfiguration.parse(yaml: "gateway: {callers: [{key_env: K}]}", file: "agent.yml", environment: ["K": "sk"])
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("agent.yml: gateway: ") && message.contains("tokenwatt-gateway") && message.contains("/etc/tokenwatt/gateway.yml")
                && message.contains("gateways:")
        }
    }
}
