import Foundation
import Synchronization
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore

/// The gateway's side of leases: its slices of the hard caps, from which it admits requests
/// on its own, with no round trip. A request takes its worst case from the slice of every cap
/// whose scope matches its labels, all or none; when it ends, the slice keeps what it used and
/// frees the rest. `LeaseSyncer` reports the slices and applies the answers.
///
/// What keeps a cap from being overshot: a slice admits only within its amount (room carved
/// out at the aggregator), and between two reports only within the headroom the last report
/// declared (what the aggregator charges a slice that expires unreported), except while the
/// aggregator is known to be down (it refused the connection): then the whole slice, and the
/// next report declares the whole slice too (an aggregator that was away charges a slice
/// nobody reported to it in full).
///
/// Times are milliseconds on a monotonic clock, passed in.
final class LeaseBook: Sendable {
    /// A cap as the last answer described it.
    struct Cap: Sendable {
        var terms: LeaseAnswer.Cap
        var matchers: [LabelMatcher]
        var measure: Budget.Measure
        /// Held for each session apart: a request's slice is its session's.
        var perSession: Bool { terms.per == "session" }

        /// A cap whose scope cannot be read here matches every request: counted, never skipped.
        func matches(_ labels: [String: String]) -> Bool {
            matchers.allSatisfy { $0.matches(labels[$0.name]) }
        }
    }

    /// What an admitted request holds: its worst case on each slice it was taken from.
    struct Ticket: Sendable, Equatable {
        struct Hold: Sendable, Equatable {
            var slice: String
            var measure: Budget.Measure
            var amount: Double
        }

        var holds: [Hold]
        var model: String
        var local: Bool
    }

    /// Why a request was not admitted.
    enum Refusal: Error, Equatable {
        /// No answer from the aggregator yet: the caps are unknown.
        case noTerms
        /// A cap's runaway rule holds the request's scope.
        case runaway(message: String, retryAfter: Int)
        /// A money cap matches a model without a price; `asked`: the aggregator answered that it
        /// knows none (else the next report asks).
        case unpriced(budget: String, model: String, asked: Bool)
        /// A cap's slice lacks room: `full` when neither the cap's free room nor what other
        /// gateways hold could make it (a refusal now), else worth waiting for.
        case noRoom(budget: String, amount: Double, full: Bool)
    }

    /// A report's mark on a slice: the worst cases admitted when it was made, and the headroom
    /// it declared.
    private struct Mark {
        var admitted: Double
        var headroom: Double
        /// For a report that got no answer: until when the aggregator might still apply it.
        var untilMs: Int64?
    }

    /// How long a report that got no answer may still reach the aggregator (its timeout, and
    /// a queue before its transaction, with room to spare).
    static let unansweredMarkMs: Int64 = 30_000

    private struct Slice {
        let id: String
        let budget: String
        var amount = 0.0
        var settled = 0.0
        var held = 0.0
        var admitted = 0.0
        var ended = false
        var usableUntilMs: Int64 = 0
        /// Another gateway waits for room: no headroom beyond what waits here.
        var recalled = false
        /// The last answered report's mark, and those sent but not answered (the aggregator may
        /// have applied them): admissions stay within every one.
        var marks: [Mark] = []
        var sent: Mark?
        /// Worst cases admitted lately, for the rate.
        var recent: [(ms: Int64, amount: Double)] = []
        /// When it was made, last admitted from, or last asked for room.
        var lastUsedMs: Int64

        init(id: String, budget: String, nowMs: Int64) {
            self.id = id
            self.budget = budget
            createdMs = nowMs
            lastUsedMs = nowMs
        }

        let createdMs: Int64

        /// The worst-case tokens admitted from it so far (a session's rate, at the aggregator).
        var tokens = 0.0

        var committed: Double { settled + held }
    }

    private struct State {
        var node = ""
        var currency: String?
        var caps: [Cap]?
        /// Prices by model, as the last report asked them.
        var prices: [String: LeaseAnswer.Price] = [:]
        var modelsWanted: Set<String> = []
        var slices: [String: Slice] = [:]
        /// The open slice each cap admits from.
        var active: [String: String] = [:]
        /// The worst cases of the requests waiting for room, by cap, until each is admitted
        /// or gives up (`doneWaiting`): every report asks for them, and declares them as headroom.
        var needs: [String: Double] = [:]
        var offline = false
        /// A session's cap figures (used, unspent) and its runaway refusal until when, by key, as
        /// the last answers said.
        var sessionFigures: [String: (used: Double, unspent: Double)] = [:]
        var sessionRunaways: [String: (message: String, untilMs: Int64)] = [:]
        /// The largest worst case a request asked of each cap: a slice's headroom holds two at
        /// least, so a request after a quiet spell does not wait for a report.
        var largest: [String: Double] = [:]
        /// Shutting down: every slice is returned (kept only for what is in flight).
        var closing = false
    }

    static let rateWindowMs: Int64 = 10_000
    /// Room kept back from a slice's local expiry: a slice is used only while the aggregator
    /// surely still counts it.
    static let expiryMarginMs: Int64 = 2_000

    let settings: GatewayConfiguration.Leases
    private let state = Mutex(State())

    init(settings: GatewayConfiguration.Leases) {
        self.settings = settings
    }

    var hasTerms: Bool { state.withLock { $0.caps != nil } }

    /// Takes the request's worst case from the slice of every cap that matches `labels` (the
    /// gateway's `node` added), or says why not. `input` and `maxOutput` are tokens.
    /// `waiting`: what this request already waits for, by cap (counted once in the needs).
    func admit(labels: [String: String], model: String, local: Bool, input: Double, maxOutput: Double, waiting: [String: Double] = [:],
               nowMs: Int64) -> Result<Ticket, Refusal> {
        state.withLock { state in
            guard let caps = state.caps else { return .failure(.noTerms) }
            var labels = labels
            labels["node"] = state.node
            var takes: [(slice: String?, budget: String, measure: Budget.Measure, amount: Double)] = []
            for cap in caps where cap.matches(labels) {
                if let message = cap.terms.runaway {
                    return .failure(.runaway(message: message, retryAfter: max(1, Int((cap.terms.runawaySeconds ?? 60).rounded(.up)))))
                }
                // A cap per session holds requests that name one, each session's apart.
                if cap.perSession && labels["session"] == nil { continue }
                let key = LeaseAPI.key(budget: cap.terms.budget, session: cap.perSession ? labels["session"] : nil)
                if let runaway = state.sessionRunaways[key], nowMs < runaway.untilMs {
                    return .failure(.runaway(message: runaway.message, retryAfter: max(1, Int((runaway.untilMs - nowMs + 999) / 1000))))
                }
                let amount: Double
                switch cap.measure {
                case .tokens:
                    amount = input + maxOutput
                case .usd:
                    guard let price = state.prices[model] else {
                        state.modelsWanted.insert(model)
                        return .failure(.unpriced(budget: cap.terms.budget, model: model, asked: false))
                    }
                    guard let cost = LeaseBook.cost(price, local: local, input: input, cachedInput: 0, output: maxOutput) else {
                        return .failure(.unpriced(budget: cap.terms.budget, model: model, asked: true))
                    }
                    amount = cost
                case .kwh, .gco2e:
                    continue
                }
                takes.append((state.active[key], key, cap.measure, amount))
                state.largest[key] = max(state.largest[key] ?? 0, amount)
            }
            for take in takes {
                guard let id = take.slice, let slice = state.slices[id], LeaseBook.fits(take.amount, in: slice, offline: state.offline, nowMs: nowMs) else {
                    if waiting[take.budget] == nil { state.needs[take.budget, default: 0] += take.amount }
                    let cap = caps.first { $0.terms.budget == LeaseAPI.split(take.budget).budget }!
                    // Room the cap (or the session) has, or that gateways' slices hold unspent (a recall brings it back);
                    // a session not heard of yet has its whole limit.
                    let figures = cap.perSession ? state.sessionFigures[take.budget] ?? (0, 0) : (cap.terms.used, cap.terms.unspent)
                    let reachable = max(0, cap.terms.limit - figures.0) + figures.1
                    return .failure(.noRoom(budget: take.budget, amount: take.amount, full: reachable < take.amount))
                }
            }
            var ticket = Ticket(holds: [], model: model, local: local)
            for take in takes {
                let id = take.slice!
                state.slices[id]!.held += take.amount
                state.slices[id]!.admitted += take.amount
                state.slices[id]!.tokens += input + maxOutput
                state.slices[id]!.recent.append((nowMs, take.amount))
                state.slices[id]!.lastUsedMs = nowMs
                ticket.holds.append(.init(slice: id, measure: take.measure, amount: take.amount))
            }
            return .success(ticket)
        }
    }

    /// A request's worst case fits the slice: open, not expired here, within its amount, and
    /// within the headroom of every report the aggregator may hold (unless it is known down).
    private static func fits(_ amount: Double, in slice: Slice, offline: Bool, nowMs: Int64) -> Bool {
        guard !slice.ended, nowMs < slice.usableUntilMs, slice.committed + amount <= slice.amount else { return false }
        guard !offline else { return true }
        return (slice.marks + [slice.sent].compactMap { $0 }).allSatisfy { slice.admitted + amount - $0.admitted <= $0.headroom }
    }

    /// A streamed request's output ran past what it holds: takes `output` more tokens' worth
    /// from each slice it holds, all or none, as an admission would (within the slice and its
    /// headroom). False: no room, the stream ends here.
    func draw(_ ticket: inout Ticket, output: Double, nowMs: Int64) -> Bool {
        state.withLock { state in
            var amounts: [Double] = []
            for hold in ticket.holds {
                guard let slice = state.slices[hold.slice] else { return false }
                let amount: Double
                switch hold.measure {
                case .usd:
                    guard let price = state.prices[ticket.model], let cost = LeaseBook.cost(price, local: ticket.local, input: 0, cachedInput: 0, output: output) else {
                        return false
                    }
                    amount = cost
                default:
                    amount = output
                }
                guard LeaseBook.fits(amount, in: slice, offline: state.offline, nowMs: nowMs) else { return false }
                amounts.append(amount)
            }
            for (index, hold) in ticket.holds.enumerated() {
                state.slices[hold.slice]!.held += amounts[index]
                state.slices[hold.slice]!.admitted += amounts[index]
                state.slices[hold.slice]!.tokens += output
                state.slices[hold.slice]!.recent.append((nowMs, amounts[index]))
                state.slices[hold.slice]!.lastUsedMs = nowMs
                ticket.holds[index].amount += amounts[index]
            }
            return true
        }
    }

    /// A stream waits for `output` more tokens' worth from the slices it holds: counted in the
    /// needs (the next report asks for them) until `doneWaiting` with what this returns.
    func ask(for ticket: Ticket, output: Double) -> [String: Double] {
        state.withLock { state in
            var waiting: [String: Double] = [:]
            for hold in ticket.holds {
                guard let budget = state.slices[hold.slice]?.budget else { continue }
                let amount = hold.measure == .usd
                    ? state.prices[ticket.model].flatMap { LeaseBook.cost($0, local: ticket.local, input: 0, cachedInput: 0, output: output) } ?? 0 : output
                waiting[budget, default: 0] += amount
                state.needs[budget, default: 0] += amount
            }
            return waiting
        }
    }

    /// A request stopped waiting (admitted, or refused): its worst cases leave the needs.
    func doneWaiting(_ waiting: [String: Double]) {
        guard !waiting.isEmpty else { return }
        state.withLock { state in
            for (budget, amount) in waiting {
                let left = (state.needs[budget] ?? 0) - amount
                state.needs[budget] = left > 1e-9 ? left : nil
            }
        }
    }

    /// The request ended: each slice keeps what it used (nil: it failed, nothing) and frees the
    /// rest of its worst case.
    func settle(_ ticket: Ticket, input: Double, cachedInput: Double, output: Double) {
        state.withLock { state in
            for hold in ticket.holds {
                guard state.slices[hold.slice] != nil else { continue }  // expired at the aggregator: charged there at its worst
                let used: Double = switch hold.measure {
                case .usd: state.prices[ticket.model].flatMap { LeaseBook.cost($0, local: ticket.local, input: input, cachedInput: cachedInput, output: output) } ?? hold.amount
                default: input + output
                }
                // What is left of what was held: nothing, not the residue of adding and taking away money.
                let held = state.slices[hold.slice]!.held - hold.amount
                state.slices[hold.slice]!.held = held > 1e-9 ? held : 0
                state.slices[hold.slice]!.settled += used
            }
        }
    }

    /// What tokens cost at `price`: a cloud model's input (its cached part at its own price)
    /// and output, or a local model's measured cost per token.
    static func cost(_ price: LeaseAnswer.Price, local: Bool, input: Double, cachedInput: Double, output: Double) -> Double? {
        if local { return price.local.map { (input + output) * $0 } }
        guard let inputPrice = price.input, let output = price.output.map({ $0 * output }) else { return nil }
        return max(0, input - cachedInput) * inputPrice + cachedInput * (price.cachedInput ?? inputPrice) + output
    }

    /// The next report: every slice's account, its headroom and the room it wants, a new slice
    /// for every cap a request waits on without one, and the models to price. Marks what it
    /// declares as sent.
    func report(nowMs: Int64, newID: () -> String = { "slice_" + UUID().uuidString.lowercased() }) -> LeaseReport {
        state.withLock { state in
            let interval = Double(settings.reportIntervalMs) / 1000
            for budget in state.needs.keys where state.active[budget] == nil {
                let id = newID()
                state.slices[id] = Slice(id: id, budget: budget, nowMs: nowMs)
                state.active[budget] = id
            }
            var slices: [LeaseReport.Slice] = []
            for id in state.slices.keys.sorted() {
                var slice = state.slices[id]!
                slice.recent.removeAll { $0.ms <= nowMs - LeaseBook.rateWindowMs }
                let free = max(0, slice.amount - slice.committed)
                let largest = state.largest[slice.budget] ?? 0
                // Over the window, or over its last second when that is more: a burst is met at once.
                let lastSecond = slice.recent.reversed().prefix { $0.ms > nowMs - 1_000 }.reduce(0) { $0 + $1.amount }
                let rate = max(lastSecond, slice.recent.reduce(0) { $0 + $1.amount } / (Double(min(LeaseBook.rateWindowMs, max(1_000, nowMs - slice.createdMs))) / 1000))
                let need = state.active[slice.budget] == id ? state.needs[slice.budget] ?? 0 : 0
                if need > 0 { slice.lastUsedMs = nowMs }
                let idle = slice.lastUsedMs <= nowMs - settings.idleMs
                let want = slice.ended || state.closing || idle ? 0 : max(rate * Double(settings.coverMs) / 1000, 4 * largest, 2 * need)
                let headroom: Double
                if state.offline {
                    headroom = free  // it admits from all of it until an answer comes
                } else if slice.marks.isEmpty && slice.sent == nil {
                    headroom = want  // new: it may admit from all it is granted until its next report
                } else if want == 0 {
                    headroom = 0  // admits nothing more: idle (returned once nothing is held), ended, or closing
                } else {
                    // Room for its rate until the next answer, none while recalled; and what waits now.
                    headroom = max(slice.recalled ? 0 : min(free, max(2 * largest, rate * 3 * interval)), need)
                }
                slice.sent = Mark(admitted: slice.admitted, headroom: headroom)
                state.slices[id] = slice
                let (budget, session) = LeaseAPI.split(slice.budget)
                slices.append(.init(id: id, budget: budget, settled: slice.settled, held: slice.held, headroom: headroom, want: want, need: need,
                                    admitted: slice.admitted, session: session, tokens: session == nil ? nil : slice.tokens))
            }
            // Every model priced so far too: prices change (a new list price, a local model's
            // measured cost), and one without a price may have got one.
            let models = state.modelsWanted.union(state.prices.keys).sorted().prefix(LeaseAPI.maxItems)
            return LeaseReport(slices: slices, models: Array(models), expirySeconds: Double(settings.expiryMs) / 1000)
        }
    }

    /// The aggregator answered `report`, sent at `sentMs`: the caps, prices and slices as it
    /// now holds them. True when a slice was just recalled: report again at once, so that the
    /// room goes back while the request that asked for it waits.
    @discardableResult
    func apply(_ answer: LeaseAnswer, to report: LeaseReport, sentMs: Int64) -> Bool {
        state.withLock { state in
            var reportAgain = false
            state.offline = false
            state.node = answer.node
            state.currency = answer.currency
            state.caps = answer.caps.map { terms in
                let matchers = terms.match.compactMap { matcher -> LabelMatcher? in
                    guard let op = LabelMatcher.Operator(rawValue: matcher.op) else { return nil }
                    return try? LabelMatcher(matcher.name, op, matcher.value)
                }
                return Cap(terms: terms, matchers: matchers, measure: Budget.Measure(rawValue: terms.measure) ?? .tokens)
            }
            for price in answer.prices { state.prices[price.model] = price }
            state.modelsWanted.subtract(answer.prices.map(\.model))
            let reported = Dictionary(report.slices.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
            for grant in answer.slices {
                guard let sent = reported[grant.id], var slice = state.slices[grant.id] else { continue }
                if let used = grant.used, let unspent = grant.unspent { state.sessionFigures[slice.budget] = (used, unspent) }
                if let message = grant.runaway {
                    state.sessionRunaways[slice.budget] = (message, sentMs + Int64((grant.runawaySeconds ?? 60) * 1000))
                } else {
                    state.sessionRunaways[slice.budget] = nil
                }
                if grant.state == .closed {
                    state.slices[grant.id] = nil
                    if state.active[slice.budget] == grant.id { state.active[slice.budget] = nil }
                    // Its cap may have room a new slice can take, if a request still waits.
                    continue
                }
                let new = slice.marks.isEmpty
                slice.amount = sent.settled + sent.held + grant.free
                // A new slice admits from all of it until its next report (the aggregator charges
                // all of it if that report never comes); then within each report's headroom.
                // As the aggregator holds it: the headroom declared, within the room granted.
                slice.marks = slice.marks.filter { ($0.untilMs ?? 0) > sentMs }
                    + [Mark(admitted: sent.admitted, headroom: new ? .infinity : min(sent.headroom, grant.free))]
                slice.sent = nil
                if grant.recalled && !slice.recalled { reportAgain = true }
                slice.recalled = grant.recalled
                slice.usableUntilMs = sentMs + Int64(grant.expiresInSeconds * 1000) - LeaseBook.expiryMarginMs
                if grant.state == .ended {
                    slice.ended = true
                    if state.active[slice.budget] == grant.id { state.active[slice.budget] = nil }
                }
                state.slices[grant.id] = slice
            }
            return reportAgain
        }
    }

    /// The report got no answer. `refused`: the aggregator's port refused the connection (it
    /// is down, so it applied nothing and charges in full what it did not hear about); else it
    /// may have applied the report, whose mark stays with the slices.
    func failed(refused: Bool, nowMs: Int64) {
        state.withLock { state in
            for id in state.slices.keys {
                if var sent = state.slices[id]!.sent, !refused {
                    sent.untilMs = nowMs + LeaseBook.unansweredMarkMs
                    state.slices[id]!.marks.append(sent)
                }
                state.slices[id]!.sent = nil
            }
            if refused { state.offline = true }
        }
    }

    /// Whether the aggregator gave a price entry for `model` (one that may say it knows none);
    /// if not, the next report asks for one.
    func knowsPrice(of model: String) -> Bool {
        state.withLock { state in
            if state.prices[model] != nil { return true }
            state.modelsWanted.insert(model)
            return false
        }
    }

    /// What an answer's tokens cost, at the prices the aggregator last gave: a cloud route's at
    /// its model's price, a local route's at its measured cost, energy and emissions per token.
    func answerCost(model: String, local: Bool, input: Int, cachedInput: Int, output: Int, estimated: Bool) -> AnswerCost {
        state.withLock { state in
            let price = state.prices[model]
            if price == nil { state.modelsWanted.insert(model) }
            let tokens = Double(input + output)
            let cost = price.flatMap { LeaseBook.cost($0, local: local, input: Double(input), cachedInput: Double(cachedInput), output: Double(output)) }
            return AnswerCost(tokens: .init(input: input, cachedInput: cachedInput, output: output), cost: cost, currency: cost == nil ? nil : state.currency,
                              energyJoules: local ? price?.localJoules.map { $0 * tokens } : nil, gco2e: local ? price?.localGCO2e.map { $0 * tokens } : nil,
                              estimated: estimated || (local && price?.localEstimated == true))
        }
    }

    /// The gateway stops: the next report returns every slice.
    func close() {
        state.withLock { $0.closing = true }
    }

    /// What a refusal for want of room in `key`'s cap (or session) says, and the seconds
    /// until its period resets.
    func exceeded(_ key: String) -> (message: String, retryAfter: Int) {
        state.withLock { state in
            let (budget, session) = LeaseAPI.split(key)
            guard let cap = state.caps?.first(where: { $0.terms.budget == budget })?.terms else { return ("budget \(budget): no room left", 60) }
            let used = session == nil ? cap.used : state.sessionFigures[key]?.used ?? cap.limit
            let name = session.map { "\(budget) (session \($0))" } ?? budget
            return (CapRefusal.exceeded(budget: name, used: used, limit: cap.limit, unit: cap.unit, resetsAt: cap.resetsAt),
                    max(1, Int(cap.secondsToReset.rounded(.up))))
        }
    }

    /// Open slices, and whether the aggregator is known to be down: the gateway's `/metrics`.
    var figures: (slices: Int, offline: Bool) {
        state.withLock { ($0.slices.count, $0.offline) }
    }
}
