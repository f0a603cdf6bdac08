/// `GET /api/v1/advice`: the burst advisor's recommendation per model with its reasons and
/// figures by node, and the nodes that served nothing. A figure that could not be measured is
/// `null`, never left out; the emissions figures are there only with `carbon:`.
public struct AdviceResponse: Codable, Sendable, Equatable {
    public var computedAt: Double
    public var windowSeconds: Double
    public var stepSeconds: Double
    public var currency: String
    public var recommendations: [Recommendation]
    public var idleNodes: [PowerOff]

    public init(computedAt: Double, windowSeconds: Double, stepSeconds: Double, currency: String, recommendations: [Recommendation], idleNodes: [PowerOff]) {
        self.computedAt = computedAt
        self.windowSeconds = windowSeconds
        self.stepSeconds = stepSeconds
        self.currency = currency
        self.recommendations = recommendations
        self.idleNodes = idleNodes
    }

    private enum CodingKeys: String, CodingKey {
        case currency, recommendations
        case computedAt = "computed_at", windowSeconds = "window_seconds", stepSeconds = "step_seconds", idleNodes = "idle_nodes"
    }

    /// What to do with one model: `keep_local`, `overflow`, `use_cloud` or `consolidate`.
    public struct Recommendation: Codable, Sendable, Equatable {
        public var model: String
        public var action: String
        public var reasons: [String]
        @NullWhenUnknown public var cloudModel: String?
        @NullWhenUnknown public var overflowAboveTokensPerSecond: Double?
        public var powerOff: [PowerOff]
        public var nodes: [Placement]

        public init(model: String, action: String, reasons: [String], cloudModel: String?, overflowAboveTokensPerSecond: Double?,
                    powerOff: [PowerOff], nodes: [Placement]) {
            self.model = model
            self.action = action
            self.reasons = reasons
            self.cloudModel = cloudModel
            self.overflowAboveTokensPerSecond = overflowAboveTokensPerSecond
            self.powerOff = powerOff
            self.nodes = nodes
        }

        private enum CodingKeys: String, CodingKey {
            case model, action, reasons, nodes
            case cloudModel = "cloud_model", overflowAboveTokensPerSecond = "overflow_above_tokens_per_second", powerOff = "power_off"
        }
    }

    /// A node that could be powered off, and what that saves a month.
    public struct PowerOff: Codable, Sendable, Equatable {
        public var node: String
        public var savingsPerMonth: Double

        public init(node: String, savingsPerMonth: Double) {
            self.node = node
            self.savingsPerMonth = savingsPerMonth
        }

        private enum CodingKeys: String, CodingKey {
            case node
            case savingsPerMonth = "savings_per_month"
        }
    }

    /// A model on one node over the window.
    public struct Placement: Codable, Sendable, Equatable {
        public var node: String
        public var tokensPerSecond: Double
        public var meanTokensPerSecond: Double
        public var peakTokensPerSecond: Double
        public var capacityTokensPerSecond: Double?
        public var headroomTokensPerSecond: Double?
        public var saturated: Bool
        public var queue: Double?
        public var kvCacheUsage: Double?
        public var utilization: Double?
        public var watts: Double?
        public var idleWatts: Double?
        public var joulesPerToken: Double?
        /// `power_curve` where a curve was fitted, else `average`.
        public var marginalBasis: String
        /// The node's joules per prompt token computed (cache hits left out) and per output
        /// token, from power against both rates; null where the fit cannot tell them.
        public var joulesPerInputToken: Double?
        public var joulesPerOutputToken: Double?
        /// `input_and_output`, `output_only`, `input_only`, `collinear` or `poor_fit`; null
        /// with fewer than three power readings or no change in load.
        public var phaseBasis: String?
        /// The share of the power's variance the phase fit explains, 0–1.
        public var powerFitRSquared: Double?
        /// All the node's energy over the window per output token (idle included).
        public var averageJoulesPerOutputToken: Double?
        public var marginalCostPerMillionTokens: Double?
        public var averageCostPerMillionTokens: Double?
        public var cloudPricePerMillionTokens: Double?
        /// With `carbon:` only; then null where unknown.
        public var emissions: Emissions?

        public struct Emissions: Sendable, Equatable {
            public var marginalGCO2ePerMillionTokens: Double?
            public var averageGCO2ePerMillionTokens: Double?

            public init(marginal: Double?, average: Double?) {
                marginalGCO2ePerMillionTokens = marginal
                averageGCO2ePerMillionTokens = average
            }
        }

        public init(node: String, tokensPerSecond: Double, meanTokensPerSecond: Double, peakTokensPerSecond: Double, saturated: Bool, marginalBasis: String) {
            self.node = node
            self.tokensPerSecond = tokensPerSecond
            self.meanTokensPerSecond = meanTokensPerSecond
            self.peakTokensPerSecond = peakTokensPerSecond
            self.saturated = saturated
            self.marginalBasis = marginalBasis
        }

        private enum CodingKeys: String, CodingKey {
            case node, saturated, queue, utilization, watts
            case tokensPerSecond = "tokens_per_second", meanTokensPerSecond = "mean_tokens_per_second", peakTokensPerSecond = "peak_tokens_per_second"
            case capacityTokensPerSecond = "capacity_tokens_per_second", headroomTokensPerSecond = "headroom_tokens_per_second"
            case kvCacheUsage = "kv_cache_usage", idleWatts = "idle_watts", joulesPerToken = "joules_per_token", marginalBasis = "marginal_basis"
            case joulesPerInputToken = "joules_per_input_token", joulesPerOutputToken = "joules_per_output_token", phaseBasis = "phase_basis"
            case powerFitRSquared = "power_fit_r_squared", averageJoulesPerOutputToken = "average_joules_per_output_token"
            case marginalCostPerMillionTokens = "marginal_cost_per_million_tokens", averageCostPerMillionTokens = "average_cost_per_million_tokens"
            case cloudPricePerMillionTokens = "cloud_price_per_million_tokens"
            case marginalGCO2ePerMillionTokens = "marginal_gco2e_per_million_tokens", averageGCO2ePerMillionTokens = "average_gco2e_per_million_tokens"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            node = try container.decode(String.self, forKey: .node)
            tokensPerSecond = try container.decode(Double.self, forKey: .tokensPerSecond)
            meanTokensPerSecond = try container.decode(Double.self, forKey: .meanTokensPerSecond)
            peakTokensPerSecond = try container.decode(Double.self, forKey: .peakTokensPerSecond)
            capacityTokensPerSecond = try container.decodeIfPresent(Double.self, forKey: .capacityTokensPerSecond)
            headroomTokensPerSecond = try container.decodeIfPresent(Double.self, forKey: .headroomTokensPerSecond)
            saturated = try container.decode(Bool.self, forKey: .saturated)
            queue = try container.decodeIfPresent(Double.self, forKey: .queue)
            kvCacheUsage = try container.decodeIfPresent(Double.self, forKey: .kvCacheUsage)
            utilization = try container.decodeIfPresent(Double.self, forKey: .utilization)
            watts = try container.decodeIfPresent(Double.self, forKey: .watts)
            idleWatts = try container.decodeIfPresent(Double.self, forKey: .idleWatts)
            joulesPerToken = try container.decodeIfPresent(Double.self, forKey: .joulesPerToken)
            marginalBasis = try container.decode(String.self, forKey: .marginalBasis)
            joulesPerInputToken = try container.decodeIfPresent(Double.self, forKey: .joulesPerInputToken)
            joulesPerOutputToken = try container.decodeIfPresent(Double.self, forKey: .joulesPerOutputToken)
            phaseBasis = try container.decodeIfPresent(String.self, forKey: .phaseBasis)
            powerFitRSquared = try container.decodeIfPresent(Double.self, forKey: .powerFitRSquared)
            averageJoulesPerOutputToken = try container.decodeIfPresent(Double.self, forKey: .averageJoulesPerOutputToken)
            marginalCostPerMillionTokens = try container.decodeIfPresent(Double.self, forKey: .marginalCostPerMillionTokens)
            averageCostPerMillionTokens = try container.decodeIfPresent(Double.self, forKey: .averageCostPerMillionTokens)
            cloudPricePerMillionTokens = try container.decodeIfPresent(Double.self, forKey: .cloudPricePerMillionTokens)
            if container.contains(.marginalGCO2ePerMillionTokens) || container.contains(.averageGCO2ePerMillionTokens) {
                emissions = Emissions(marginal: try container.decodeIfPresent(Double.self, forKey: .marginalGCO2ePerMillionTokens),
                                      average: try container.decodeIfPresent(Double.self, forKey: .averageGCO2ePerMillionTokens))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            // Every figure written, null where unknown.
            try container.encode(node, forKey: .node)
            try container.encode(tokensPerSecond, forKey: .tokensPerSecond)
            try container.encode(meanTokensPerSecond, forKey: .meanTokensPerSecond)
            try container.encode(peakTokensPerSecond, forKey: .peakTokensPerSecond)
            try container.encode(capacityTokensPerSecond, forKey: .capacityTokensPerSecond)
            try container.encode(headroomTokensPerSecond, forKey: .headroomTokensPerSecond)
            try container.encode(saturated, forKey: .saturated)
            try container.encode(queue, forKey: .queue)
            try container.encode(kvCacheUsage, forKey: .kvCacheUsage)
            try container.encode(utilization, forKey: .utilization)
            try container.encode(watts, forKey: .watts)
            try container.encode(idleWatts, forKey: .idleWatts)
            try container.encode(joulesPerToken, forKey: .joulesPerToken)
            try container.encode(marginalBasis, forKey: .marginalBasis)
            try container.encode(joulesPerInputToken, forKey: .joulesPerInputToken)
            try container.encode(joulesPerOutputToken, forKey: .joulesPerOutputToken)
            try container.encode(phaseBasis, forKey: .phaseBasis)
            try container.encode(powerFitRSquared, forKey: .powerFitRSquared)
            try container.encode(averageJoulesPerOutputToken, forKey: .averageJoulesPerOutputToken)
            try container.encode(marginalCostPerMillionTokens, forKey: .marginalCostPerMillionTokens)
            try container.encode(averageCostPerMillionTokens, forKey: .averageCostPerMillionTokens)
            try container.encode(cloudPricePerMillionTokens, forKey: .cloudPricePerMillionTokens)
            if let emissions {
                try container.encode(emissions.marginalGCO2ePerMillionTokens, forKey: .marginalGCO2ePerMillionTokens)
                try container.encode(emissions.averageGCO2ePerMillionTokens, forKey: .averageGCO2ePerMillionTokens)
            }
        }
    }
}
