/// One budget as `GET /api/v1/budgets` answers it: its settings, and where its current period
/// stands once it has been evaluated (the period's fields absent before).
public struct BudgetStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `usd`, `tokens`, `kwh` or `gco2e`.
    public var measure: String
    /// The currency code, `tokens`, `kWh` or `gCO2e`.
    public var unit: String
    public var limit: Double
    public var thresholds: [Double]
    public var receivers: [String]
    /// Label matchers: the label's operator and value (`=research`, `=~gpt-.*`).
    public var scope: [String: String]
    /// `ok`, `alerting`, `exceeded`, or `not evaluated yet`.
    public var state: String
    public var periodStart: String?
    public var periodEnd: String?
    public var spent: Double?
    public var usedRatio: Double?
    public var forecast: Double?
    /// Alerts fired this period (`threshold:0.8`, `forecast`), and whether a runaway fires.
    public var fired: [String]?
    public var runaway: Bool?
    /// A hard cap's period as the gateways see it (absent for an alerting budget).
    public var cap: CapRoom?

    /// A hard cap's room: `spent` (the gateways' settled requests and what was spent outside
    /// them), `leased` (held by gateways' slices and pending reservations, not spent yet),
    /// `free` (neither), and the slices open at gateways.
    public struct CapRoom: Codable, Sendable, Equatable {
        public var spent: Double
        public var leased: Double
        public var free: Double
        public var slices: Int

        public init(spent: Double, leased: Double, free: Double, slices: Int) {
            self.spent = spent
            self.leased = leased
            self.free = free
            self.slices = slices
        }
    }

    public init(name: String, measure: String, unit: String, limit: Double, thresholds: [Double], receivers: [String], scope: [String: String],
                state: String) {
        self.name = name
        self.measure = measure
        self.unit = unit
        self.limit = limit
        self.thresholds = thresholds
        self.receivers = receivers
        self.scope = scope
        self.state = state
    }

    private enum CodingKeys: String, CodingKey {
        case name, measure, unit, limit, thresholds, receivers, scope, state, spent, forecast, fired, runaway, cap
        case periodStart = "period_start", periodEnd = "period_end", usedRatio = "used_ratio"
    }
}

/// One outbox message as `GET /api/v1/alerts` answers it: an alert event on its way to one
/// receiver, with its delivery state. Times are RFC 3339.
public struct AlertRecord: Codable, Sendable, Equatable {
    public var eventID: String
    public var receiver: String
    public var created: String
    /// `pending`, `delivered`, `failed` or `dropped`.
    public var status: String
    public var attempts: Int
    /// The event's kind, budget and summary, where its stored text reads as an event.
    public var type: String?
    public var budget: String?
    public var summary: String?
    public var nextAttempt: String?
    public var lastError: String?
    public var finished: String?

    public init(eventID: String, receiver: String, created: String, status: String, attempts: Int) {
        self.eventID = eventID
        self.receiver = receiver
        self.created = created
        self.status = status
        self.attempts = attempts
    }

    private enum CodingKeys: String, CodingKey {
        case receiver, created, status, attempts, type, budget, summary, finished
        case eventID = "event_id", nextAttempt = "next_attempt", lastError = "last_error"
    }
}

/// One session of a cap held per session, as `GET /api/v1/sessions?budget=` answers it: what
/// it spent and holds in the cap's current period, and when it was first and last reported.
public struct SessionStatus: Codable, Sendable, Equatable {
    public var session: String
    public var spent: Double
    public var leased: Double
    public var firstSeen: String
    public var lastSeen: String

    public init(session: String, spent: Double, leased: Double, firstSeen: String, lastSeen: String) {
        self.session = session
        self.spent = spent
        self.leased = leased
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    private enum CodingKeys: String, CodingKey {
        case session, spent, leased
        case firstSeen = "first_seen", lastSeen = "last_seen"
    }
}
