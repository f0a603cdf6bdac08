import Foundation

/// `tokenwatt report --format focus`: the ledger's streams as FOCUS 1.x cost and usage rows
/// (FinOps Open Cost and Usage Specification), so on-prem tokens land in the tools that read
/// cloud bills. One row per bucket and stream (node, source, provider, model and the tag
/// labels): cloud usage at its price, local tokens at their share of their node's measured
/// cost, idle hours on their node. Columns TokenWatt adds carry FOCUS's `x_` prefix.
struct FOCUSExport {
    /// The labels that say what a charge is; the others become its tags.
    static let streamLabels = ["node", "source", "provider", "model"]
    static let columns = [
        "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
        "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
        "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit",
        "ProviderName", "PublisherName", "InvoiceIssuerName", "ServiceCategory", "ServiceName",
        "ResourceId", "ResourceName", "ResourceType", "SkuId", "Tags",
        "x_CloudEquivalentCost", "x_UnpricedTokens",
    ]
    static let onPremises = "On-premises"

    let report: CostRows
    let tags: [String]

    func csv() -> String {
        var table = Table(columns: FOCUSExport.columns)
        for row in report.rows {
            let node = row.labels["node"] ?? ""
            let source = row.labels["source"] ?? ""
            let model = row.labels["model"] ?? ""
            let isCloud = source == "usage_api"
            let isIdle = source.isEmpty && model.isEmpty
            let provider = isCloud ? row.labels["provider"] ?? "unknown" : FOCUSExport.onPremises
            let cost = CostRows.plain(isCloud ? row.cloudSpend : row.onPremCost)
            let description = isIdle ? "Idle hours of \(node.isEmpty ? "on-prem nodes" : node): no tokens served"
                : isCloud ? "\(CostRows.plain(row.allTokens)) tokens of \(model) through the \(provider) API"
                : "\(CostRows.plain(row.allTokens)) tokens of \(model) served by \(source) on \(node)"
            let tagValues = Dictionary(uniqueKeysWithValues: tags.compactMap { name in row.labels[name].map { (name, $0) } })
            let tagsJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: tagValues, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
            table.rows.append([
                cost, cost, cost, cost, report.currency,
                CostRows.time(report.window.from), CostRows.time(report.window.to), CostRows.time(row.start), CostRows.time(row.end),
                "Usage", "", description, "Usage-Based",
                CostRows.plain(row.allTokens), "Tokens", CostRows.plain(row.allTokens), "Tokens",
                provider, provider, provider, "AI and Machine Learning",
                isIdle ? "On-premises inference (idle)" : isCloud ? "\(provider) API" : "\(source) inference",
                isCloud ? "\(node)/\(provider)" : node, node, isCloud ? "Usage API client" : "Inference node", model, tagsJSON,
                isCloud ? "" : CostRows.plain(row.cloudEquivalent), CostRows.plain(row.unpricedTokens),
            ])
        }
        return table.render(.csv, json: [:])
    }
}
