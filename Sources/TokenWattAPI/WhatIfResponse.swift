/// `GET /api/v1/whatif`: a past period's ledger re-run with changed pricing keys and shifted
/// tokens, beside today's ledger of the same samples.
public struct WhatIfResponse: Codable, Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var by: [String]
    public var currency: String
    /// The pricing keys changed, as `PATH=VALUE`.
    public var set: [String]
    /// The shares of models moved, as given (`MODEL=30%`).
    public var shift: [String]
    public var today: WhatIfFigures
    public var whatif: WhatIfFigures
    /// Tokens a shift back from the cloud found no local model for.
    public var stayedOnCloudTokens: Double

    public init(from: Double, to: Double, by: [String], currency: String, set: [String], shift: [String],
                today: WhatIfFigures, whatif: WhatIfFigures, stayedOnCloudTokens: Double) {
        self.from = from
        self.to = to
        self.by = by
        self.currency = currency
        self.set = set
        self.shift = shift
        self.today = today
        self.whatif = whatif
        self.stayedOnCloudTokens = stayedOnCloudTokens
    }

    private enum CodingKeys: String, CodingKey {
        case from, to, by, currency, set, shift, today, whatif
        case stayedOnCloudTokens = "stayed_on_cloud_tokens"
    }
}

/// One side of a what-if: the totals of its ledger (absent where it has no rows), written flat
/// beside its groups.
public struct WhatIfFigures: Codable, Sendable, Equatable {
    public var totals: CostFigures?
    public var groups: [CostGroup]

    public init(totals: CostFigures?, groups: [CostGroup]) {
        self.totals = totals
        self.groups = groups
    }

    private enum CodingKeys: String, CodingKey {
        case groups, cost
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        groups = try container.decode([CostGroup].self, forKey: .groups)
        totals = container.contains(.cost) ? try CostFigures(from: decoder) : nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(groups, forKey: .groups)
        try totals?.encode(to: encoder)
    }
}
