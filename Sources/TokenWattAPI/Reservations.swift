import TokenWattCore

/// What the gateway and the aggregator agree on for hard-cap reservations.
public enum ReservationAPI {
    /// `POST` here reserves a request's worst case; `POST {path}/{id}/settle` settles it.
    public static let path = "/api/v1/reservations"
    /// The longest a reservation may be held; past it, one never settled expires at its worst case.
    public static let maxTTLMs: Int64 = Milliseconds.hour
}

/// `POST /api/v1/reservations`: hold a request's worst case against every cap whose scope
/// matches its labels. Token counts are JSON numbers; absent ones are for the aggregator to
/// refuse by name, so they are optional here.
public struct ReservationRequest: Codable, Sendable, Equatable {
    public var labels: [String: String]?
    public var inputTokens: Double?
    public var maxOutputTokens: Double?
    /// How long the hold lasts unsettled (default 600 s, at most `ReservationAPI.maxTTLMs`).
    public var ttlSeconds: Double?

    public init(labels: [String: String], inputTokens: Double, maxOutputTokens: Double, ttlSeconds: Double?) {
        self.labels = labels
        self.inputTokens = inputTokens
        self.maxOutputTokens = maxOutputTokens
        self.ttlSeconds = ttlSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case labels
        case inputTokens = "input_tokens", maxOutputTokens = "max_output_tokens", ttlSeconds = "ttl_seconds"
    }
}

/// 201 to a reservation: its id, when it expires unsettled, and what it holds against which cap
/// (none: no cap matched, nothing to settle).
public struct ReservationGrant: Codable, Sendable, Equatable {
    public struct Hold: Codable, Sendable, Equatable {
        public var budget: String
        public var amount: Double

        public init(budget: String, amount: Double) {
            self.budget = budget
            self.amount = amount
        }
    }

    public var id: String
    public var expiresAt: String
    public var holds: [Hold]

    public init(id: String, expiresAt: String, holds: [Hold]) {
        self.id = id
        self.expiresAt = expiresAt
        self.holds = holds
    }

    private enum CodingKeys: String, CodingKey {
        case id, holds
        case expiresAt = "expires_at"
    }
}

/// `POST /api/v1/reservations/{id}/settle`: the tokens the request used, with the labels it
/// reserved under.
public struct SettleRequest: Codable, Sendable, Equatable {
    public var labels: [String: String]?
    public var inputTokens: Double?
    public var cachedInputTokens: Double?
    public var outputTokens: Double?

    public init(labels: [String: String], inputTokens: Double, cachedInputTokens: Double, outputTokens: Double) {
        self.labels = labels
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.outputTokens = outputTokens
    }

    private enum CodingKeys: String, CodingKey {
        case labels
        case inputTokens = "input_tokens", cachedInputTokens = "cached_input_tokens", outputTokens = "output_tokens"
    }
}

/// 200 to a settlement.
public struct SettleAnswer: Codable, Sendable, Equatable {
    public var id: String
    public var settled: Bool

    public init(id: String, settled: Bool) {
        self.id = id
        self.settled = settled
    }
}

/// 429 to a reservation over a cap (`budget_exceeded`, with its figures) or held by a runaway
/// (`runaway`), and 422 for a money cap no price bounds (`unpriced`): the error envelope with
/// the cap's name.
public struct ReservationRefusal: Codable, Sendable, Equatable {
    public var status = "error"
    public var errorType: String
    public var error: String
    public var budget: String
    public var used: Double?
    public var limit: Double?
    public var unit: String?
    public var resetsAt: String?

    public init(errorType: String, error: String, budget: String, used: Double? = nil, limit: Double? = nil, unit: String? = nil, resetsAt: String? = nil) {
        self.errorType = errorType
        self.error = error
        self.budget = budget
        self.used = used
        self.limit = limit
        self.unit = unit
        self.resetsAt = resetsAt
    }

    private enum CodingKeys: String, CodingKey {
        case status, errorType, error, budget, used, limit, unit
        case resetsAt = "resets_at"
    }
}
