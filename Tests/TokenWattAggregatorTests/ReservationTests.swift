import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattTestSupport
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// Hard caps (`action: block`): reservations are granted only while every matching cap has
/// room, atomically, so concurrent requests never overshoot.
@Suite struct ReservationTests {
    static let yaml = """
        budgets:
          - {name: research-usd, match: {team: research}, measure: usd, limit: 0.1, action: block, period: {every: month, timezone: Europe/Berlin}}
          - {name: research-tokens, match: {team: research}, measure: tokens, limit: 300000, action: block}
          - {name: ops-tokens, match: {team: ops}, measure: tokens, limit: 5000, action: block}
          - {name: research-alert, match: {team: research}, measure: tokens, limit: 10}
        """
    static let headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer gateway-secret"]

    static func labels(team: String, agent: String = "a", model: String = "gpt-4o-mini") -> [String: String] {
        ["team": team, "agent": agent, "model": model, "provider": "openai", "source": "usage_api"]
    }

    static func post(_ client: any TestClientProtocol, _ uri: String, _ body: [String: Any], headers: HTTPFields = headers) async throws -> (status: HTTPResponse.Status, object: [String: Any], retryAfter: String?) {
        let data = try JSONSerialization.data(withJSONObject: body)
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: data)) { response in
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
            return (response.status, object, response.headers[.retryAfter])
        }
    }

    static func reserve(_ client: any TestClientProtocol, _ labels: [String: String], input: Double = 1_000, output: Double = 1_000, ttl: Double = 600)
        async throws -> (status: HTTPResponse.Status, object: [String: Any], retryAfter: String?) {
        try await post(client, "/api/v1/reservations", ["labels": labels, "input_tokens": input, "max_output_tokens": output, "ttl_seconds": ttl])
    }

    static func withDesk(now: @escaping @Sendable () -> Int64 = { 1_800_000_000_000 },
                         _ test: @escaping @Sendable (any TestClientProtocol, Aggregator) async throws -> Void) async throws {
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, file: "caps.yml")
        try await withAggregator({ $0.budgets = configuration.budgets }, now: now, test)
    }

    /// 500 requests at once from 50 callers, each worth 0.00075 USD at its worst (1,000 input
    /// and 1,000 output tokens of gpt-4o-mini): the 0.10 cap admits 133 of them, never 134.
    @Test func concurrentRequestsNeverOvershootACap() async throws {
        for _ in 0..<20 {
            try await ReservationTests.withDesk { client, aggregator in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for request in 0..<500 {
                        group.addTask { try await ReservationTests.reserve(client, ReservationTests.labels(team: "research", agent: "caller-\(request % 50)")).status }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == .created }.count == 133)
                #expect(statuses.filter { $0 == .tooManyRequests }.count == 367)
                let held = try await aggregator.stores.reservations.totals(budget: "research-usd", periodStart: 1_798_758_000_000)
                #expect(held["pending"]?.count == 133)
                #expect((held["pending"]?.amount ?? 1) <= 0.1)
                let tokens = try await aggregator.stores.reservations.totals(budget: "research-tokens", periodStart: 1_798_761_600_000)
                #expect(tokens["pending"]?.amount == 266_000.0)
            }
        }
    }

    /// Bodies an attacker or a broken gateway sends: each refused with 400 and the field it
    /// got wrong, nothing held.
    @Test(arguments: [
        (#"[]"#, "the body must be a JSON object"),
        (#"not json"#, "the body must be a JSON object"),
        (#"{"labels": {"team": "research"}, "max_output_tokens": 10}"#, "input_tokens: required"),
        (#"{"labels": {"team": "research"}, "input_tokens": true, "max_output_tokens": 10}"#, "input_tokens: a number from 0 to 1000000000000"),
        (#"{"labels": {"team": "research"}, "input_tokens": "12", "max_output_tokens": 10}"#, "input_tokens: a number from 0 to 1000000000000"),
        (#"{"labels": {"team": "research"}, "input_tokens": -1, "max_output_tokens": 10}"#, "input_tokens: a number from 0 to 1000000000000"),
        // A number no double holds fails the body's parse as a whole.
        (#"{"labels": {"team": "research"}, "input_tokens": 1e400, "max_output_tokens": 10}"#, "the body must be a JSON object"),
        (#"{"labels": {"team": "research"}, "input_tokens": 1, "max_output_tokens": 1e13}"#, "max_output_tokens: a number from 0 to 1000000000000"),
        (#"{"labels": {"team": "research"}, "input_tokens": 1, "max_output_tokens": 1, "ttl_seconds": 7200}"#, "ttl_seconds: a number from 0 to 3600"),
        (#"{"labels": {"team": "research"}, "input_tokens": 1, "max_output_tokens": 1, "ttl_seconds": 0}"#, "ttl_seconds: more than 0"),
        (#"{"labels": {"team": 7}, "input_tokens": 1, "max_output_tokens": 1}"#, "labels: an object of at most 64 label names and string values"),
        (#"{"labels": {"bad-name": "x"}, "input_tokens": 1, "max_output_tokens": 1}"#, "labels: an object of at most 64 label names and string values"),
        (#"{"input_tokens": 1, "max_output_tokens": 1}"#, "labels: an object of at most 64 label names and string values"),
    ])
    func hostileBodiesAreRefusedByTheFieldTheyGotWrong(_ body: String, _ message: String) async throws {
        try await ReservationTests.withDesk { client, aggregator in
            try await client.execute(uri: "/api/v1/reservations", method: .post, headers: ReservationTests.headers, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(object?["error"] as? String == message)
                #expect(object?["errorType"] as? String == "bad_data")
            }
            let held = try await aggregator.stores.reservations.totals(budget: "research-tokens", periodStart: 1_798_761_600_000)
            #expect(held.isEmpty)
        }
    }

    @Test func aDenialSaysWhichCapHowMuchAndWhenItResets() async throws {
        try await ReservationTests.withDesk { client, _ in
            let big = try await ReservationTests.reserve(client, ReservationTests.labels(team: "research"), input: 1_000_000, output: 1_000_000)
            #expect(big.status == .tooManyRequests)
            #expect(big.object["errorType"] as? String == "budget_exceeded")
            #expect(big.object["error"] as? String == "budget research-usd: 0.00 of 0.10 USD used, resets 2027-02-01T00:00:00+01:00")
            // 2027-01-15T08:00Z to 2027-01-31T23:00Z
            #expect(big.retryAfter == String(1_801_436_400 - 1_800_000_000))
            // Another team's cap is its own.
            #expect(try await ReservationTests.reserve(client, ReservationTests.labels(team: "ops"), input: 1_000, output: 1_000).status == .created)
            #expect(try await ReservationTests.reserve(client, ReservationTests.labels(team: "ops"), input: 3_000, output: 1_000).status == .tooManyRequests)
            // A money cap cannot bound a model without a price.
            let unpriced = try await ReservationTests.reserve(client, ReservationTests.labels(team: "research", model: "mystery-model"))
            #expect(unpriced.status == .unprocessableContent)
            var anonymous = ReservationTests.headers
            anonymous[.authorization] = nil
            let refused = try await ReservationTests.post(client, "/api/v1/reservations", ["labels": ReservationTests.labels(team: "ops"), "input_tokens": 1, "max_output_tokens": 1],
                                                          headers: anonymous)
            #expect(refused.status == .unauthorized)
            #expect(try await ReservationTests.post(client, "/api/v1/reservations", ["labels": ["team": "ops"], "input_tokens": -1, "max_output_tokens": 1]).status == .badRequest)
            #expect(try await ReservationTests.post(client, "/api/v1/reservations", ["labels": ["team": "ops"], "input_tokens": true, "max_output_tokens": 1]).status == .badRequest)
        }
    }

    /// Settling replaces the worst case by what was used (cached input at its price), once; a
    /// reservation never settled keeps its worst case after its time to live.
    @Test func settlingFreesWhatWasNotUsedAndExpiryKeepsTheWorstCase() async throws {
        let clock = ClockBox(1_800_000_000_000)
        try await ReservationTests.withDesk(now: { clock.now }) { client, aggregator in
            let labels = ReservationTests.labels(team: "research")
            let granted = try await ReservationTests.reserve(client, labels)
            let id = try #require((granted.object["data"] as? [String: Any])?["id"] as? String)
            let settle = ["labels": labels, "input_tokens": 1_000, "cached_input_tokens": 500, "output_tokens": 100] as [String: Any]
            #expect(try await ReservationTests.post(client, "/api/v1/reservations/\(id)/settle", settle).status == .ok)
            #expect(try await ReservationTests.post(client, "/api/v1/reservations/\(id)/settle", settle).status == .notFound)
            let held = try await aggregator.stores.reservations.totals(budget: "research-usd", periodStart: 1_798_758_000_000)
            // 500 × 0.15 + 500 × 0.075 + 100 × 0.60 per million.
            #expect(abs((held["settled"]?.amount ?? 0) - 0.0001725) < 1e-12)

            let lapsing = try await ReservationTests.reserve(client, labels, ttl: 1)
            let lapsed = try #require((lapsing.object["data"] as? [String: Any])?["id"] as? String)
            clock.now += 2_000
            #expect(try await ReservationTests.post(client, "/api/v1/reservations/\(lapsed)/settle", settle).status == .notFound)
            let after = try await aggregator.stores.reservations.totals(budget: "research-usd", periodStart: 1_798_758_000_000)
            #expect(after["expired"]?.count == 1)
            #expect(abs((after["expired"]?.amount ?? 0) - 0.00075) < 1e-12)
        }
    }

    /// A hard cap with a runaway rule refuses its scope while the runaway fires and for the
    /// rule's cool-down after it ended, naming the rate and its baseline.
    @Test func aRunawayHoldsItsCapsScopeForTheCoolDown() async throws {
        let clock = ClockBox(1_800_000_000_000)
        let configuration = try AggregatorConfiguration.parse(yaml: """
            budgets:
              - {name: bots, match: {team: research}, measure: tokens, limit: 1e9, action: block,
                 runaway: {window: 1m, baseline: 1h, factor: 10, min_rate: 1, cool_down: 5m}}
            """, file: "caps.yml")
        // The last evaluation before this start saw a runaway of 250 tokens/s against 5. The
        // engine reads saved states once, at its first evaluation, so the state is saved first.
        var storage = StorageConfiguration()
        storage.directory = Environment.temporaryPath("caps")
        defer { try? FileManager.default.removeItem(atPath: storage.directory) }
        let seeded = try Stores(configuration: storage, logger: Logger(label: "test"))
        let firing = BudgetState(periodStart: 0, periodEnd: 0, runawayFiring: true, runawayRate: 250, runawayBaseline: 5)
        try await seeded.budgetStates.save("bots", state: String(decoding: try JSONEncoder().encode(firing), as: UTF8.self), messages: [])
        try seeded.close()
        try await withAggregator({ $0.budgets = configuration.budgets; $0.storage = storage }, now: { clock.now }) { client, aggregator in
            try await aggregator.budgets.evaluate()  // no tokens now, so the runaway ends and its hold begins
            let held = try await ReservationTests.reserve(client, ReservationTests.labels(team: "research"))
            #expect(held.status == .tooManyRequests)
            #expect(held.object["errorType"] as? String == "runaway")
            #expect(held.object["error"] as? String == "budget bots: runaway, 250.00 tokens/s against a baseline of 5.00 tokens/s, refused until 2027-01-15T08:05:00Z")
            #expect(held.retryAfter == "300")
            // Another team is not held.
            #expect(try await ReservationTests.reserve(client, ReservationTests.labels(team: "ops")).status == .created)
            clock.now += 300_000
            #expect(try await ReservationTests.reserve(client, ReservationTests.labels(team: "research")).status == .created)
        }
    }

    /// The gateway's tokens reach the ledger and are held by their reservations: a cap counts
    /// them once, from the reservations.
    @Test func gatewayTokensInTheLedgerAreNotCountedAgainByACap() async throws {
        let clock = ClockBox(1_800_000_030_000)  // 30 s into an hour: the pushed samples are in the hour in progress
        let configuration = try AggregatorConfiguration.parse(yaml: """
            budgets: [{name: research-tokens, match: {team: research}, measure: tokens, limit: 3000, action: block}]
            """, file: "caps.yml")
        try await withAggregator({ $0.budgets = configuration.budgets }, now: { clock.now }) { client, aggregator in
            let labels = ["team": "research", "model": "gpt-4o-mini", "provider": "openai", "source": "gateway"]
            let granted = try await ReservationTests.reserve(client, labels, input: 1_000, output: 1_000)
            let id = try #require((granted.object["data"] as? [String: Any])?["id"] as? String)
            #expect(try await ReservationTests.post(client, "/api/v1/reservations/\(id)/settle",
                                                    ["labels": labels, "input_tokens": 1_000, "output_tokens": 1_000]).status == .ok)
            // The same 2,000 tokens, pushed by the gateway with its own credential.
            let series = { (type: String) in
                TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": "tokenwatt_tokens_total", "type": type]) { $1 }),
                           samples: [Sample(timestamp: clock.now - 2_000, value: 0), Sample(timestamp: clock.now - 1_000, value: 1_000)])
            }
            var gatewayHeaders = remoteWriteHeaders
            gatewayHeaders[.authorization] = "Bearer gateway-secret"
            let (headers, body) = push([series("input"), series("output")], headers: gatewayHeaders)
            #expect(try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { $0.status } == .noContent)
            try await aggregator.budgets.evaluate()
            #expect(aggregator.budgets.currentStates["research-tokens"]?.spent == 2_000)
            // 2,000 used: another 1,000 fits the 3,000 (it would not, were they counted twice).
            #expect(try await ReservationTests.reserve(client, labels, input: 500, output: 500).status == .created)
            #expect(try await ReservationTests.reserve(client, labels, input: 1, output: 0).status == .tooManyRequests)
        }
    }
}

/// A cap held per session applies its runaway rule to each session's own rate.
@Suite struct SessionRunawayTests {
    @Test func aSessionWhoseRateRunsAwayIsHeldForTheCoolDownWhileAnotherGoesOn() throws {
        var cap = Budget(name: "run", scope: [], measure: .tokens, period: .every(CalendarPeriod(.month, timezone: TimeZone(identifier: "UTC")!)), limit: 1e6,
                         thresholds: [], forecast: nil, runaway: nil, receivers: [])
        cap.runaway = Budget.Runaway(windowMs: 10_000, baselineMs: 60_000, factor: 3, minRate: 100)
        cap.runaway?.coolDownMs = 30_000
        let runaways = SessionRunaways()
        // 50 tokens/s for a minute: below the floor of 100.
        for second in 0...60 { #expect(runaways.observe(key: "a", slice: "s1", tokens: Double(second * 50), cap: cap, now: Int64(second) * 1_000) == nil) }
        // Then 500 tokens/s, reported by two slices: over 3 × the baseline (50) and the floor within a few seconds.
        var fired: Int64?
        for second in 61...70 {
            let now = Int64(second) * 1_000
            let total = 3_000 + Double(second - 60) * 500
            _ = runaways.observe(key: "a", slice: "s2", tokens: total - 3_000, cap: cap, now: now)
            if runaways.observe(key: "a", slice: "s1", tokens: 3_000, cap: cap, now: now) != nil, fired == nil { fired = now }
        }
        let start = try #require(fired)
        #expect(start <= 66_000)
        // Another session is not held by it.
        #expect(runaways.observe(key: "b", slice: "s3", tokens: 10, cap: cap, now: 70_000) == nil)
        // Quiet again: held while the rate is high, then for the cool-down after it falls back, then let go.
        var ended: Int64?
        for second in 71...140 {
            let now = Int64(second) * 1_000
            let hold = runaways.observe(key: "a", slice: "s2", tokens: 5_000, cap: cap, now: now)
            if ended == nil, let until = hold?.untilMs { ended = until - 30_000 }
            if let ended { #expect((hold != nil) == (now < ended + 30_000), "at \(now)") }
        }
        #expect(ended != nil)
    }
}

/// `POST /api/v1/leases` as a gateway sees it, and a cap's spent, leased and free room where an
/// operator looks: `/api/v1/budgets`, `/metrics`, the budgets page.
@Suite struct LeaseAPITests {
    static func lease(_ client: any TestClientProtocol, _ body: String, token: String = "gateway-secret") async throws -> (status: HTTPResponse.Status, object: [String: Any]) {
        try await client.execute(uri: "/api/v1/leases", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
                                 body: ByteBuffer(string: body)) { response in
            (response.status, (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:])
        }
    }

    @Test func aSliceIsCarvedAndShownAsLeasedRoomOnEveryView() async throws {
        try await ReservationTests.withDesk { client, _ in
            // A node's token cannot lease; a gateway's first report has nothing in it: the caps and prices.
            #expect(try await LeaseAPITests.lease(client, #"{"slices": [], "models": [], "expiry_seconds": 60}"#, token: "secret-1").status == .forbidden)
            let first = try await LeaseAPITests.lease(client, #"{"slices": [], "models": ["gpt-4o-mini"], "expiry_seconds": 60}"#)
            let data = try #require(first.object["data"] as? [String: Any])
            #expect(first.status == .ok && data["node"] as? String == "gw-1")
            let caps = try #require(data["caps"] as? [[String: Any]])
            #expect(Set(caps.compactMap { $0["budget"] as? String }) == ["research-usd", "research-tokens", "ops-tokens"])
            #expect(((data["prices"] as? [[String: Any]])?.first?["input"] as? NSNumber)?.doubleValue ?? 0 > 0)
            // A slice of 2,000 tokens of the ops cap: leased, not spent; then 300 of it spent.
            let ask = #"{"slices": [{"id": "slice_a", "budget": "ops-tokens", "settled": 0, "held": 0, "headroom": 2000, "want": 2000, "need": 0, "admitted": 0}], "models": [], "expiry_seconds": 60}"#
            let granted = try await LeaseAPITests.lease(client, ask)
            let slice = try #require(((granted.object["data"] as? [String: Any])?["slices"] as? [[String: Any]])?.first)
            #expect(slice["state"] as? String == "open" && (slice["free"] as? NSNumber)?.doubleValue == 2_000)
            _ = try await LeaseAPITests.lease(client, ask.replacingOccurrences(of: #""settled": 0, "held": 0, "headroom": 2000"#, with: #""settled": 300, "held": 0, "headroom": 200"#)
                .replacingOccurrences(of: #""admitted": 0"#, with: #""admitted": 300"#))
            let budgets = try await client.execute(uri: "/api/v1/budgets?name=ops-tokens", method: .get) { String(buffer: $0.body) }
            let row = try #require(((try JSONSerialization.jsonObject(with: Data(budgets.utf8)) as? [String: Any])?["data"] as? [[String: Any]])?.first)
            let cap = try #require(row["cap"] as? [String: Any])
            #expect((cap["spent"] as? NSNumber)?.doubleValue == 300 && (cap["leased"] as? NSNumber)?.doubleValue == 2_000
                    && (cap["free"] as? NSNumber)?.doubleValue == 2_700 && (cap["slices"] as? NSNumber)?.intValue == 1, "\(cap)")
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains(#"tokenwatt_budget_cap_leased{budget="ops-tokens",unit="tokens"} 2000"#))
            #expect(metrics.contains(#"tokenwatt_budget_cap_free{budget="ops-tokens",unit="tokens"} 2700"#))
            let page = try await client.execute(uri: "/budgets", method: .get) { String(buffer: $0.body) }
            #expect(page.contains(#"id="caps""#) && page.contains("cap.ops-tokens.leased"))
        }
    }

    /// Reports an attacker or a broken gateway sends: refused with 400 and the field, nothing leased.
    @Test(arguments: [
        (#"{"slices": [{"id": "x", "budget": "ops-tokens", "settled": 0, "held": 0, "headroom": 0, "want": 1, "need": 0, "admitted": 0}], "models": [], "expiry_seconds": 60}"#,
         "slices: ids are slice_ and at most 128 bytes"),
        (#"{"slices": [{"id": "slice_a", "budget": "ops-tokens", "settled": -1, "held": 0, "headroom": 0, "want": 1, "need": 0, "admitted": 0}], "models": [], "expiry_seconds": 60}"#,
         "slices[].settled: a number from 0 to 1000000000000"),
        (#"{"slices": [{"id": "slice_a", "budget": "ops-tokens", "settled": 0, "held": 0, "headroom": 0, "want": 1e13, "need": 0, "admitted": 0}], "models": [], "expiry_seconds": 60}"#,
         "slices[].want: a number from 0 to 1000000000000"),
        (#"{"slices": [], "models": [], "expiry_seconds": 0.5}"#, "expiry_seconds: at least 1"),
        (#"{"slices": [], "models": [], "expiry_seconds": 6000}"#, "expiry_seconds: a number from 0 to 600"),
        (#"{"slices": [{"id": "slice_a", "budget": "ops-tokens", "settled": 0, "held": 0, "headroom": 0, "want": 1, "need": 0, "admitted": 0, "session": "a\u0001b"}], "models": [], "expiry_seconds": 60}"#,
         "slices[].session: 1 to 256 bytes without control characters"),
        (#"{"slices": "many", "models": [], "expiry_seconds": 60}"#, "slices: a list of {id, budget, settled, held, headroom, want, need}, numbers from 0 to 1000000000000"),
    ] as [(String, String)])
    func aBrokenReportIsRefusedByTheFieldItGotWrong(body: String, message: String) async throws {
        try await ReservationTests.withDesk { client, aggregator in
            let answer = try await LeaseAPITests.lease(client, body)
            #expect(answer.status == .badRequest && answer.object["error"] as? String == message, "\(answer.object)")
            #expect(try await aggregator.stores.reservations.capPeriods([("ops-tokens", 1_798_761_600_000)])["ops-tokens"]!.open.count == 0)
        }
    }
}
