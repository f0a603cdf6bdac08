import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The web overview's pages in process: labels a node pushes are text, never markup.
@Suite struct WebPagesTests {
    static let hostile = "<img src=x onerror=alert(1)>\"'&"

    @Test func labelsFromNodesAreEscapedOnEveryPage() async throws {
        let now = AdviceTests.t0 + AdviceTests.hour + 10_000
        try await withAggregator({ $0.pricing = try! Pricing.parse(ConfigNode(yaml: AdviceTests.pricingYAML, file: "advice.yml")) },
                                 now: { now }) { client, aggregator in
            var series = AdviceTests.node(model: WebPagesTests.hostile) { _ in 100 }
            series.append(ts("tokenwatt_gateway_requests_total", ["route": WebPagesTests.hostile, "outcome": "forwarded"], [(now - 1_000, 3)]))
            try await CostScenarioTests.send(client, series, token: "secret-1")
            try await aggregator.costs.update()
            _ = try await aggregator.advisor.refresh()
            for path in ["/", "/costs", "/budgets", "/advice", "/gateway"] {
                let page = try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    return String(buffer: response.body)
                }
                #expect(!page.contains("<img"), "\(path)")
                #expect(!page.contains("<script"), "\(path)")
                if path != "/budgets" { #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"), "\(path)") }
            }
        }
    }

    @Test(arguments: [(0.0, 2, "0.00"), (1_234_567.891, 2, "1,234,567.89"), (-0.004, 2, "-0.0040"), (0.000123, 2, "0.00012"), (-1_000, 0, "-1,000"),
                      (.nan, 2, "NaN"), (.infinity, 0, "∞")])
    func numbersReadAsPeopleWriteThem(value: Double, decimals: Int, text: String) {
        #expect(NumberText.grouped(value, decimals: decimals) == text)
    }
}
