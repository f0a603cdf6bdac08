import Foundation
import TokenWattCore

/// What a gateway and the aggregator agree on for leases: slices of hard caps that a gateway
/// admits requests from locally, reported and resized in one round trip per report interval
/// whatever the request rate.
public enum LeaseAPI {
    /// `POST` here: a gateway's report of its slices and what it asks for; the answer is the
    /// caps, the slices as the aggregator now holds them, and the prices asked for.
    public static let path = "/api/v1/leases"
    /// The longest a slice may go unreported before it expires.
    public static let maxExpiryMs: Int64 = 10 * 60_000
    /// At most this many slices and models in one report.
    public static let maxItems = 1_024
    /// Separates a cap's name from a session in the key a session's slice is counted under
    /// (budget names hold no control characters).
    public static let sessionSeparator: Character = "\u{1E}"

    /// The key a slice's cap is counted under: the cap's name, and its session for a cap held
    /// per session.
    public static func key(budget: String, session: String?) -> String {
        session.map { budget + String(sessionSeparator) + $0 } ?? budget
    }

    /// A key's cap and session.
    public static func split(_ key: String) -> (budget: String, session: String?) {
        guard let separator = key.firstIndex(of: sessionSeparator) else { return (key, nil) }
        return (String(key[..<separator]), String(key[key.index(after: separator)...]))
    }
}

/// `POST /api/v1/leases`: a gateway's slices as it holds them, each a cumulative account
/// (repeating a report changes nothing), and the models it needs prices for.
public struct LeaseReport: Codable, Sendable, Equatable {
    /// One slice: new when the aggregator does not know its id (the gateway chose it, so a
    /// lost answer is asked again under the same id and never carves a second slice).
    public struct Slice: Codable, Sendable, Equatable {
        public var id: String
        public var budget: String
        /// What the slice's finished requests used, and the worst case of those in flight.
        public var settled: Double
        public var held: Double
        /// The most this gateway may admit from the slice before its next report is answered
        /// (at most the free room it is granted): what a slice is charged beyond `settled +
        /// held` when it expires unreported.
        public var headroom: Double
        /// The free room it wants on top of `settled + held + headroom`'s needs; 0 with
        /// nothing held returns the slice.
        public var want: Double
        /// The worst case of a request waiting for room now (0: none waits).
        public var need: Double
        /// The worst cases admitted from the slice so far, which only grows: a report older than
        /// one applied already (a retry that arrived late) changes nothing.
        public var admitted: Double
        /// For a cap held per session (`per: session`): the session the slice is of, and the
        /// worst-case tokens admitted from it so far (its session's rate, for the cap's runaway rule).
        public var session: String?
        public var tokens: Double?

        public init(id: String, budget: String, settled: Double, held: Double, headroom: Double, want: Double, need: Double, admitted: Double,
                    session: String? = nil, tokens: Double? = nil) {
            self.id = id
            self.budget = budget
            self.session = session
            self.tokens = tokens
            self.settled = settled
            self.held = held
            self.headroom = headroom
            self.want = want
            self.need = need
            self.admitted = admitted
        }
    }

    public var slices: [Slice]
    public var models: [String]
    /// How long a slice may go unreported before it expires.
    public var expirySeconds: Double

    public init(slices: [Slice], models: [String], expirySeconds: Double) {
        self.slices = slices
        self.models = models
        self.expirySeconds = expirySeconds
    }

    private enum CodingKeys: String, CodingKey {
        case slices, models
        case expirySeconds = "expiry_seconds"
    }
}

/// 200 to a report: the hard caps with what a gateway needs to admit against them locally,
/// the slices as the aggregator now holds them, and the prices asked for.
public struct LeaseAnswer: Codable, Sendable, Equatable {
    /// A hard cap: its scope as label matchers, its measure and figures, and, while its
    /// runaway rule holds its scope, the refusal to give.
    public struct Cap: Codable, Sendable, Equatable {
        public struct Matcher: Codable, Sendable, Equatable {
            public var name: String
            public var op: String
            public var value: String

            public init(name: String, op: String, value: String) {
                self.name = name
                self.op = op
                self.value = value
            }
        }

        public var budget: String
        public var match: [Matcher]
        /// `session`: the cap holds for each session apart (its figures come with the slices).
        public var per: String?
        /// `tokens`, or `usd` (money in the aggregator's currency).
        public var measure: String
        public var unit: String
        public var limit: Double
        /// What the period holds: spent, and leased and reserved but not spent yet.
        public var used: Double
        /// What gateways' slices of it hold and have neither spent nor put in flight: room a
        /// recall can bring back to where a request waits.
        public var unspent: Double
        public var resetsAt: String
        public var secondsToReset: Double
        /// Set while the cap's runaway rule refuses its scope.
        public var runaway: String?
        public var runawaySeconds: Double?

        public init(budget: String, match: [Matcher], measure: String, unit: String, limit: Double, used: Double, unspent: Double, resetsAt: String,
                    secondsToReset: Double, runaway: String? = nil, runawaySeconds: Double? = nil) {
            self.unspent = unspent
            self.budget = budget
            self.match = match
            self.measure = measure
            self.unit = unit
            self.limit = limit
            self.used = used
            self.resetsAt = resetsAt
            self.secondsToReset = secondsToReset
            self.runaway = runaway
            self.runawaySeconds = runawaySeconds
        }

        private enum CodingKeys: String, CodingKey {
            case budget, match, per, measure, unit, limit, used, unspent, runaway
            case resetsAt = "resets_at", secondsToReset = "seconds_to_reset", runawaySeconds = "runaway_seconds"
        }
    }

    /// A slice as the aggregator holds it after the report.
    public struct Slice: Codable, Sendable, Equatable {
        public enum State: String, Codable, Sendable {
            /// Admit from `free`.
            case open
            /// Its cap's period is over (or its cap is gone): admit nothing more from it,
            /// report it until nothing is held, then let it close.
            case ended
            /// Returned, or expired: forget it.
            case closed
        }

        public var id: String
        public var state: State
        /// Room to admit from, on top of what was settled and held when reported.
        public var free: Double
        /// A request at another gateway waits for room: report at once, and declare no headroom
        /// beyond what waits here, so the rest goes back.
        public var recalled: Bool
        public var expiresInSeconds: Double
        /// A session's slice: its cap's figures for that session, and while the cap's runaway
        /// rule holds the session, the refusal to give.
        public var used: Double?
        public var unspent: Double?
        public var runaway: String?
        public var runawaySeconds: Double?

        public init(id: String, state: State, free: Double, recalled: Bool, expiresInSeconds: Double) {
            self.id = id
            self.state = state
            self.free = free
            self.recalled = recalled
            self.expiresInSeconds = expiresInSeconds
        }

        private enum CodingKeys: String, CodingKey {
            case id, state, free, recalled, used, unspent, runaway
            case expiresInSeconds = "expires_in_seconds", runawaySeconds = "runaway_seconds"
        }
    }

    /// A model's prices per token in the aggregator's currency: its cloud list price (input,
    /// cached input, output), and its measured cost as a local model (every kind of token
    /// alike), with the joules and grams of CO2e per token of the ledger's last day (its
    /// nodes' energy shared out by tokens; `local_estimated` where a node's energy was
    /// estimated); nil where none is known.
    public struct Price: Codable, Sendable, Equatable {
        public var model: String
        public var input: Double?
        public var cachedInput: Double?
        public var output: Double?
        public var local: Double?
        public var localJoules: Double?
        public var localGCO2e: Double?
        public var localEstimated: Bool?

        public init(model: String, input: Double?, cachedInput: Double?, output: Double?, local: Double?) {
            self.model = model
            self.input = input
            self.cachedInput = cachedInput
            self.output = output
            self.local = local
        }

        private enum CodingKeys: String, CodingKey {
            case model, input, output, local
            case cachedInput = "cached_input", localJoules = "local_joules", localGCO2e = "local_gco2e", localEstimated = "local_estimated"
        }
    }

    /// The `node` label the gateway's requests carry (its credential's name).
    public var node: String
    public var currency: String
    public var caps: [Cap]
    public var slices: [Slice]
    public var prices: [Price]

    public init(node: String, currency: String, caps: [Cap], slices: [Slice], prices: [Price]) {
        self.node = node
        self.currency = currency
        self.caps = caps
        self.slices = slices
        self.prices = prices
    }
}

/// What a refusal by a hard cap says, the same whether the aggregator refuses a reservation or
/// a gateway a request from its slice.
public enum CapRefusal {
    public static func exceeded(budget: String, used: Double, limit: Double, unit: String, resetsAt: String) -> String {
        "budget \(budget): \(amount(used)) of \(amount(limit)) \(unit) used, resets \(resetsAt)"
    }

    /// Two decimals, grouped as in en_US.
    public static func amount(_ value: Double) -> String {
        value.formatted(.number.precision(.fractionLength(2)).locale(Locale(identifier: "en_US")))
    }
}

/// What an answer through the gateway cost, on the answer: in `x-tokenwatt-*` headers of a
/// JSON answer (and of a stream's trailers, where the client asked for them), and as the
/// `tokenwatt` member of a stream's last event (OpenAI's chunk without choices, Anthropic's
/// `ping`), which the APIs' clients pass over.
public struct AnswerCost: Codable, Sendable, Equatable {
    public struct Tokens: Codable, Sendable, Equatable {
        public var input: Int
        public var cachedInput: Int
        public var output: Int

        public init(input: Int, cachedInput: Int, output: Int) {
            self.input = input
            self.cachedInput = cachedInput
            self.output = output
        }

        private enum CodingKeys: String, CodingKey {
            case input, output
            case cachedInput = "cached_input"
        }
    }

    public var tokens: Tokens
    /// A cloud route's tokens at their price, a local route's at its model's measured cost per
    /// token; nil where no price is known.
    public var cost: Double?
    public var currency: String?
    /// A local route's share of its nodes' energy and emissions, per the ledger's figures.
    public var energyJoules: Double?
    public var gco2e: Double?
    /// The usage was estimated (the upstream reported none), or a node's energy was.
    public var estimated: Bool

    public init(tokens: Tokens, cost: Double?, currency: String?, energyJoules: Double?, gco2e: Double?, estimated: Bool) {
        self.tokens = tokens
        self.cost = cost
        self.currency = currency
        self.energyJoules = energyJoules
        self.gco2e = gco2e
        self.estimated = estimated
    }

    private enum CodingKeys: String, CodingKey {
        case tokens, cost, currency, gco2e, estimated
        case energyJoules = "energy_joules"
    }

    /// The answer's headers: `x-tokenwatt-tokens`, `x-tokenwatt-cost`, and for a local route
    /// `x-tokenwatt-energy-joules` and `x-tokenwatt-gco2e` (`; estimated` where they are).
    public var headers: [(name: String, value: String)] {
        let mark = estimated ? "; estimated" : ""
        var headers = [("x-tokenwatt-tokens", "input=\(tokens.input), cached=\(tokens.cachedInput), output=\(tokens.output)\(mark)")]
        if let cost, let currency { headers.append(("x-tokenwatt-cost", "\(AnswerCost.decimal(cost)) \(currency)\(mark)")) }
        if let energyJoules { headers.append(("x-tokenwatt-energy-joules", "\(AnswerCost.decimal(energyJoules))\(mark)")) }
        if let gco2e { headers.append(("x-tokenwatt-gco2e", "\(AnswerCost.decimal(gco2e))\(mark)")) }
        return headers
    }

    /// Plain decimals, never exponents, to a billionth: `0.00012`, `12.5`.
    public static func decimal(_ value: Double) -> String {
        var text = String(format: "%.9f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
