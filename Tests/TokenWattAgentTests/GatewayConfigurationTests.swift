import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattConfiguration

/// The gateway's config: callers' keys and who they are, routes by model.
@Suite struct GatewayConfigurationTests {
    static let yaml = """
        usage: {attributes: [team, agent]}
        gateway:
          listen: 127.0.0.1:19472
          callers:
            - {key_env: KEY_RESEARCH, labels: {team: research, agent: triage}}
            - {key_env: KEY_OPS, labels: {team: ops}}
          routes:
            - {match: "meta-llama/.*", upstream: "http://127.0.0.1:8000/", local: true}
            - {match: "gpt-.*", upstream: "https://api.openai.com", key_env: OPENAI_KEY}
            - {match: "claude-.*", upstream: "https://api.anthropic.com", api: anthropic, key_env: ANTHROPIC_KEY}
        """
    static let environment = ["KEY_RESEARCH": "sk-research", "KEY_OPS": "sk-ops", "OPENAI_KEY": "sk-upstream", "ANTHROPIC_KEY": "sk-ant"]

    @Test func callersAreKnownByTheirKeysAndModelsByTheirRoutes() throws {
        let gateway = try #require(try AgentConfiguration.parse(yaml: GatewayConfigurationTests.yaml, file: "agent.yml",
                                                                environment: GatewayConfigurationTests.environment).gateway)
        #expect(gateway.listen == ListenAddress(host: "127.0.0.1", port: 19472))
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
        #expect(try AgentConfiguration.parse(yaml: "interval: 10s", file: "agent.yml").gateway == nil)
    }

    @Test(arguments: [
        ("gateway: {routes: []}", "agent.yml: gateway.callers: at least one caller: the gateway takes no request without a key"),
        ("gateway: {callers: [{key_env: K, labels: {cost_center: x}}]}",
         "agent.yml: gateway.callers[0].labels.cost_center: a label usage.attributes allows (team, project, agent), not cost_center"),
        ("gateway: {callers: [{key_env: K}], routes: [{match: m, upstream: ftp://x}]}", "agent.yml: gateway.routes[0].upstream: the upstream's http:// or https:// base URL"),
        ("gateway: {callers: [{key_env: K}], routes: [{match: m, upstream: \"http://x\", api: grpc}]}", "agent.yml: gateway.routes[0].api: openai or anthropic"),
        ("gateway: {callers: [{key_env: K}, {key_env: K}]}", "agent.yml: gateway.callers[1]: a key no other caller has"),
    ] as [(String, String)])
    func invalidGatewayConfigNamesTheKey(yaml: String, message: String) {
        #expect { try AgentConfiguration.parse(yaml: yaml, file: "agent.yml", environment: ["K": "sk"]) } throws: { "\($0)" == message }
    }
}
