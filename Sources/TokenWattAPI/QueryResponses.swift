/// `GET /api/v1/query_range`: a Prometheus matrix, each point `[unix seconds, "value"]` (values
/// as strings, so NaN and ±Inf survive JSON).
public struct MatrixResponse: Codable, Sendable, Equatable {
    public var resultType = "matrix"
    public var result: [Series]

    public init(result: [Series]) {
        self.result = result
    }

    public struct Series: Codable, Sendable, Equatable {
        public var metric: [String: String]
        public var values: [Point]

        public init(metric: [String: String], values: [Point]) {
            self.metric = metric
            self.values = values
        }
    }

    /// `[1700000000.5, "42"]`.
    public struct Point: Codable, Sendable, Equatable {
        public var time: Double
        public var value: String

        public init(time: Double, value: String) {
            self.time = time
            self.value = value
        }

        public init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            time = try container.decode(Double.self)
            value = try container.decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(time)
            try container.encode(value)
        }
    }
}

/// `GET /api/v1/tokens`: tokens by type and requests over `[from, to)`, grouped by `by`,
/// largest first.
public struct TokensResponse: Codable, Sendable, Equatable {
    public var from: Double
    public var to: Double
    public var by: [String]
    public var groups: [Group]
    public var total: Double

    public init(from: Double, to: Double, by: [String], groups: [Group]) {
        self.from = from
        self.to = to
        self.by = by
        self.groups = groups
        total = groups.reduce(0) { $0 + $1.total }
    }

    public struct Group: Codable, Sendable, Equatable {
        public var labels: [String: String]
        /// By `type`: input, cached_input, output, reasoning.
        public var tokens: [String: Double]
        /// Input and output.
        public var total: Double
        public var requests: Double

        public init(labels: [String: String], tokens: [String: Double], requests: Double) {
            self.labels = labels
            self.tokens = tokens
            total = (tokens["input"] ?? 0) + (tokens["output"] ?? 0)
            self.requests = requests
        }
    }
}

/// One node of `GET /api/v1/fleet` now: null where there is no reading.
public struct FleetNode: Codable, Sendable, Equatable {
    public var node: String
    public var up: Bool
    @NullWhenUnknown public var lastPush: Double?
    public var gpus: Int
    @NullWhenUnknown public var powerWatts: Double?
    /// Where the power came from, as the ledger names energy sources: `bmc`, `gpu`, `rapl`,
    /// `gpu+rapl`, `psys`, ..., or `estimated` (from CPU utilisation, no sensor).
    @NullWhenUnknown public var powerSource: String?
    @NullWhenUnknown public var gpuUtilization: Double?
    @NullWhenUnknown public var gpuTemperatureMaxCelsius: Double?
    @NullWhenUnknown public var cpuUtilization: Double?
    public var tokensPerSecond: Double
    public var models: [String]

    public init(node: String, up: Bool, lastPush: Double?, gpus: Int, powerWatts: Double?, powerSource: String?, gpuUtilization: Double?, gpuTemperatureMaxCelsius: Double?,
                cpuUtilization: Double?, tokensPerSecond: Double, models: [String]) {
        self.node = node
        self.up = up
        self.lastPush = lastPush
        self.gpus = gpus
        self.powerWatts = powerWatts
        self.powerSource = powerSource
        self.gpuUtilization = gpuUtilization
        self.gpuTemperatureMaxCelsius = gpuTemperatureMaxCelsius
        self.cpuUtilization = cpuUtilization
        self.tokensPerSecond = tokensPerSecond
        self.models = models
    }

    private enum CodingKeys: String, CodingKey {
        case node, up, gpus, models
        case lastPush = "last_push", powerWatts = "power_watts", powerSource = "power_source", gpuUtilization = "gpu_utilization"
        case gpuTemperatureMaxCelsius = "gpu_temperature_max_celsius", cpuUtilization = "cpu_utilization", tokensPerSecond = "tokens_per_second"
    }
}
