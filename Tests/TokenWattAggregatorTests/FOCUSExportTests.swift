import Foundation
import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// `tokenwatt report --format focus` over a ledger with every kind of stream, checked row by row
/// against FOCUS 1.3's column requirements (`FOCUSRules`), and against figures by hand.
///
/// Hour 0 on gpu-01 (1 kWh at 1.00, so 1.00 of node cost): vLLM serves llama, 800 input tokens
/// of which 600 cached and 200 output, half of them sent by the gateway's local route for team
/// research (gateway_local): each stream 400 input (300 cached) and 100 output. The 1,000 local
/// tokens share 1.00 alike: 0.001 each. An application reports 1M input tokens of gpt-5-mini,
/// 900k of them cached (usage_api): 0.1M × 0.25 + 0.9M × 0.025 = 0.0475; the gateway sends 2M
/// input tokens to gpt-5-mini (0.50). Hour 1: gpu-01 draws 1 kWh and serves nothing: 1.00 idle.
/// Total 1.00 + 0.0475 + 0.50 + 1.00 = 2.5475.
@Suite struct FOCUSExportTests {
    static let pricingYAML = """
        electricity: {price_per_kwh: 1.0, pue: 1.0}
        cloud_prices:
          - {match: "gpt-5-mini", input: 0.25, cached_input: 0.025, output: 2.00}
        shadow_prices:
          - {local: "llama", cloud: gpt-5-mini}
        """

    static func pricing() throws -> Pricing { try Pricing.parse(ConfigNode(yaml: pricingYAML, file: "focus.yml")) }

    static func ledger() throws -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        typealias Stream = HourCosts.Stream
        let pricing = try pricing()
        var busy = HourCosts(hour: 0)
        busy.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        busy.tokens = [
            Stream(node: "gpu-01", source: "vllm", provider: "local", model: "llama", labels: [:]): ["input": 800, "cached_input": 600, "output": 200],
            Stream(node: "gpu-01", source: TokenSource.gatewayLocal, provider: "local", model: "llama", labels: ["team": "research"]): ["input": 400, "output": 100],
            Stream(node: "gpu-01", source: TokenSource.usageAPI, provider: "openai", model: "gpt-5-mini", labels: ["team": "ops"]):
                ["input": 1_000_000, "cached_input": 900_000],
            Stream(node: "gpu-01", source: TokenSource.gateway, provider: "openai", model: "gpt-5-mini", labels: ["team": "research"]): ["input": 2_000_000],
        ]
        var idle = HourCosts(hour: Milliseconds.hour)
        idle.nodes = ["gpu-01": HourCosts.Energy(gpu: 3.6e6)]
        let hours = [busy.ledger(pricing: pricing) { _ in [:] }, idle.ledger(pricing: pricing) { _ in [:] }]
        // In one order, so sums of floating-point parts come out the same in every run.
        return (hours.flatMap(\.nodes), hours.flatMap(\.usage).sorted { ($0.hour, $0.source, $0.model) < ($1.hour, $1.source, $1.model) })
    }

    static func export(step: CostReport.Step? = nil) throws -> (report: CostsResponse, rows: [[String: String]]) {
        let ledger = try FOCUSExportTests.ledger()
        let by = FOCUSExport.streamLabels + ["team"]
        let report = CostsResponse(from: 0, to: 7_200, by: by, currency: "USD",
                                   groups: CostReport(by: by, step: step, pricing: try pricing()).rows(ledger))
        let rows = FOCUSExport(report: report, window: (0, 2 * Milliseconds.hour), tags: ["team"]).rows()
        return (report, rows.map { Dictionary(uniqueKeysWithValues: zip(FOCUSExport.columns, $0)) })
    }

    @Test(arguments: [nil, CostReport.Step.hour])
    func everyRowMeetsFOCUS13AndTheRowsAddUpToTheReport(_ step: CostReport.Step?) throws {
        let (report, rows) = try FOCUSExportTests.export(step: step)
        #expect(abs(report.total - 2.5475) < 1e-9)
        #expect(FOCUSRules.check(columns: FOCUSExport.columns, rows: rows) == [])
        #expect(abs(rows.map { Double($0["BilledCost"]!)! }.reduce(0, +) - report.total) < 1e-9)
    }

    @Test func cachedInputInputAndOutputAreSKUsAtTheirPrices() throws {
        let (_, rows) = try FOCUSExportTests.export()
        func row(_ sku: String, _ source: String) throws -> [String: String] {
            try #require(rows.first { $0["SkuId"] == sku && $0["ServiceName"]!.hasPrefix(source) })
        }
        func close(_ text: String?, _ expected: Double) -> Bool { abs((Double(text ?? "") ?? .nan) - expected) < 1e-12 }

        // The usage API's 90 %-cached million: each part at its own price.
        let cached = try row("openai/gpt-5-mini/cached_input", "openai")
        #expect(close(cached["BilledCost"], 0.0225) && cached["PricingQuantity"] == "900000" && close(cached["ListUnitPrice"], 0.025e-6))
        let uncached = try rows.filter { $0["SkuId"] == "openai/gpt-5-mini/input" }.first { $0["ResourceType"] == "Usage API client" }.map { $0 }
        #expect(close(uncached?["BilledCost"], 0.025) && uncached?["PricingQuantity"] == "100000")
        #expect(cached["ServiceProviderName"] == "openai" && cached["HostProviderName"] == "openai" && cached["AllocatedMethodId"] == "")

        // Local tokens: the node's cost by count, their cloud-equivalent by the shadow price's parts.
        let local = try row("on-premises/llama/cached_input", "vllm")
        #expect(close(local["BilledCost"], 0.3) && local["PricingQuantity"] == "300" && close(local["ListUnitPrice"], 0.001))
        #expect(close(local["x_CloudEquivalentCost"], 300 * 0.025e-6))
        #expect(close(try row("on-premises/llama/output", "vllm")["x_CloudEquivalentCost"], 100 * 2e-6))
        // Its part of gpu-01's 2.00 over the window (1.00 of tokens, 1.00 idle).
        let details = try APIJSON.decoder().decode(FOCUSAllocationDetails.self, from: Data(local["AllocatedMethodDetails"]!.utf8))
        let element = try #require(details.elements.first)
        #expect(abs(element.allocatedRatio - 0.15) < 1e-12)
        #expect(element.usageUnit == "Tokens" && element.usageQuantity == 300 && element.basis == "tokens")
        #expect(local["AllocatedResourceId"] == "gpu-01/vllm/llama" && local["ResourceId"] == "gpu-01" && local["ServiceProviderName"] == "On-premises")

        let idle = try #require(rows.first { $0["SkuId"] == "on-premises/idle" })
        #expect(idle["BilledCost"] == "1" && idle["AllocatedResourceId"] == "" && idle["AllocatedMethodId"] == FOCUSExport.allocationMethod)
        #expect(idle["ChargeDescription"]!.hasPrefix("Idle hours of gpu-01"))
        let gateway = try #require(rows.first { $0["ResourceType"] == "Metering gateway" })
        #expect(gateway["ServiceProviderName"] == "openai" && gateway["BilledCost"] == "0.5" && gateway["x_CloudEquivalentCost"] == "")
        #expect(rows.contains { $0["ServiceName"] == "gateway_local inference" && $0["Tags"] == #"{"team":"research"}"# })
    }

    /// The checker finds what it is there to find: each broken rule in a copy of a good row.
    @Test(arguments: [
        ("ServiceProviderName", "", "ServiceProviderName"),
        ("SkuPriceId", "", "SkuPriceId"),
        ("ListUnitPrice", "1", "ListUnitPrice"),
        ("ChargePeriodEnd", "1970-01-01T00:00:00Z", "ChargePeriod"),
        ("ChargeClass", "Fix", "ChargeClass"),
        ("AllocatedMethodDetails", #"{"Elements":[{"AllocatedRatio":0.2,"Bogus":1}]}"#, "AllocatedMethodDetails"),
        ("BillingCurrency", "dollars", "BillingCurrency"),
        ("Tags", "[1]", "Tags"),
    ])
    func theRulesCatchBrokenRows(_ column: String, _ value: String, _ expected: String) throws {
        var (_, rows) = try FOCUSExportTests.export()
        let index = try #require(rows.firstIndex { $0["SkuId"] == "on-premises/llama/cached_input" })
        rows[index][column] = value
        let problems = FOCUSRules.check(columns: FOCUSExport.columns, rows: rows)
        #expect(problems.contains { $0.contains(expected) }, "\(problems)")
    }
}

/// FOCUS 1.3's requirements on the columns TokenWatt writes, as a reader of the dataset checks
/// them; each problem names its row and column.
enum FOCUSRules {
    static let mandatory = ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
                            "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
                            "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
                            "ServiceCategory", "ServiceName", "ServiceProviderName", "HostProviderName"]
    static let focusColumns: Set<String> = Set(mandatory + ["ChargeFrequency", "ConsumedQuantity", "ConsumedUnit", "ListUnitPrice", "ContractedUnitPrice",
                                                            "ServiceSubcategory", "ResourceId", "ResourceName", "ResourceType", "SkuId", "SkuPriceId",
                                                            "Tags", "AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId",
                                                            "AllocatedResourceName", "AllocatedTags"])

    static func check(columns: [String], rows: [[String: String]]) -> [String] {
        var problems: [String] = []
        for column in mandatory where !columns.contains(column) { problems.append("missing mandatory column \(column)") }
        for column in columns where !focusColumns.contains(column) && !column.hasPrefix("x_") {
            problems.append("column \(column) is neither FOCUS's nor x_-prefixed")
        }
        var skuOfPrice: [String: String] = [:]
        var ratios: [String: Double] = [:]
        let time = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/
        for (index, row) in rows.enumerated() {
            func problem(_ column: String, _ text: String) { problems.append("row \(index): \(column) \(text)") }
            func decimal(_ column: String) -> Double? { row[column].flatMap { Double($0) } }
            let usage = row["ChargeCategory"] == "Usage" && (row["ChargeClass"] ?? "").isEmpty
            for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] where decimal(column) == nil { problem(column, "is not a decimal") }
            if !["Usage", "Purchase", "Tax", "Credit", "Adjustment"].contains(row["ChargeCategory"] ?? "") { problem("ChargeCategory", "is not a FOCUS value") }
            if !["", "Correction"].contains(row["ChargeClass"] ?? "") { problem("ChargeClass", "must be null or Correction") }
            if !["One-Time", "Recurring", "Usage-Based"].contains(row["ChargeFrequency"] ?? "") { problem("ChargeFrequency", "is not a FOCUS value") }
            if (row["BillingCurrency"] ?? "").wholeMatch(of: /[A-Z]{3}/) == nil { problem("BillingCurrency", "is not an ISO 4217 code") }
            for column in ["BillingAccountId", "BillingAccountName", "ChargeDescription", "ServiceProviderName", "InvoiceIssuerName", "ServiceName"]
            where (row[column] ?? "").isEmpty { problem(column, "must not be null") }
            // The deprecated provider columns mirror the new ones while 1.3 still requires them.
            if row["ProviderName"] != row["ServiceProviderName"] || row["PublisherName"] != row["ServiceProviderName"] {
                problem("ProviderName", "differs from ServiceProviderName")
            }
            let times = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"].map { row[$0] ?? "" }
            if times.contains(where: { $0.wholeMatch(of: time) == nil }) {
                problem("ChargePeriod", "times must be RFC 3339 in UTC")
            } else if !(times[2] < times[3] && times[0] <= times[2] && times[3] <= times[1]) {
                problem("ChargePeriod", "must be a non-empty span within the billing period")
            }
            if row["ServiceCategory"] != "AI and Machine Learning" || row["ServiceSubcategory"] != "Generative AI" { problem("ServiceCategory", "mismatch") }
            if usage {
                for column in ["SkuId", "SkuPriceId", "PricingQuantity", "PricingUnit", "ConsumedQuantity", "ConsumedUnit", "ListUnitPrice", "ContractedUnitPrice"]
                where (row[column] ?? "").isEmpty { problem(column, "must not be null for usage") }
            }
            if let quantity = decimal("PricingQuantity") {
                for (price, cost) in [("ListUnitPrice", "ListCost"), ("ContractedUnitPrice", "ContractedCost")] {
                    guard let unit = decimal(price), let total = decimal(cost) else { continue }
                    if abs(unit * quantity - total) > 1e-9 * max(1, abs(total)) { problem(price, "× PricingQuantity is not \(cost)") }
                }
            }
            if let price = row["SkuPriceId"], !price.isEmpty {
                if let sku = skuOfPrice[price], sku != row["SkuId"] { problem("SkuPriceId", "belongs to two SkuIds") }
                skuOfPrice[price] = row["SkuId"]
            }
            // Read as any JSON, not as our own types: the rules judge what a reader would find.
            func object(_ text: String) -> [String: JSONValue]? {
                switch Result(catching: { try JSONValue.parse(Array(text.utf8)) }) {
                case .success(.object(let members)): members
                default: nil
                }
            }
            if let tags = row["Tags"], !tags.isEmpty, object(tags) == nil { problem("Tags", "is not a JSON object") }
            // Split cost allocation: details exactly where a method is, FOCUS's keys or x_ ones,
            // and the ratios of one origin charge adding up to 1.
            let method = row["AllocatedMethodId"] ?? "", details = row["AllocatedMethodDetails"] ?? ""
            if method.isEmpty != details.isEmpty { problem("AllocatedMethodDetails", "must be present exactly with AllocatedMethodId") }
            guard !details.isEmpty else { continue }
            let elements: [[String: JSONValue]]? = {
                guard case .array(let items)? = object(details)?["Elements"] else { return nil }
                return items.compactMap { item in if case .object(let members) = item { members } else { nil } }
            }()
            guard let elements, !elements.isEmpty else {
                problem("AllocatedMethodDetails", "has no Elements array of objects")
                continue
            }
            for element in elements {
                if element.keys.contains(where: { !["AllocatedRatio", "UsageUnit", "UsageQuantity"].contains($0) && !$0.hasPrefix("x_") }) {
                    problem("AllocatedMethodDetails", "has a key that is neither FOCUS's nor x_")
                }
                if (element["UsageUnit"] == nil) != (element["UsageQuantity"] == nil) { problem("AllocatedMethodDetails", "UsageUnit goes with UsageQuantity") }
                guard case .number(let ratio)? = element["AllocatedRatio"] else {
                    problem("AllocatedMethodDetails", "has no AllocatedRatio")
                    continue
                }
                ratios["\(method) \(row["ResourceId"] ?? "") \(row["ChargePeriodStart"] ?? "")", default: 0] += ratio
            }
        }
        for (origin, sum) in ratios where abs(sum - 1) > 1e-9 { problems.append("the AllocatedRatio of \(origin) add up to \(sum), not 1") }
        return problems
    }
}
