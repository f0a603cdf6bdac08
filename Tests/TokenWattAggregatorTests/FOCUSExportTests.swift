import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// `tokenwatt report --format focus` over a ledger with every kind of stream: the rows' costs
/// add up to the report's total, and cloud spend through the gateway is a cloud charge of its
/// provider, not an on-premises one.
///
/// Hour 0 on gpu-01 (1 kWh at 1.00, so 1.00 of node cost): vLLM serves llama, 800 input and
/// 200 output tokens, half of them sent by the gateway for team research (gateway_local);
/// an application reports 1M input tokens of gpt-5-mini (usage_api, 0.25 per M: 0.25); the
/// gateway sends 2M input tokens to gpt-5-mini in the cloud (gateway: 0.50). Hour 1: gpu-01
/// draws 1 kWh and serves nothing: 1.00 idle. Total 1.00 + 0.25 + 0.50 + 1.00 = 2.75.
@Suite struct FOCUSExportTests {
    static let pricingYAML = """
        electricity: {price_per_kwh: 1.0, pue: 1.0}
        cloud_prices:
          - {match: "gpt-5-mini", input: 0.25, output: 2.00}
        shadow_prices:
          - {local: "llama", cloud: gpt-5-mini}
        """

    static func ledger() throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        typealias Stream = HourCosts.Stream
        let pricing = try Pricing.parse(ConfigNode(yaml: pricingYAML, file: "focus.yml"))
        var busy = HourCosts(hour: 0)
        busy.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        busy.tokens = [
            Stream(node: "gpu-01", source: "vllm", provider: "local", model: "llama", labels: [:]): ["input": 800, "output": 200],
            Stream(node: "gpu-01", source: TokenSource.gatewayLocal, provider: "local", model: "llama", labels: ["team": "research"]): ["input": 400, "output": 100],
            Stream(node: "gpu-01", source: TokenSource.usageAPI, provider: "openai", model: "gpt-5-mini", labels: ["team": "ops"]): ["input": 1_000_000],
            Stream(node: "gpu-01", source: TokenSource.gateway, provider: "openai", model: "gpt-5-mini", labels: ["team": "research"]): ["input": 2_000_000],
        ]
        var idle = HourCosts(hour: Milliseconds.hour)
        idle.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        let hours = [busy.ledger(pricing: pricing) { _ in [:] }, idle.ledger(pricing: pricing) { _ in [:] }]
        return (hours.flatMap(\.nodes), hours.flatMap(\.usage))
    }

    @Test func rowsOfEveryStreamKindAddUpToTheReportsTotal() throws {
        let ledger = try FOCUSExportTests.ledger()
        let by = FOCUSExport.streamLabels + ["team"]
        let report = CostsResponse(from: 0, to: 7_200, by: by, currency: "USD", groups: CostReport(by: by, step: nil).rows(ledger))
        #expect(abs(report.total - 2.75) < 1e-9)
        let rows = FOCUSExport(report: report, window: (0, 2 * Milliseconds.hour), tags: ["team"]).rows()
        func column(_ name: String, _ row: [String]) -> String { row[FOCUSExport.columns.firstIndex(of: name)!] }
        let billed = rows.map { Double(column("BilledCost", $0)) ?? .nan }
        #expect(abs(billed.reduce(0, +) - report.total) < 1e-9)

        // Each kind charged as it is.
        let gateway = try #require(rows.first { column("ResourceType", $0) == "Metering gateway" })
        #expect(column("ProviderName", gateway) == "openai")
        #expect(column("BilledCost", gateway) == "0.5")
        #expect(column("ServiceName", gateway) == "openai API")
        #expect(column("x_CloudEquivalentCost", gateway) == "")
        let usageAPI = try #require(rows.first { column("ResourceType", $0) == "Usage API client" })
        #expect(column("ProviderName", usageAPI) == "openai")
        #expect(column("BilledCost", usageAPI) == "0.25")
        let local = rows.filter { column("ResourceType", $0) == "Inference node" && column("ProviderName", $0) == FOCUSExport.onPremises }
        #expect(local.count == 3)  // the server's own tokens, the gateway's local route, the idle hour
        #expect(local.contains { column("ServiceName", $0) == "gateway_local inference" && column("Tags", $0) == #"{"team":"research"}"# })
        let idle = try #require(local.first { column("ChargeDescription", $0).hasPrefix("Idle hours of gpu-01") })
        #expect(column("BilledCost", idle) == "1")
    }
}
