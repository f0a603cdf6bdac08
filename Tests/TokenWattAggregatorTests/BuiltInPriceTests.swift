import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The built-in cloud price list: complete enough to price common models with no config,
/// dated and sourced, overridable, and only in its own currency.
@Suite struct BuiltInPriceTests {
    @Test func theListIsDatedSourcedAndCoversTheThreeProviders() {
        let list = BuiltInPrice.all
        #expect(list.count >= 20)
        #expect(Set(list.map(\.provider)) == ["openai", "anthropic", "google"])
        #expect(list.allSatisfy { $0.source.hasPrefix("https://") && $0.taken > 0 })
        #expect(list.allSatisfy { $0.price.cachedInput <= $0.price.input && $0.price.input < $0.price.output })
    }

    @Test(arguments: [
        ("gpt-4o-mini", 0.15, 0.075, 0.60),
        ("gpt-4o-mini-2024-07-18", 0.15, 0.075, 0.60),
        ("gpt-4o", 2.50, 1.25, 10.00),
        ("gpt-5-mini", 0.25, 0.025, 2.00),
        ("gpt-5", 1.25, 0.125, 10.00),
        ("claude-sonnet-4-5-20250929", 3.00, 0.30, 15.00),
        ("claude-opus-4-1-20250805", 15.00, 1.50, 75.00),
        ("claude-opus-4-5", 5.00, 0.50, 25.00),
        ("claude-3-5-haiku-20241022", 0.80, 0.08, 4.00),
        ("gemini-2.5-flash", 0.30, 0.03, 2.50),
        ("gemini-2.5-flash-lite", 0.10, 0.01, 0.40),
    ] as [(String, Double, Double, Double)])
    func aModelWithoutConfigGetsItsListPrice(model: String, input: Double, cached: Double, output: Double) throws {
        let price = try #require(Pricing().cloudPrice(of: model, atHour: 0))
        #expect(price.input == input && price.cachedInput == cached && price.output == output)
    }

    @Test func configWinsAndOtherCurrenciesGetNoDollarPrices() throws {
        var pricing = try Pricing.parse(ConfigNode(yaml: "cloud_prices: [{match: gpt-4o-mini, input: 0.10, output: 0.50}]", file: "a.yml"))
        #expect(pricing.cloudPrice(of: "gpt-4o-mini", atHour: 0)?.input == 0.10)
        #expect(pricing.cloudPrice(of: "gpt-4o", atHour: 0)?.input == 2.50)
        #expect(pricing.cloudPrice(of: "mystery-model", atHour: 0) == nil)
        pricing.currency = "EUR"
        #expect(pricing.cloudPrice(of: "gpt-4o", atHour: 0) == nil)
        #expect(pricing.cloudPrice(of: "gpt-4o-mini", atHour: 0)?.input == 0.10)
        // A shadow price may name a listed model.
        #expect(throws: Never.self) { try Pricing.parse(ConfigNode(yaml: "shadow_prices: [{local: \"llama.*\", cloud: gpt-4o-mini}]", file: "a.yml")) }
    }

    /// A local model without a shadow price: its cloud-equivalent is unknown, so the row says
    /// unpriced; its on-prem cost is still its share of the node's.
    @Test func aLocalModelWithoutShadowPriceIsUnpriced() {
        var hour = HourCosts(hour: 0)
        hour.nodes["n"] = HourCosts.Energy(gpu: 3.6e6)
        hour.tokens[HourCosts.Stream(node: "n", source: "vllm", provider: "local", model: "mistral-7b", labels: [:])] = ["output": 1_000]
        let ledger = hour.ledger(pricing: Pricing()) { _ in [:] }
        #expect(ledger.usage.first?.priced == false)
        #expect(ledger.usage.first?.cloudEquivalent == 0)
        #expect(ledger.usage.first?.cost == 0.15)
    }
}
