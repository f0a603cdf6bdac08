import Foundation
import Testing
import TokenWattTestSupport
@testable import TokenWattAggregator

/// docs/http-api.md lists what the aggregator serves, nothing more, nothing less.
@Suite struct HTTPAPIPageTests {
    @Test func theAggregatorsRoutesAreThePagesAndOnlyThem() async throws {
        try await withAggregator { _, aggregator in
            let documented = try DocsPage("http-api.md").routes(under: "The aggregator")
            #expect(documented.count >= 20)
            #expect(Set(aggregator.routes) == documented,
                    "served, not on the page: \(Set(aggregator.routes).subtracting(documented).sorted()); on the page, not served: \(documented.subtracting(aggregator.routes).sorted())")
        }
    }
}
