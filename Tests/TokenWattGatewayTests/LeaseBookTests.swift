import Testing
import TokenWattAPI
@testable import TokenWattConfiguration
@testable import TokenWattGateway

/// The gateway's slices: admitted from locally, all caps or none, within the slice and the
/// headroom its last report declared, sized by the report to the recent rate.
@Suite struct LeaseBookTests {
    static func cap(_ budget: String, _ label: String, _ value: String, measure: String = "tokens", limit: Double = 100_000) -> LeaseAnswer.Cap {
        LeaseAnswer.Cap(budget: budget, match: [.init(name: label, op: "=", value: value)], measure: measure, unit: measure, limit: limit, used: 0, unspent: 0,
                        resetsAt: "2027-01-01T00:00:00Z", secondsToReset: 3_600)
    }

    static func answer(_ report: LeaseReport, caps: [LeaseAnswer.Cap], free: [String: Double], prices: [LeaseAnswer.Price] = []) -> LeaseAnswer {
        LeaseAnswer(node: "gw-0", currency: "USD", caps: caps, slices: report.slices.map { slice in
            .init(id: slice.id, state: .open, free: free[slice.budget] ?? 0, recalled: false, expiresInSeconds: 60)
        }, prices: prices)
    }

    static let labels = ["team": "research", "model": "m", "source": "gateway"]

    /// A book that knows `caps` and holds a new slice of `free` of the team cap (asked for by a
    /// request of `worst` that no longer waits).
    static func bookWithSlice(_ free: Double, caps: [LeaseAnswer.Cap] = [cap("team", "team", "research")], worst: Double = 131) -> LeaseBook {
        let book = LeaseBook(settings: .init())
        let terms = book.report(nowMs: 0)
        book.apply(answer(terms, caps: caps, free: [:]), to: terms, sentMs: 0)
        _ = book.admit(labels: labels, model: "m", local: false, input: 31, maxOutput: worst - 31, nowMs: 0)
        let new = book.report(nowMs: 0)
        book.apply(answer(new, caps: caps, free: ["team": free]), to: new, sentMs: 0)
        book.doneWaiting(["team": worst])
        return book
    }

    func admit(_ book: LeaseBook, _ input: Double = 31, _ output: Double = 100, at ms: Int64 = 0) -> Result<LeaseBook.Ticket, LeaseBook.Refusal> {
        book.admit(labels: LeaseBookTests.labels, model: "m", local: false, input: input, maxOutput: output, nowMs: ms)
    }

    @Test func aRequestTakesItsWorstCaseFromEveryMatchingCapOrFromNone() throws {
        let book = LeaseBook(settings: .init())
        let caps = [LeaseBookTests.cap("team", "team", "research"), LeaseBookTests.cap("model", "model", "m"), LeaseBookTests.cap("other", "team", "ops")]
        #expect(admit(book) == .failure(.noTerms))
        let first = book.report(nowMs: 0)
        #expect(first.slices.isEmpty)
        book.apply(LeaseBookTests.answer(first, caps: caps, free: [:]), to: first, sentMs: 0)
        // No slice yet: worth waiting for (the caps have room), and the next report asks for one per matching cap.
        #expect(admit(book) == .failure(.noRoom(budget: "team", amount: 131, full: false)))
        let asking = book.report(nowMs: 10)
        #expect(Set(asking.slices.map(\.budget)) == ["team"])
        #expect(asking.slices[0].need == 131 && asking.slices[0].want >= 262 && asking.slices[0].headroom == asking.slices[0].want)
        book.apply(LeaseBookTests.answer(asking, caps: caps, free: ["team": 1_000]), to: asking, sentMs: 10)
        #expect(admit(book, at: 20) == .failure(.noRoom(budget: "model", amount: 131, full: false)))
        let both = book.report(nowMs: 30)
        book.apply(LeaseBookTests.answer(both, caps: caps, free: ["team": 1_000, "model": 150]), to: both, sentMs: 30)
        // The model cap's 150 holds one worst case of 131; the second request takes nothing from either.
        let ticket = try admit(book, at: 40).get()
        #expect(ticket.holds.count == 2 && ticket.holds.allSatisfy { $0.amount == 131 })
        #expect(admit(book, at: 50) == .failure(.noRoom(budget: "model", amount: 131, full: false)))
        let held = book.report(nowMs: 60).slices
        #expect(held.allSatisfy { $0.held == 131 && $0.settled == 0 && $0.admitted == 131 })
        // It used 20 + 100: each slice keeps 120, and the rest of the worst case is free again.
        book.settle(ticket, input: 20, cachedInput: 0, output: 100)
        let settled = book.report(nowMs: 70).slices
        #expect(settled.allSatisfy { $0.held == 0 && $0.settled == 120 })
    }

    @Test func betweenReportsASliceAdmitsWithinItsHeadroomUnlessTheAggregatorIsDown() throws {
        let caps = [LeaseBookTests.cap("team", "team", "research")]
        let book = LeaseBookTests.bookWithSlice(100_000, caps: caps)
        // A new slice: all of it until its next report.
        for index in 0..<20 { _ = try admit(book, at: Int64(index)).get() }
        // Twenty requests of 131 in the first second: 2,620 tokens/s; a headroom of three report intervals.
        let second = book.report(nowMs: 1_000)
        let headroom = try #require(second.slices.first?.headroom)
        #expect(headroom == 2_620 * 3)
        #expect(second.slices[0].want == 2_620 * 60)
        book.apply(LeaseBookTests.answer(second, caps: caps, free: ["team": 100_000]), to: second, sentMs: 1_000)
        var admitted = 0
        while case .success = admit(book, at: 1_100) { admitted += 1 }
        #expect(admitted == Int(headroom / 131))
        // The next report is not answered: an aggregator that may have applied it binds too.
        _ = book.report(nowMs: 1_200)
        book.failed(refused: false, nowMs: 1_300)
        #expect(admit(book, at: 1_400) == .failure(.noRoom(budget: "team", amount: 131, full: false)))
        // Refused: the aggregator is down, it applies nothing and charges the slice in full; all of it is usable.
        _ = book.report(nowMs: 1_500)
        book.failed(refused: true, nowMs: 1_600)
        #expect(throws: Never.self) { try admit(book, at: 1_700).get() }
        let offline = book.report(nowMs: 1_800)
        #expect(offline.slices[0].headroom == second.slices[0].settled + second.slices[0].held + 100_000 - offline.slices[0].held - offline.slices[0].settled)
    }

    @Test func aRecalledSliceDeclaresNoHeadroomButWhatWaitsAndReportsAgainAtOnce() throws {
        let caps = [LeaseBookTests.cap("team", "team", "research")]
        let book = LeaseBookTests.bookWithSlice(10_000, caps: caps)
        _ = try admit(book, at: 10).get()
        let normal = book.report(nowMs: 1_000)
        #expect(normal.slices[0].headroom == 393)
        var recall = LeaseBookTests.answer(normal, caps: caps, free: ["team": 393])
        recall.slices[0].recalled = true
        #expect(book.apply(recall, to: normal, sentMs: 1_000))
        let recalled = book.report(nowMs: 1_010)
        #expect(recalled.slices[0].headroom == 0 && recalled.slices[0].want > 0)
        #expect(!book.apply(recall, to: recalled, sentMs: 1_010))
        // Only what waits here may be admitted once the answer comes.
        for _ in 0..<3 { _ = admit(book, at: 1_020) }
        #expect(book.report(nowMs: 1_030).slices[0].headroom == 3 * 131)
    }

    @Test func anIdleSliceIsReturnedAndAClosedOneForgotten() throws {
        let caps = [LeaseBookTests.cap("team", "team", "research")]
        let book = LeaseBookTests.bookWithSlice(5_000, caps: caps)
        let ticket = try admit(book, at: 10).get()
        // Idle, but a request is in flight: it keeps what that holds, and asks for nothing more.
        let busy = book.report(nowMs: 20_000)
        #expect(busy.slices[0].want == 0 && busy.slices[0].headroom == 0 && busy.slices[0].held == 131)
        book.apply(LeaseBookTests.answer(busy, caps: caps, free: ["team": 0]), to: busy, sentMs: 20_000)
        book.settle(ticket, input: 0, cachedInput: 0, output: 0)
        let returned = book.report(nowMs: 21_000)
        #expect(returned.slices[0].want == 0 && returned.slices[0].headroom == 0 && returned.slices[0].held == 0)
        let closed = LeaseAnswer(node: "gw-0", currency: "USD", caps: caps,
                                 slices: [.init(id: returned.slices[0].id, state: .closed, free: 0, recalled: false, expiresInSeconds: 0)], prices: [])
        book.apply(closed, to: returned, sentMs: 21_000)
        #expect(book.figures.slices == 0)
        #expect(book.report(nowMs: 22_000).slices.isEmpty)
    }

    @Test func aMoneyCapPricesTheWorstCaseOrRefusesAModelWithoutAPrice() throws {
        let book = LeaseBook(settings: .init())
        let caps = [LeaseBookTests.cap("usd", "team", "research", measure: "usd", limit: 10)]
        let terms = book.report(nowMs: 0)
        book.apply(LeaseBookTests.answer(terms, caps: caps, free: [:]), to: terms, sentMs: 0)
        #expect(admit(book) == .failure(.unpriced(budget: "usd", model: "m", asked: false)))
        let asking = book.report(nowMs: 0)
        #expect(asking.models == ["m"])
        book.apply(LeaseBookTests.answer(asking, caps: caps, free: [:], prices: [.init(model: "m", input: nil, cachedInput: nil, output: nil, local: nil)]),
                   to: asking, sentMs: 0)
        #expect(admit(book) == .failure(.unpriced(budget: "usd", model: "m", asked: true)))
        // Asked again with every report: a price may come later.
        let priced = book.report(nowMs: 0)
        #expect(priced.models == ["m"])
        book.apply(LeaseBookTests.answer(priced, caps: caps, free: [:], prices: [.init(model: "m", input: 1e-5, cachedInput: 1e-6, output: 1e-4, local: nil)]),
                   to: priced, sentMs: 0)
        _ = admit(book)
        let new = book.report(nowMs: 0)
        book.apply(LeaseBookTests.answer(new, caps: caps, free: ["usd": 1]), to: new, sentMs: 0)
        book.doneWaiting(["usd": 31 * 1e-5 + 100 * 1e-4])
        let ticket = try admit(book).get()
        #expect(abs(ticket.holds[0].amount - (31 * 1e-5 + 100 * 1e-4)) < 1e-12)
        // Cached input at its own price once settled.
        book.settle(ticket, input: 30, cachedInput: 10, output: 50)
        #expect(abs(book.report(nowMs: 10).slices[0].settled - (20 * 1e-5 + 10 * 1e-6 + 50 * 1e-4)) < 1e-12)
    }
}
