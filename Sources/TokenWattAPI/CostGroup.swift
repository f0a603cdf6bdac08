/// `GET /api/v1/costs`: the ledger hours of `[from, to)` grouped by the labels in `by`, with
/// their total. Times are Unix seconds.
public struct CostsResponse: Codable, Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var by: [String]
    public var currency: String
    public var groups: [CostGroup]
    /// The groups' costs added up.
    public var total: Double

    public init(from: Double, to: Double, by: [String], currency: String, groups: [CostGroup]) {
        self.from = from
        self.to = to
        self.by = by
        self.currency = currency
        self.groups = groups
        total = groups.reduce(0) { $0 + $1.figures.cost }
    }
}

/// One group of a costs report: its labels, its bucket of time when the report has a step,
/// and its figures. Written flat: the figures beside `labels`, `start` and `end`.
public struct CostGroup: Codable, Sendable, Equatable {
    public var labels: [String: String]
    /// The bucket's bounds in Unix seconds; absent without a step.
    public var start: Double?
    public var end: Double?
    public var figures: CostFigures

    public init(labels: [String: String], start: Double? = nil, end: Double? = nil, figures: CostFigures) {
        self.labels = labels
        self.start = start
        self.end = end
        self.figures = figures
    }

    /// The group's bucket in milliseconds: the report's `window` where the report has no step.
    public func bucket(within window: (from: Int64, to: Int64)) -> (start: Int64, end: Int64) {
        (start.map { Int64(($0 * 1000).rounded()) } ?? window.from, end.map { Int64(($0 * 1000).rounded()) } ?? window.to)
    }

    private enum CodingKeys: String, CodingKey {
        case labels, start, end
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        labels = try container.decode([String: String].self, forKey: .labels)
        start = try container.decodeIfPresent(Double.self, forKey: .start)
        end = try container.decodeIfPresent(Double.self, forKey: .end)
        figures = try CostFigures(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(labels, forKey: .labels)
        try container.encodeIfPresent(start, forKey: .start)
        try container.encodeIfPresent(end, forKey: .end)
        try figures.encode(to: encoder)
    }
}

/// The figures of a group of ledger rows. Money is in the report's currency. A figure that
/// does not apply is absent: per-million figures without tokens to divide by, emissions
/// without `carbon:`, energy and cost components unless grouped by node alone.
public struct CostFigures: Codable, Sendable, Equatable {
    public var requests: Double
    public var tokens: TokenCounts
    /// On-prem cost and cloud spend.
    public var cost: Double
    /// The share of node costs of its local tokens; grouped by node, the node's whole cost.
    public var onPremCost: Double
    /// Cloud API tokens at their prices.
    public var cloudSpend: Double
    /// What its local tokens would have cost on the cloud.
    public var cloudEquivalent: Double
    /// Cloud-equivalent minus on-prem cost.
    public var savings: Double
    /// Tokens no price applied to.
    public var unpricedTokens: Double
    public var costPerMillionTokens: Double?
    public var cloudEquivalentPerMillionTokens: Double?
    public var cloudCostPerMillionTokens: Double?
    /// Grams of CO2e (`carbon:`), and per million local tokens.
    public var gco2e: Double?
    public var gco2ePerMillionTokens: Double?
    public var gco2eComponents: EmissionComponents?
    /// Energy by node: measured and estimated kWh apart.
    public var kwh: Double?
    public var kwhEstimated: Double?
    public var energySources: [String]?
    public var components: CostComponents?
    /// The cost of hours without local tokens.
    public var idleCost: Double?
    /// The cost of its tokens (idle hours left out) by how they are priced: cloud spend in
    /// proportion to its price's parts, local tokens by count (a node's cost is shared by its
    /// tokens alike); and the cloud-equivalent by the shadow price's parts. `input` here is
    /// the prompt tokens not cached.
    public var costByTokenType: TokenParts?
    public var cloudEquivalentByTokenType: TokenParts?
    /// Of its on-prem cost, the GPU energy its inference servers drew on GPUs shared with
    /// others, charged to their tokens directly (the rest is shared by tokens); absent where
    /// no GPU was shared.
    public var gpuShareCost: Double?

    public init(requests: Double = 0, tokens: TokenCounts = TokenCounts(), cost: Double = 0, onPremCost: Double = 0, cloudSpend: Double = 0,
                cloudEquivalent: Double = 0, savings: Double = 0, unpricedTokens: Double = 0) {
        self.requests = requests
        self.tokens = tokens
        self.cost = cost
        self.onPremCost = onPremCost
        self.cloudSpend = cloudSpend
        self.cloudEquivalent = cloudEquivalent
        self.savings = savings
        self.unpricedTokens = unpricedTokens
    }

    private enum CodingKeys: String, CodingKey {
        case requests, tokens, cost, savings, gco2e, kwh, components
        case onPremCost = "on_prem_cost", cloudSpend = "cloud_spend", cloudEquivalent = "cloud_equivalent", unpricedTokens = "unpriced_tokens"
        case costPerMillionTokens = "cost_per_million_tokens", cloudEquivalentPerMillionTokens = "cloud_equivalent_per_million_tokens"
        case cloudCostPerMillionTokens = "cloud_cost_per_million_tokens", gco2ePerMillionTokens = "gco2e_per_million_tokens"
        case gco2eComponents = "gco2e_components", kwhEstimated = "kwh_estimated", energySources = "energy_sources", idleCost = "idle_cost"
        case costByTokenType = "cost_by_token_type", cloudEquivalentByTokenType = "cloud_equivalent_by_token_type", gpuShareCost = "gpu_share_cost"
    }
}

/// Tokens by type: input includes cached input, output includes reasoning.
public struct TokenCounts: Codable, Sendable, Equatable {
    public var input: Double
    public var cachedInput: Double
    public var output: Double
    public var reasoning: Double

    public init(input: Double = 0, cachedInput: Double = 0, output: Double = 0, reasoning: Double = 0) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
        self.reasoning = reasoning
    }

    /// Input and output: every token once.
    public var all: Double { input + output }

    private enum CodingKeys: String, CodingKey {
        case input, output, reasoning
        case cachedInput = "cached_input"
    }
}

/// Money split by how a token is priced: prompt tokens not cached, cached prompt tokens, and
/// output. The three add up to the whole (`TokenParts.split`).
public struct TokenParts: Codable, Sendable, Equatable {
    public var input: Double
    public var cachedInput: Double
    public var output: Double

    public init(input: Double = 0, cachedInput: Double = 0, output: Double = 0) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
    }

    public var total: Double { input + cachedInput + output }

    /// `amount` split in proportion to `weights`; by the token counts `tokens` where the
    /// weights are all 0 (no price), and nothing where there are no tokens either.
    public static func split(_ amount: Double, weights: TokenParts, tokens: TokenParts) -> TokenParts {
        let basis = weights.total > 0 ? weights : tokens
        guard basis.total > 0 else { return TokenParts() }
        return TokenParts(input: amount * basis.input / basis.total, cachedInput: amount * basis.cachedInput / basis.total,
                          output: amount * basis.output / basis.total)
    }

    public static func += (sum: inout TokenParts, part: TokenParts) {
        sum = TokenParts(input: sum.input + part.input, cachedInput: sum.cachedInput + part.cachedInput, output: sum.output + part.output)
    }

    private enum CodingKeys: String, CodingKey {
        case input, output
        case cachedInput = "cached_input"
    }
}

/// A node's cost by component: energy measured and estimated apart, capex and overhead.
public struct CostComponents: Codable, Sendable, Equatable {
    public var energy: Double
    public var energyEstimated: Double
    public var capex: Double
    public var overhead: Double

    public init(energy: Double, energyEstimated: Double, capex: Double, overhead: Double) {
        self.energy = energy
        self.energyEstimated = energyEstimated
        self.capex = capex
        self.overhead = overhead
    }

    private enum CodingKeys: String, CodingKey {
        case energy, capex, overhead
        case energyEstimated = "energy_estimated"
    }
}

/// A node's grams of CO2e: operational (its energy) and embodied (its hardware, amortised).
public struct EmissionComponents: Codable, Sendable, Equatable {
    public var operational: Double
    public var embodied: Double

    public init(operational: Double, embodied: Double) {
        self.operational = operational
        self.embodied = embodied
    }
}
