import Foundation
import Logging
import Testing
import TokenWattConfiguration
import TokenWattTestSupport
@testable import TokenWattAgent

/// docs/http-api.md lists what the agent serves, nothing more, nothing less.
@Suite struct HTTPAPIPageTests {
    @Test func theAgentsRoutesAreThePagesAndOnlyThem() async throws {
        let directory = Environment.temporaryPath("routes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try AgentConfiguration.parse(yaml: "listen: 127.0.0.1:0\nspool: {directory: \(directory)}\n", file: "agent.yml")
        let agent = try Agent(configuration: configuration, logger: Logger(label: "test"))
        try await agent.shutdownClients()
        let documented = try DocsPage("http-api.md").routes(under: "The agent")
        #expect(documented.count >= 4)
        #expect(Set(agent.routes) == documented,
                "served, not on the page: \(Set(agent.routes).subtracting(documented).sorted()); on the page, not served: \(documented.subtracting(agent.routes).sorted())")
    }
}
