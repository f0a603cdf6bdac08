import ServiceLifecycle
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// Leases: each gateway holds a slice of every hard cap it admits requests under, carved out
/// of the cap's room here (`LeaseStore`), and reports it once per report interval whatever
/// its request rate: what its requests used, what is in flight, the headroom it may admit
/// before its next report, and the room it wants. The answer resizes each slice to the
/// gateway's rate within the cap's room, and carries what the gateway needs to admit
/// locally: every cap's scope, figures and runaway refusal, and the prices it asked for.
///
/// A request that waits at one gateway for room another gateway's slice holds recalls the
/// cap for a few seconds: every other slice of it is cut back to its headroom at its next
/// report, so room flows to where the traffic went.
extension ReservationDesk: Service {
    /// How long a recall lasts: past a few report intervals, the request that asked has its
    /// room or its refusal.
    static let recallMs: Int64 = 5_000
    static let sweepInterval: Duration = .seconds(1)

    /// Lets the gateways report the slices an earlier run granted before they can expire, then
    /// every second expires the slices nobody reports and forgets sessions idle past their
    /// cap's `keep`.
    func run() async throws {
        // A service that returned would stop the others: without caps it waits for the end.
        guard !caps.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        try await reservations.extendLeases(bootMs: bootMs)
        await PeriodicWork.run(every: ReservationDesk.sweepInterval, waitFirst: true) {
            do {
                let now = now()
                try await reservations.expireLeases(nowMs: now, bootMs: bootMs)
                for cap in caps where cap.perSession {
                    _ = try await reservations.pruneSessions(budget: cap.name, idleBefore: now - cap.sessionKeepMs)
                }
            } catch {
                sweepErrors.add(1, ordering: .relaxed)
                logger.error("lease slices not expired nor sessions pruned; the next sweep tries again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Applies `report` from `gateway` and answers with the caps, its slices and the prices.
    func sync(gateway: String, report: LeaseReport, expiryMs: Int64) async throws -> LeaseAnswer {
        let now = now()
        let states = budgets.currentStates
        let capsByName = Dictionary(caps.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var rooms: [String: CapRoom] = [:]
        for cap in caps where !cap.perSession { rooms[cap.name] = room(cap, states[cap.name], now: now) }
        // A session's cap: the whole limit for each, spent only through the gateway's slices.
        for slice in report.slices {
            guard let session = slice.session, let cap = capsByName[slice.budget], cap.perSession else { continue }
            rooms[LeaseAPI.key(budget: cap.name, session: session)] = CapRoom(periodStart: cap.period.bounds(at: now).start, limit: cap.limit, spentBefore: 0)
        }
        let recalled = recalls.withLock { recalls in
            recalls = recalls.filter { $0.value > now }
            return Set(recalls.keys)
        }
        let reports = report.slices.map {
            SliceReport(id: $0.id, budget: LeaseAPI.key(budget: $0.budget, session: $0.session), settled: $0.settled, held: $0.held, headroom: $0.headroom,
                        want: $0.want, need: $0.need, admitted: $0.admitted, session: $0.session, capName: $0.session == nil ? nil : $0.budget)
        }
        let sync = try await reservations.syncLeases(gateway: gateway, reports: reports, caps: rooms, recalled: recalled, nowMs: now, expiryMs: expiryMs,
                                                     bootMs: bootMs)
        if !sync.starved.isEmpty {
            recalls.withLock { recalls in
                for budget in sync.starved { recalls[budget] = now + ReservationDesk.recallMs }
            }
        }
        // Every cap's and session's figures in one read, after the report is applied.
        let periods = try await reservations.capPeriods(rooms.map { ($0.key, $0.value.periodStart) })
        func figures(_ key: String) -> (used: Double, unspent: Double) {
            ((rooms[key]?.spentBefore ?? 0) + (periods[key]?.held ?? 0), periods[key]?.open.unspent ?? 0)
        }
        var terms: [LeaseAnswer.Cap] = []
        for cap in caps {
            let end = cap.period.bounds(at: now).end
            var term = LeaseAnswer.Cap(budget: cap.name, match: cap.scope.map { .init(name: $0.name, op: $0.op.rawValue, value: $0.value) },
                                       measure: cap.measure.rawValue, unit: BudgetEvaluator.unit(of: cap, currency: pricing.currency), limit: cap.limit,
                                       used: 0, unspent: 0, resetsAt: ReservationsHandler.time(end, cap), secondsToReset: Double(end - now) / 1000)
            if cap.perSession {
                term.per = "session"
            } else {
                (term.used, term.unspent) = figures(cap.name)
                if let hold = runawayHold(cap, states[cap.name], now: now) {
                    let refusal = ReservationsHandler.runaway(cap, rate: hold.rate, baseline: hold.baseline, untilMs: hold.untilMs, now: now)
                    term.runaway = refusal.message
                    term.runawaySeconds = Double(refusal.retryAfterSeconds)
                }
            }
            terms.append(term)
        }
        var prices: [LeaseAnswer.Price] = []
        if !report.models.isEmpty {
            let local = try await localPerToken(now: now)
            for model in report.models {
                let cloud = pricing.cloudPrice(of: model, atHour: now)
                var price = LeaseAnswer.Price(model: model, input: cloud.map { $0.input / 1e6 }, cachedInput: cloud.map { $0.cachedInput / 1e6 },
                                              output: cloud.map { $0.output / 1e6 }, local: local[model]?.cost)
                if let figures = local[model] {
                    price.localJoules = figures.joules
                    price.localGCO2e = figures.gco2e > 0 ? figures.gco2e : nil  // 0: emissions not counted (no carbon:)
                    price.localEstimated = figures.estimated
                }
                prices.append(price)
            }
        }
        var slices: [LeaseAnswer.Slice] = []
        for (reported, outcome) in zip(report.slices, sync.outcomes) {
            let key = LeaseAPI.key(budget: reported.budget, session: reported.session)
            var slice = LeaseAnswer.Slice(id: outcome.id, state: .init(rawValue: outcome.state.rawValue) ?? .closed, free: outcome.free,
                                          recalled: recalled.contains(key) || sync.starved.contains(key), expiresInSeconds: Double(outcome.expiresMs - now) / 1000)
            // A session's figures, and its runaway rule on its own rate.
            if let session = reported.session, let cap = capsByName[reported.budget], cap.perSession, rooms[key] != nil {
                (slice.used, slice.unspent) = figures(key)
                if let hold = sessionRunaways.observe(key: key, slice: reported.id, tokens: reported.tokens ?? 0, cap: cap, now: now) {
                    let refusal = ReservationsHandler.runaway(cap, rate: hold.rate, baseline: hold.baseline, untilMs: hold.untilMs, now: now)
                    slice.runaway = "session \(session) of " + refusal.message
                    slice.runawaySeconds = Double(refusal.retryAfterSeconds)
                }
            }
            slices.append(slice)
        }
        return LeaseAnswer(node: gateway, currency: pricing.currency, caps: terms, slices: slices, prices: prices)
    }


    /// Where each hard cap's current period stands: spent (settled requests, slices' settled
    /// parts, expired holds, and what was spent outside the gateway), leased (pending
    /// requests and the unspent part of open slices) and free, with its open slices.
    func capFigures() async throws -> [String: CapFigures] {
        let now = now()
        let states = budgets.currentStates
        // A cap per session has no one figure: each session has its own.
        let rooms = Dictionary(caps.filter { !$0.perSession }.map { ($0.name, room($0, states[$0.name], now: now)) }, uniquingKeysWith: { first, _ in first })
        // One snapshot for every cap: a report applied between two reads cannot split a figure.
        let periods = try await reservations.capPeriods(rooms.map { ($0.key, $0.value.periodStart) })
        var figures: [String: CapFigures] = [:]
        for (name, room) in rooms {
            guard let period = periods[name], let cap = caps.first(where: { $0.name == name }) else { continue }
            let used = room.spentBefore + period.held
            let leased = max(0, period.open.amount - period.open.settled) + period.pending
            figures[name] = CapFigures(spent: used - leased, leased: leased, free: max(0, cap.limit - used), slices: period.open.count)
        }
        return figures
    }

    /// The sessions of a cap held per session, the latest first: their figures in the current
    /// period, and when they were first and last reported.
    func sessions(of cap: Budget) async throws -> [SessionStatus] {
        let now = now()
        let periodStart = cap.period.bounds(at: now).start
        var rows: [SessionStatus] = []
        let sessions = try await reservations.capSessions(budget: cap.name)
        let periods = try await reservations.capPeriods(sessions.map { ($0.key, periodStart) })
        for session in sessions {
            guard let period = periods[session.key] else { continue }
            let used = period.held
            let leased = max(0, period.open.amount - period.open.settled)
            rows.append(SessionStatus(session: session.session, spent: used - leased, leased: leased, firstSeen: TimeText.exact(session.firstMs),
                                      lastSeen: TimeText.exact(session.lastMs)))
        }
        return rows
    }

    struct CapFigures: Sendable, Equatable {
        var spent: Double
        var leased: Double
        var free: Double
        var slices: Int
    }
}
