import Foundation
import Logging
import Testing
import TokenWattConfiguration
import TokenWattTestSupport
@testable import TokenWattAgent

/// docs/http-api.md lists what the agent and its gateway serve, nothing more, nothing less.
@Suite struct HTTPAPIPageTests {
    @Test func theAgentsAndTheGatewaysRoutesAreThePagesAndOnlyThem() async throws {
        let directory = Environment.temporaryPath("routes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try AgentConfiguration.parse(yaml: """
            listen: 127.0.0.1:0
            spool: {directory: \(directory)}
            gateway:
              listen: 127.0.0.1:0
              callers: [{key_env: KEY}]
              routes: [{match: "gpt-.*", upstream: "https://api.openai.com", key_env: KEY}]
            """, file: "agent.yml", environment: ["KEY": "sk-x"])
        let agent = try Agent(configuration: configuration, logger: Logger(label: "test"))
        try await agent.shutdownClients()
        let page = try DocsPage("http-api.md")
        let documented = page.routes(under: "The agent").union(page.routes(under: "The metering gateway"))
        #expect(documented.count >= 8)
        #expect(Set(agent.routes) == documented,
                "served, not on the page: \(Set(agent.routes).subtracting(documented).sorted()); on the page, not served: \(documented.subtracting(agent.routes).sorted())")
    }
}
