import Foundation
import Logging
import Testing
import TokenWattConfiguration
import TokenWattGateway
import TokenWattTestSupport

/// docs/http-api.md lists what the gateway serves, nothing more, nothing less.
@Suite struct GatewayHTTPAPIPageTests {
    @Test func theGatewaysRoutesAreThePagesAndOnlyThem() async throws {
        let directory = Environment.temporaryPath("gateway-routes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try GatewayConfiguration.parse(yaml: """
            listen: 127.0.0.1:0
            spool: {directory: \(directory)}
            callers: [{key_env: KEY}]
            routes: [{match: "gpt-.*", upstream: "https://api.openai.com", key_env: KEY}]
            """, file: "gateway.yml", environment: ["KEY": "sk-x"])
        let gateway = try Gateway(configuration: configuration, logger: Logger(label: "test"))
        try await gateway.shutdownClients()
        let documented = try DocsPage("http-api.md").routes(under: "The metering gateway")
        #expect(documented.count >= 8)
        #expect(Set(gateway.routes) == documented,
                "served, not on the page: \(Set(gateway.routes).subtracting(documented).sorted()); on the page, not served: \(documented.subtracting(gateway.routes).sorted())")
    }
}
