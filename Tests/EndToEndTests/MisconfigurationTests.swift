import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct MisconfigurationTests {
    /// A token rotated at the aggregator first, with the agent given the aggregator's base URL:
    /// the agent keeps every batch, says why on /-/ready and in its metrics, and once it has the
    /// new token the whole window arrives.
    @Test func aRotatedTokenLosesNothingAndABaseURLIsEnough() async throws {
        let directory = try Environment.temporaryDirectory("rotation")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let agentPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["node-a": "token-new"])
        let base = "http://127.0.0.1:\(aggregatorPort)"
        // Given an agent that still holds the old token (it has collected a round once it serves)
        var agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-old",
                                                 aggregatorURL: base)
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try await HTTP.waitFor("the spool to hold five rounds") {
            try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 >= 5 ? true : nil }
        }
        let refusedUntil = Int64(Date().timeIntervalSince1970 * 1000)
        // Then the pushes failed as unauthorized, nothing was dropped, and readiness names the fault
        #expect(try await agent.metric("tokenwatt_agent_push_errors_total{reason=\"unauthorized\"}").map { $0 >= 1 } == true)
        #expect(try await agent.metric("tokenwatt_agent_spool_dropped_samples_total{reason=\"rejected\"}") == 0)
        let ready = try await HTTP.get(agent.url + "/-/ready")
        #expect(ready.status == 503)
        #expect(ready.body.contains("401 from \(base)/api/v1/write") && ready.body.contains("token_file"))
        // When the agent gets the new token
        await agent.process.kill(signal: SIGTERM)
        agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-new",
                                             aggregatorURL: base)
        _ = try await HTTP.waitFor("the spool to drain", seconds: 60) {
            try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 <= 2 ? true : nil }
        }
        #expect(try await HTTP.get(agent.url + "/-/ready").status == 200)
        await agent.process.kill(signal: SIGTERM)
        await aggregator.process.kill(signal: SIGTERM)
        // Then the rounds collected while the token was refused are stored
        let stores = try RunningAggregator.stores(in: directory)
        let store = stores.samples
        defer { try? stores.close() }
        let series = try #require(store.series(matching: [try SeriesSelector(parsing: "tokenwatt_memory_total_bytes")]).first)
        let window = try await store.rawSamples(seriesID: series.id, from: started, to: refusedUntil)
        let seconds = Int((refusedUntil - started) / 1000)
        #expect(window.count >= max(1, seconds - 2), "\(window.count) rounds stored of the \(seconds) s the token was refused")
    }
}
