import Foundation
import Synchronization
import Testing
import TokenWattService
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Leases with real binaries: gateways admitting from their slices of the caps, a killed
/// gateway's slice coming back, an aggregator killed under steady traffic, and a cap used to
/// its end while the traffic moves between replicas.
@Suite(.serialized) struct LeaseTests {
    /// A cap's figures on the aggregator's `/metrics`.
    static func cap(_ setup: GatewayTests.Setup, _ budget: String = "cap") async throws -> (spent: Double, leased: Double, free: Double, slices: Double) {
        let metrics = try await HTTP.get(setup.aggregator.url + "/metrics").body
        let labels = ["budget=\"\(budget)\""]
        return (GatewayTests.sum(metrics, "tokenwatt_budget_cap_spent", labels), GatewayTests.sum(metrics, "tokenwatt_budget_cap_leased", labels),
                GatewayTests.sum(metrics, "tokenwatt_budget_cap_free", labels), GatewayTests.sum(metrics, "tokenwatt_budget_cap_slices", labels))
    }

    /// A gateway killed with five requests in flight: its slice expires at the aggregator, which
    /// charges those five at their worst case (and the headroom the gateway declared), and
    /// gives the rest of the slice back to the cap.
    @Test func aKilledGatewaysSliceReturnsAfterItsExpiryItsRequestsInFlightAtTheirWorst() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("lease-kill", aggregatorConfig: """
                budgets: [{name: cap, match: {team: research}, measure: tokens, limit: 100000, action: block}]
                """, gatewayConfig: "leases: {report_interval: 200ms, expiry: 3s}", routes: ["{match: \"slow-.*\", upstream: \"\(upstream.url)\"}"]) { setup in
                let gateway = setup.gateway
                let inFlight = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<5 {
                            group.addTask {
                                _ = try? await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("slow-model", stream: true),
                                                                 headers: [("x-test-chunks", "30"), ("x-test-chunk-delay-ms", "300")])
                            }
                        }
                    }
                }
                _ = try await HTTP.waitFor("five requests upstream") { upstream.tally("slow-model").received == 5 ? true : nil }
                // Reported: five worst cases of 131 held, nothing spent; the slice holds more room than that.
                let before = try await HTTP.waitFor("the slice to be reported with the five in flight") { () -> (spent: Double, leased: Double, free: Double, slices: Double)? in
                    let figures = try await LeaseTests.cap(setup)
                    return figures.slices == 1 && figures.leased > 5 * 131 ? figures : nil
                }
                #expect(before.spent == 0)
                try await Task.sleep(for: .milliseconds(500))
                await setup.replicas[0].process.kill(signal: SIGKILL)
                await inFlight.value
                let after = try await HTTP.waitFor("the killed gateway's slice to expire", seconds: 20) { () -> (spent: Double, leased: Double, free: Double, slices: Double)? in
                    let figures = try await LeaseTests.cap(setup)
                    return figures.slices == 0 ? figures : nil
                }
                // Charged the five at their worst, and at most two more worst cases of headroom (its rate
                // over three report intervals, two requests at least); the rest is free again.
                #expect(after.spent >= 5 * 131 && after.spent <= 5 * 131 + 5 * 131, "\(after)")
                #expect(after.leased == 0 && after.free == 100_000 - after.spent, "\(after)")
                // The restarted gateway counts none of the killed requests: they never ended.
                let restarted = try await setup.restartGateway()
                #expect(GatewayTests.sum(try await restarted.metrics(), "tokenwatt_requests_total", ["model=\"slow-model\""]) == 0)
            }
        }
    }

    /// The aggregator killed for 30 s under steady traffic through two gateways: they admit from
    /// their slices while it is down (no refusal), it comes back from its database knowing
    /// every slice, and the cap's spend is exactly what the upstream served.
    @Test func anAggregatorKilledForThirtySecondsUnderSteadyTrafficRefusesNothingAndLosesNothing() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("lease-outage", replicas: 2, aggregatorConfig: """
                budgets: [{name: cap, match: {team: research}, measure: tokens, limit: 200000, action: block}]
                """, routes: ["{match: \"steady-.*\", upstream: \"\(upstream.url)\"}"]) { setup in
                let traffic = SteadyTraffic()
                // Ten requests a second, alternating between the replicas.
                let sender = Task { () -> Int in
                    var sent = 0
                    while traffic.sending.withLock({ $0 }) {
                        let replica = setup.replicas[sent % 2].url
                        sent += 1
                        traffic.sent.withLock { $0 = sent }
                        Task {
                            let status = (try? await GatewayTests.post(replica, key: "sk-test", GatewayTests.chat("steady-model")))?.status ?? 0
                            traffic.statuses.withLock { $0[status, default: 0] += 1 }
                        }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    return sent
                }
                try await Task.sleep(for: .seconds(5))
                let slices = try await LeaseTests.cap(setup).slices
                #expect(slices == 2)
                await setup.aggregator.process.kill(signal: SIGKILL)
                let sentBefore = traffic.sent.withLock { $0 }
                try await Task.sleep(for: .seconds(30))
                let sentWhileDown = traffic.sent.withLock { $0 } - sentBefore
                let restarted = try await setup.restartAggregator()
                // It knows the slices from its database before any gateway reports again.
                let metrics = try await HTTP.get(restarted.url + "/metrics").body
                #expect(GatewayTests.sum(metrics, "tokenwatt_budget_cap_slices", ["budget=\"cap\""]) == 2)
                try await Task.sleep(for: .seconds(5))
                traffic.sending.withLock { $0 = false }
                let sent = await sender.value
                _ = try await HTTP.waitFor("every request to be answered") { () -> Bool? in
                    traffic.statuses.withLock { $0.values.reduce(0, +) } == sent ? true : nil
                }
                let answered = traffic.statuses.withLock { $0 }
                #expect(answered.keys.sorted() == [200] && (answered[200] ?? 0) >= 200, "\(answered)")
                var offline = 0.0
                for replica in setup.replicas {
                    offline += GatewayTests.sum(try await replica.metrics(), "tokenwatt_gateway_offline_admissions_total", [])
                }
                // All but the first second's (before a report meets the refused port) were admitted from the whole slices.
                #expect(offline >= Double(sentWhileDown - 20), "admitted while the aggregator was down: \(offline) of \(sentWhileDown)")
                // What the slices report spent is what the upstream served, not a token more or less.
                let served = upstream.tally("steady-model")
                let restartedSetup = GatewayTests.Setup(directory: setup.directory, aggregator: restarted, aggregatorPort: setup.aggregatorPort, agent: nil,
                                                        replicas: setup.replicas, gatewayConfig: setup.gatewayConfig, aggregatorConfig: setup.aggregatorConfig,
                                                        gateways: setup.gateways)
                _ = try await HTTP.waitFor("the slices to report every request") { () -> Bool? in
                    try await LeaseTests.cap(restartedSetup).spent == Double(served.input + served.output) ? true : nil
                }
            }
        }
    }

    /// A cap of 20,000 tokens, and traffic that moves from replica to replica every 32
    /// requests: slices flow back to where the traffic went (an idle replica's slice is
    /// recalled), so the first refusal comes only once 99 % of the cap is spent.
    @Test func aCapIsUsableToNinetyNinePercentWhenTrafficMovesBetweenReplicas() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("lease-moves", replicas: 3, aggregatorConfig: """
                budgets: [{name: cap, match: {team: research}, measure: tokens, limit: 20000, action: block}]
                """, routes: ["{match: \"moving-.*\", upstream: \"\(upstream.url)\"}"]) { setup in
                var refusal: GatewayTests.Answer?
                var phase = 0
                phases: while phase < 20 {
                    let replica = setup.replicas[phase % 3].url
                    phase += 1
                    // 32 requests, four at a time.
                    for _ in 0..<8 {
                        let answers = try await withThrowingTaskGroup(of: GatewayTests.Answer.self) { group in
                            for _ in 0..<4 { group.addTask { try await GatewayTests.post(replica, key: "sk-test", GatewayTests.chat("moving-model")) } }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        if let refused = answers.first(where: { $0.status != 200 }) {
                            refusal = refused
                            break phases
                        }
                    }
                }
                let refused = try #require(refusal)
                #expect(refused.status == 429 && refused.errorType == "budget_exceeded", "\(refused.body)")
                let served = upstream.tally("moving-model")
                let used = Double(served.input + served.output)
                #expect(used >= 0.99 * 20_000 && used <= 20_000, "spent \(used) of 20,000 before the first refusal, after \(phase) phases: \(refused.body)")
                #expect(phase >= 4, "the traffic moved \(phase - 1) times")
                print("lease-moves: \(used) of 20,000 tokens spent before the first refusal, the traffic moved \(phase - 1) times")
            }
        }
    }
    /// A caller whose streams use 200 output tokens and name no limit, against caps with
    /// room for 10,000 tokens: a `worst_case` route holds 4,096 for each and lets 2 stream at
    /// once; a `typical` route holds the caller's p95 (200) and lets about 40; neither cap is
    /// passed. A stream that runs past what its slices can lend is ended with the API's
    /// `finish_reason: "length"`, and counted.
    @Test func aTypicalReservationLetsTwentyTimesTheStreamsAndAStreamPastTheCapIsCut() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            // 20 warm-up streams of 220 tokens on the typical route's cap first, then 10,000 tokens of room on each.
            try await GatewayTests.withGateway("lease-typical", aggregatorConfig: """
                budgets:
                  - {name: worst, match: {model: worst-m}, measure: tokens, limit: 10000, action: block}
                  - {name: typical, match: {model: typical-m}, measure: tokens, limit: 14400, action: block}
                  - {name: cut, match: {model: cut-m}, measure: tokens, limit: 1000, action: block}
                """, routes: ["{match: \"worst-.*\", upstream: \"\(upstream.url)\"}",
                             "{match: \"typical-.*\", upstream: \"\(upstream.url)\", output_reservation: typical}",
                             "{match: \"cut-.*\", upstream: \"\(upstream.url)\", output_reservation: typical}"]) { setup in
                func stream(_ model: String, headers: [(String, String)]) -> [String: Any] {
                    var body = GatewayTests.chat(model, stream: true)
                    body["max_tokens"] = nil
                    return body
                }
                for _ in 0..<20 {
                    let warm = try await GatewayTests.post(setup.gateway, key: "sk-test", stream("typical-m", headers: []), headers: [("x-test-output", "200")])
                    #expect(warm.status == 200)
                }
                // Sixty at once, each streaming for 5 s (longer than a request waits for room).
                var admitted: [String: Int] = [:]
                for model in ["worst-m", "typical-m"] {
                    let answers = try await withThrowingTaskGroup(of: GatewayTests.Answer.self) { group in
                        for _ in 0..<60 {
                            group.addTask {
                                try await GatewayTests.post(setup.gateway, key: "sk-test", stream(model, headers: []),
                                                            headers: [("x-test-output", "200"), ("x-test-chunks", "10"), ("x-test-chunk-delay-ms", "500")])
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(answers.allSatisfy { $0.status == 200 || ($0.status == 429 && $0.errorType == "budget_exceeded") })
                    admitted[model] = answers.filter { $0.status == 200 }.count
                }
                #expect(admitted["worst-m"] == 2, "\(admitted)")
                #expect((35...46).contains(admitted["typical-m"] ?? 0), "\(admitted)")
                print("lease-typical: of 60 streams at once, worst_case admitted \(admitted["worst-m"] ?? 0), typical \(admitted["typical-m"] ?? 0)")
                for (model, limit) in [("worst-m", 10_000), ("typical-m", 14_400)] {
                    let served = upstream.tally(model)
                    #expect(served.input + served.output <= limit, "\(model): \(served)")
                }
                // Two streams of 120 tokens teach the route the caller's output (100); then 2,000 tokens of
                // text against the 760 the cap has left: the stream ends where the cap runs out.
                for _ in 0..<2 {
                    #expect(try await GatewayTests.post(setup.gateway, key: "sk-test", GatewayTests.chat("cut-m", maxTokens: 100, stream: true)).status == 200)
                }
                let cut = try await GatewayTests.post(setup.gateway, key: "sk-test", stream("cut-m", headers: []),
                                                      headers: [("x-test-output", "2000"), ("x-test-chunks", "2000")])
                #expect(cut.status == 200 && cut.body.contains(#""finish_reason":"length""#) && cut.body.hasSuffix("data: [DONE]\n\n"))
                // 131 held, then 256 at a time: two draws fit in 760, the third does not.
                let text = cut.body.components(separatedBy: "tok ").count - 1
                #expect(text > 356 && text <= 612, "\(text) tokens of text passed")
                print("lease-typical: the cut stream passed \(text) of 2,000 tokens of text")
                let metrics = try await HTTP.waitFor("the cut stream to be counted") { () -> String? in
                    let text = try await setup.replicas[0].metrics()
                    return GatewayTests.sum(text, "tokenwatt_gateway_cut_streams_total", ["route=\"cut-.*\""]) == 1 ? text : nil
                }
                #expect(GatewayTests.sum(metrics, "tokenwatt_gateway_cut_streams_total", []) == 1)
                _ = try await HTTP.waitFor("the cut stream's slice to report") { () -> Bool? in
                    let figures = try await LeaseTests.cap(setup, "cut")
                    return figures.spent > 200 ? true : nil
                }
                let figures = try await LeaseTests.cap(setup, "cut")
                #expect(figures.spent + figures.leased <= 1_000, "\(figures)")
            }
        }
    }

    /// Caps held per session (`per: session`, the session named by `x-tokenwatt-session`)
    /// through two replicas: each run may use 1,000 tokens, whichever replica its requests
    /// reach, and is refused alone past it; a request without a session is not held; a session
    /// whose rate runs away is refused by the cap's runaway rule while a calm one goes on; past
    /// `sessions.max_active` a new session is held as the overflow session, and counted; no
    /// session reaches the time series.
    @Test func capsPerSessionHoldEachRunApartAndStopARunawayOne() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("lease-sessions", replicas: 2, aggregatorConfig: """
                budgets:
                  - {name: run-cap, match: {model: run-m}, per: session, measure: tokens, limit: 1000, action: block}
                  - {name: burst-cap, match: {model: burst-m}, per: session, measure: tokens, limit: 1000000, action: block,
                     runaway: {window: 2s, baseline: 1m, factor: 2, min_rate: 300, cool_down: 30s}}
                """, gatewayConfig: "sessions: {max_active: 4}", routes: ["{match: \"run-.*|burst-.*\", upstream: \"\(upstream.url)\"}"]) { setup in
                var sent = 0
                func send(_ model: String, session: String?) async throws -> GatewayTests.Answer {
                    defer { sent += 1 }
                    return try await GatewayTests.post(setup.replicas[sent % 2].url, key: "sk-test", GatewayTests.chat(model),
                                                       headers: session.map { [("x-tokenwatt-session", $0)] } ?? [])
                }
                // Each request holds 131 and uses 120: eight fit in a run's 1,000, the ninth does not.
                for session in ["run-1", "run-2"] {
                    var admitted = 0
                    var refusal: GatewayTests.Answer?
                    while refusal == nil && admitted < 20 {
                        let answer = try await send("run-m", session: session)
                        if answer.status == 200 { admitted += 1 } else { refusal = answer }
                    }
                    #expect(admitted == 8, "\(session): \(admitted) admitted")
                    #expect(refusal?.status == 429 && refusal?.errorType == "budget_exceeded"
                            && refusal?.body.contains("budget run-cap (session \(session)): ") == true && refusal?.body.contains(" of 1,000.00 tokens used") == true,
                            "\(refusal?.body ?? "")")
                }
                // Not held without a session.
                for _ in 0..<10 { #expect(try await send("run-m", session: nil).status == 200) }
                // A session looping at ten requests a second (655 worst-case tokens/s, the rule's floor 300) is stopped; a calm one is not.
                var statuses: [UInt] = []
                for index in 0..<40 {
                    statuses.append(try await send("burst-m", session: "loop").status)
                    if index % 10 == 0 { #expect(try await send("burst-m", session: "calm").status == 200) }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // Each replica learns it at its next report (within a second): from then on, every request of the session is refused.
                let first = try #require(statuses.firstIndex(of: 429), "\(statuses)")
                #expect(first >= 5 && first + 10 < statuses.count && statuses[(first + 10)...].allSatisfy { $0 == 429 }, "\(statuses)")
                let stopped = try await send("burst-m", session: "loop")
                #expect(stopped.status == 429 && stopped.errorType == "runaway" && stopped.body.contains("session loop of budget burst-cap: runaway"), "\(stopped.body)")
                // A fifth session is one too many: held as the overflow session.
                #expect(try await send("run-m", session: "run-5").status == 200)
                _ = try await HTTP.waitFor("the overflow to be counted") { () -> Bool? in
                    var overflows = 0.0
                    for replica in setup.replicas { overflows += GatewayTests.sum(try await replica.metrics(), "tokenwatt_gateway_session_overflows_total", []) }
                    return overflows == 1 ? true : nil
                }
                for replica in setup.replicas { #expect(!(try await replica.metrics()).contains("session="), "a session reached the time series") }
                // The aggregator keeps each session's figures (for the cap's keep, 30 days by default).
                let sessions = try await HTTP.waitFor("each run's spend at the aggregator") { () -> [String: Double]? in
                    let body = try await HTTP.get(setup.aggregator.url + "/api/v1/sessions?budget=run-cap").body
                    let rows = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [[String: Any]] ?? []
                    let spent = Dictionary(rows.map { ($0["session"] as? String ?? "", ($0["spent"] as? NSNumber)?.doubleValue ?? 0) }, uniquingKeysWith: { $1 })
                    return spent["run-1"] == 960 && spent["run-2"] == 960 && spent["overflow"] == 120 ? spent : nil
                }
                #expect(sessions.count == 3, "\(sessions)")
            }
        }
    }
}

/// Requests sent at a steady pace until told to stop, and their answers' statuses.
private final class SteadyTraffic: Sendable {
    let sending = Mutex(true)
    let sent = Mutex(0)
    let statuses = Mutex<[UInt: Int]>([:])
}
