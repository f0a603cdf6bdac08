import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Synchronization

/// A token burst reported at an agent until the budget's webhook arrives: the agent collects
/// and pushes every second, the aggregator evaluates budgets as pushes arrive. Each trial
/// reports tokens for its own team, whose budget (`trial-N`, tokens, one threshold) the
/// burst crosses; the time from the report to the webhook is the figure.
struct AlertLatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alert-latency", abstract: "Token burst at an agent → budget webhook received.")

    @Option(help: "The agent's usage endpoint.") var agent = "http://127.0.0.1:9471/v1/usage"
    @Option(help: "Port this program receives webhooks on.") var port = 19672
    @Option(help: "Trials; budgets trial-1 ... trial-N must exist, scoped to team trial-N.") var trials = 20
    @Option(help: "Tokens each budget allows; the burst is twice that.") var limit = 1_000

    func run() async throws {
        let arrivals = Mutex<[String: ContinuousClock.Instant]>([:])
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let event = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            if let budget = event?["budget"] as? String, event?["type"] as? String == "threshold" {
                arrivals.withLock { if $0[budget] == nil { $0[budget] = ContinuousClock.now } }
            }
            return Response(status: .ok)
        }
        var quiet = Logger(label: "webhook-receiver")
        quiet.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: quiet)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var latencies: [Double] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            try await Task.sleep(for: .milliseconds(500))
            // Every team's series exists before its trial (a new series is first reported at 0).
            for trial in 1...trials { try await report(client, team: "trial-\(trial)", tokens: 1) }
            try await Task.sleep(for: .seconds(5))
            for trial in 1...trials {
                let sent = ContinuousClock.now
                try await report(client, team: "trial-\(trial)", tokens: 2 * limit)
                let deadline = sent.advanced(by: .seconds(30))
                while arrivals.withLock({ $0["trial-\(trial)"] }) == nil && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                guard let arrived = arrivals.withLock({ $0["trial-\(trial)"] }) else { throw ValidationError("trial \(trial): no webhook within 30 s") }
                latencies.append(sent.duration(to: arrived).seconds)
                print(String(format: "trial %2d: %.0f ms", trial, latencies.last! * 1000))
                // The next burst lands at another point of the agent's 1 s cycle.
                try await Task.sleep(for: .milliseconds(1_000 + (trial * 370) % 1_000))
            }
            group.cancelAll()
        }
        try await client.shutdown()
        let summary = Latencies(seconds: latencies)
        print(String(format: "burst → signed webhook over %d trials: p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                     trials, summary.milliseconds(at: 0.5), summary.milliseconds(at: 0.99), summary.milliseconds(at: 1)))
    }

    private func report(_ client: HTTPClient, team: String, tokens: Int) async throws {
        var request = HTTPClientRequest(url: agent)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"model": "gpt-5-mini", "provider": "openai", "output_tokens": \#(tokens), "attributes": {"team": "\#(team)"}}"#))
        let response = try await client.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok else { throw ValidationError("the agent answered \(response.status.code)") }
    }
}
