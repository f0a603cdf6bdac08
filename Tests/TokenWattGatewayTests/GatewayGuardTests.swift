import Testing
@testable import TokenWattGateway
@testable import TokenWattConfiguration

/// Per-caller rate caps.
@Suite struct GatewayGuardTests {
    static func caller(tokens: Int? = nil, requests: Int? = nil) -> GatewayConfiguration.Caller {
        GatewayConfiguration.Caller(key: "k", labels: ["team": "t"],
                                    rateLimit: .init(tokensPerMinute: tokens, requestsPerMinute: requests, coolDownMs: 30_000))
    }

    @Test func aCallerPastItsRequestCapIsRefusedForItsCoolDown() {
        let rates = CallerRateGuard()
        let caller = GatewayGuardTests.caller(requests: 3)
        for second in 0..<3 { #expect(rates.admit(caller, now: Int64(second) * 1_000) == nil) }
        let refused = rates.admit(caller, now: 3_000)
        #expect(refused?.reason == "3 requests in the last minute, the cap is 3" && refused?.untilMs == 33_000)
        // Still refused inside the cool-down though the minute has moved on; let through after it.
        #expect(rates.admit(caller, now: 32_000) != nil)
        #expect(rates.admit(caller, now: 63_001) == nil)
        // A caller without caps is never refused.
        #expect(rates.admit(GatewayConfiguration.Caller(key: "free", labels: [:]), now: 0) == nil)
    }

    @Test func aCallerPastItsTokenCapIsRefusedUntilTheMinuteForgets() {
        let rates = CallerRateGuard()
        let caller = GatewayGuardTests.caller(tokens: 1_000)
        #expect(rates.admit(caller, now: 0) == nil)
        rates.used(999, by: caller, now: 100)
        #expect(rates.admit(caller, now: 200) == nil)
        rates.used(1, by: caller, now: 300)
        #expect(rates.admit(caller, now: 400)?.reason == "1000 tokens in the last minute, the cap is 1000")
    }
}

/// The sessions the gateway tells apart.
@Suite struct SessionTableTests {
    @Test func pastTheCapANewSessionIsTheOverflowOneUntilAnOldOneIsIdleForAnHour() {
        let table = SessionTable(maxActive: 2)
        #expect(table.session("a", now: 0) == ("a", false) && table.session("b", now: 1_000) == ("b", false))
        #expect(table.session("a", now: 2_000) == ("a", false))
        #expect(table.session("c", now: 3_000) == ("overflow", true))
        // "b" last seen at 1 s: gone an hour later, and "c" has its own name.
        #expect(table.session("c", now: 1_000 + SessionTable.idleMs + 1) == ("c", false))
    }
}
