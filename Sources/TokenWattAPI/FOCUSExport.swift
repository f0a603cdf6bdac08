import Foundation
import TokenWattCore

/// A costs report as FOCUS 1.3 cost and usage rows (FinOps Open Cost and Usage Specification,
/// ratified December 2025), so on-prem tokens land in the tools that read cloud bills:
/// `tokenwatt report --format focus`.
///
/// One row per bucket, stream (node, source, provider, model, role and the tag labels) and
/// token type: uncached input, cached input and output are SKUs of their own, each with its
/// quantity, its unit price (cost ÷ quantity) and a `SkuPriceId`. Cloud spend
/// (`StreamKind.isCloudSpend`) is charged at its price by its provider. Local tokens are the
/// node's cost split among what ran on it: FOCUS's split cost allocation, the node the origin
/// resource, each stream and token type an allocated part with its ratio of the node's cost in
/// the bucket, and idle hours the unallocated remainder; where the node's GPUs were shared, a
/// part's ratio is two: the GPU energy its servers drew, and its share of the rest. The rows'
/// costs add up to the report's total. Columns TokenWatt adds carry FOCUS's `x_` prefix.
public struct FOCUSExport: Sendable {
    public static let version = "1.3"
    /// The labels that say what a charge is; the others become its tags.
    public static let streamLabels = ["node", "source", "provider", "model", "role"]
    public static let columns = [
        "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
        "BillingAccountId", "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
        "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "ListUnitPrice", "ContractedUnitPrice",
        "ServiceProviderName", "HostProviderName", "InvoiceIssuerName", "ProviderName", "PublisherName",
        "ServiceCategory", "ServiceSubcategory", "ServiceName", "ResourceId", "ResourceName", "ResourceType", "SkuId", "SkuPriceId", "Tags",
        "AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags",
        "x_TokenType", "x_CloudEquivalentCost", "x_UnpricedTokens",
    ]
    public static let onPremises = "On-premises"
    /// How a node's cost is split among its streams (`AllocatedMethodId`).
    public static let allocationMethod = "tokenwatt-node-cost-by-tokens"

    /// Why a part of a node's cost went where it did (`x_Basis` in `AllocatedMethodDetails`).
    public enum AllocationBasis: String, Sendable {
        /// Every token the node served shares its cost alike.
        case tokens
        /// A node of a prefill or decode pool: its cost goes to the phase it served.
        case phase
        /// A shared GPU's energy that the stream's own inference servers drew, charged to it
        /// directly (`gpu_share_cost`); the rest of its part is by `tokens` or `phase`.
        case gpuShare = "gpu_share"
        /// Hours the node served nothing: the remainder no stream was given.
        case idle
    }

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

    /// One charge before it is written: what it is, how much, and its place in its node's split.
    private struct Charge {
        var group: CostGroup
        var type: String?
        var quantity: Double
        var cost: Double
        var cloudEquivalent: Double?
        var unpricedTokens: Double
        /// Of `cost`, the shared GPU's energy charged to the stream directly.
        var gpuShare = 0.0
        /// How a local charge's part of its node was decided; nil for cloud spend.
        var basis: AllocationBasis?
        /// Its parts of the node's cost in the bucket, each with its basis (`rows()` fills them in).
        var allocation: [(ratio: Double, basis: AllocationBasis)] = []
    }

    /// The rows, each with a value for every column in `columns`' order.
    public func rows() -> [[String]] {
        let charges = report.groups.flatMap(charges(of:))
        // A node's cost in a bucket: what its local parts and idle rows are ratios of.
        func origin(_ charge: Charge) -> String {
            let (start, _) = charge.group.bucket(within: window)
            return "\(start)\u{0}\(charge.group.labels["node"] ?? "")"
        }
        var originCost: [String: Double] = [:], originCount: [String: Int] = [:]
        for charge in charges where charge.basis != nil {
            originCost[origin(charge), default: 0] += charge.cost
            originCount[origin(charge), default: 0] += 1
        }
        return charges.map { charge in
            var charge = charge
            if let basis = charge.basis {
                let total = originCost[origin(charge)] ?? 0
                // A node that cost nothing in the bucket: its parts share it equally. A part with
                // a GPU share has two: that share, and the rest.
                charge.allocation = total == 0 ? [(1 / Double(originCount[origin(charge)] ?? 1), basis)]
                    : charge.gpuShare != 0 ? [(charge.gpuShare / total, .gpuShare), ((charge.cost - charge.gpuShare) / total, basis)]
                    : [(charge.cost / total, basis)]
            }
            return row(charge)
        }
    }

    /// A group's charges: one per token type with tokens or cost, or its idle hours.
    private func charges(of group: CostGroup) -> [Charge] {
        let labels = group.labels, figures = group.figures
        let isCloud = StreamKind(source: labels["source"] ?? "").isCloudSpend
        let isIdle = (labels["source"] ?? "").isEmpty && (labels["model"] ?? "").isEmpty
        if isIdle {
            return [Charge(group: group, quantity: 1, cost: figures.onPremCost, unpricedTokens: 0, basis: .idle)]
        }
        let counts = TokenParts(input: max(0, figures.tokens.input - figures.tokens.cachedInput), cachedInput: figures.tokens.cachedInput,
                                output: figures.tokens.output)
        let cost = isCloud ? figures.cloudSpend : figures.onPremCost
        let costs = figures.costByTokenType ?? TokenParts.split(cost, weights: TokenParts(), tokens: counts)
        let equivalents = figures.cloudEquivalentByTokenType ?? TokenParts.split(figures.cloudEquivalent, weights: TokenParts(), tokens: counts)
        let basis: AllocationBasis = labels["role"] == nil ? .tokens : .phase
        let parts: [(String, KeyPath<TokenParts, Double>)] = [("input", \.input), ("cached_input", \.cachedInput), ("output", \.output)]
        // The GPU share by token count, as the rest of a local stream's cost.
        let gpuShares = TokenParts.split(figures.gpuShareCost ?? 0, weights: TokenParts(), tokens: counts)
        return parts.compactMap { type, part in
            guard counts[keyPath: part] > 0 || costs[keyPath: part] != 0 else { return nil }
            return Charge(group: group, type: type, quantity: counts[keyPath: part], cost: costs[keyPath: part],
                          cloudEquivalent: isCloud ? nil : equivalents[keyPath: part],
                          unpricedTokens: counts.total > 0 ? figures.unpricedTokens * counts[keyPath: part] / counts.total : 0,
                          gpuShare: isCloud ? 0 : gpuShares[keyPath: part], basis: isCloud ? nil : basis)
        }
    }

    private func row(_ charge: Charge) -> [String] {
        let labels = charge.group.labels
        let node = labels["node"] ?? "", source = labels["source"] ?? "", model = labels["model"] ?? ""
        let kind = StreamKind(source: source)
        let isCloud = kind.isCloudSpend
        let provider = isCloud ? labels["provider"] ?? "unknown" : FOCUSExport.onPremises
        let account = provider.lowercased().replacingOccurrences(of: " ", with: "-")
        let cost = FOCUSExport.plain(charge.cost)
        let quantity = FOCUSExport.plain(charge.quantity)
        let unitPrice = charge.quantity > 0 ? FOCUSExport.plain(charge.cost / charge.quantity) : ""
        let through = kind == .gatewayCloud ? "through the gateway to the \(provider) API" : "through the \(provider) API"
        let what = "\(quantity) \(charge.type.map { $0.replacingOccurrences(of: "_", with: " ") } ?? "") tokens of \(model)"
        let description = charge.type == nil ? "Idle hours of \(node.isEmpty ? "on-prem nodes" : node): no tokens served"
            : isCloud ? "\(what) \(through)" : "\(what) served by \(source) on \(node)\(labels["role"].map { " (\($0) pool)" } ?? "")"
        let resourceType = isCloud ? (kind == .gatewayCloud ? "Metering gateway" : "Usage API client") : "Inference node"
        let sku = charge.type.map { "\(account)/\(model)/\($0)" } ?? "\(account)/idle"
        let (start, end) = charge.group.bucket(within: window)
        let tagsJSON = tagsJSON(labels)
        var allocated = ["", "", "", "", ""]
        if !charge.allocation.isEmpty {
            let elements = charge.allocation.map { ratio, basis in
                FOCUSAllocationDetails.Element(allocatedRatio: ratio, usageUnit: charge.type.map { _ in "Tokens" },
                                               usageQuantity: charge.type.map { _ in charge.quantity }, basis: basis.rawValue)
            }
            let resource = charge.type == nil ? nil : "\(node)/\(source)/\(model)"
            allocated = [FOCUSExport.allocationMethod, FOCUSExport.json(FOCUSAllocationDetails(elements: elements)),
                         resource ?? "", resource.map { _ in "\(model) on \(node) (\(source))" } ?? "", resource == nil ? "" : tagsJSON]
        }
        return [
            cost, cost, cost, cost, report.currency,
            account, provider, TimeBounds.rfc3339(window.from), TimeBounds.rfc3339(window.to), TimeBounds.rfc3339(start), TimeBounds.rfc3339(end),
            "Usage", "", description, "Usage-Based",
            quantity, charge.type == nil ? "Idle period" : "Tokens", quantity, charge.type == nil ? "Idle period" : "Tokens", unitPrice, unitPrice,
            provider, provider, provider, provider, provider,
            "AI and Machine Learning", "Generative AI",
            charge.type == nil ? "On-premises inference (idle)" : isCloud ? "\(provider) API" : "\(source) inference",
            isCloud ? "\(node)/\(provider)" : node, node, resourceType, sku, sku, tagsJSON,
        ] + allocated + [
            charge.type ?? "", charge.cloudEquivalent.map(FOCUSExport.plain) ?? "", FOCUSExport.plain(charge.unpricedTokens),
        ]
    }

    private func tagsJSON(_ labels: [String: String]) -> String {
        FOCUSExport.json(Dictionary(uniqueKeysWithValues: tags.compactMap { name in labels[name].map { (name, $0) } }))
    }

    /// Sorted keys; finite numbers and strings always encode.
    private static func json(_ value: some Encodable) -> String {
        (try? APIJSON.encoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// A number as CSV carries it: whole numbers without a fraction, others with their digits;
    /// empty when unknown.
    public static func plain(_ value: Double?) -> String {
        guard let value else { return "" }
        return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// `AllocatedMethodDetails`: `{"Elements": [{...}]}`, FOCUS's keys and TokenWatt's `x_Basis`.
public struct FOCUSAllocationDetails: Codable, Sendable, Equatable {
    public struct Element: Codable, Sendable, Equatable {
        /// The part of the origin charge (the node's cost in the bucket) this row is.
        public var allocatedRatio: Double
        /// `Tokens` and how many, for a stream's row; absent for the idle remainder.
        public var usageUnit: String?
        public var usageQuantity: Double?
        /// `FOCUSExport.AllocationBasis`.
        public var basis: String

        public init(allocatedRatio: Double, usageUnit: String?, usageQuantity: Double?, basis: String) {
            self.allocatedRatio = allocatedRatio
            self.usageUnit = usageUnit
            self.usageQuantity = usageQuantity
            self.basis = basis
        }

        private enum CodingKeys: String, CodingKey {
            case allocatedRatio = "AllocatedRatio", usageUnit = "UsageUnit", usageQuantity = "UsageQuantity", basis = "x_Basis"
        }
    }

    public var elements: [Element]

    public init(elements: [Element]) {
        self.elements = elements
    }

    private enum CodingKeys: String, CodingKey { case elements = "Elements" }
}
