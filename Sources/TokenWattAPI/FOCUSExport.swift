import Foundation
import TokenWattCore

/// A costs report as FOCUS 1.x cost and usage rows (FinOps Open Cost and Usage Specification),
/// so on-prem tokens land in the tools that read cloud bills: `tokenwatt report --format focus`.
/// One row per bucket and stream (node, source, provider, model and the tag labels): cloud
/// spend (`StreamKind.isCloudSpend`: usage-API reports and the gateway's cloud routes) at its
/// price and provider, local tokens at their share of their node's measured cost, idle hours
/// on their node. The rows' costs add up to the report's total. Columns TokenWatt adds carry
/// FOCUS's `x_` prefix.
public struct FOCUSExport: Sendable {
    /// The labels that say what a charge is; the others become its tags.
    public static let streamLabels = ["node", "source", "provider", "model"]
    public static let columns = [
        "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
        "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
        "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit",
        "ProviderName", "PublisherName", "InvoiceIssuerName", "ServiceCategory", "ServiceName",
        "ResourceId", "ResourceName", "ResourceType", "SkuId", "Tags",
        "x_CloudEquivalentCost", "x_UnpricedTokens",
    ]
    public static let onPremises = "On-premises"

    public let report: CostsResponse
    /// The report's window in milliseconds: the billing period, and a row's charge period
    /// where the report has no step.
    public let window: (from: Int64, to: Int64)
    public let tags: [String]

    public init(report: CostsResponse, window: (from: Int64, to: Int64), tags: [String]) {
        self.report = report
        self.window = window
        self.tags = tags
    }

    /// The rows, each with a value for every column in `columns`' order.
    public func rows() -> [[String]] {
        report.groups.map { group in
            let labels = group.labels, figures = group.figures
            let node = labels["node"] ?? ""
            let source = labels["source"] ?? ""
            let model = labels["model"] ?? ""
            let kind = StreamKind(source: source)
            let isCloud = kind.isCloudSpend
            let isIdle = source.isEmpty && model.isEmpty
            let provider = isCloud ? labels["provider"] ?? "unknown" : FOCUSExport.onPremises
            let cost = FOCUSExport.plain(isCloud ? figures.cloudSpend : figures.onPremCost)
            let tokens = FOCUSExport.plain(figures.tokens.all)
            let through = kind == .gatewayCloud ? "through the gateway to the \(provider) API" : "through the \(provider) API"
            let description = isIdle ? "Idle hours of \(node.isEmpty ? "on-prem nodes" : node): no tokens served"
                : isCloud ? "\(tokens) tokens of \(model) \(through)"
                : "\(tokens) tokens of \(model) served by \(source) on \(node)"
            let resourceType = isCloud ? (kind == .gatewayCloud ? "Metering gateway" : "Usage API client") : "Inference node"
            let (start, end) = group.bucket(within: window)
            return [
                cost, cost, cost, cost, report.currency,
                TimeBounds.rfc3339(window.from), TimeBounds.rfc3339(window.to), TimeBounds.rfc3339(start), TimeBounds.rfc3339(end),
                "Usage", "", description, "Usage-Based",
                tokens, "Tokens", tokens, "Tokens",
                provider, provider, provider, "AI and Machine Learning",
                isIdle ? "On-premises inference (idle)" : isCloud ? "\(provider) API" : "\(source) inference",
                isCloud ? "\(node)/\(provider)" : node, node, resourceType, model, tagsJSON(labels),
                isCloud ? "" : FOCUSExport.plain(figures.cloudEquivalent), FOCUSExport.plain(figures.unpricedTokens),
            ]
        }
    }

    private func tagsJSON(_ labels: [String: String]) -> String {
        let values = Dictionary(uniqueKeysWithValues: tags.compactMap { name in labels[name].map { (name, $0) } })
        // A dictionary of strings always encodes.
        return (try? APIJSON.encoder().encode(values)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// A number as CSV carries it: whole numbers without a fraction, others with their digits;
    /// empty when unknown.
    public static func plain(_ value: Double?) -> String {
        guard let value else { return "" }
        return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
