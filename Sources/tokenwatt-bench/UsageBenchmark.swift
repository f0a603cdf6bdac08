import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// Applications reporting usage to an agent's `POST /v1/usage` over loopback, as fast as it
/// answers: events/s and request latency, one report per request or arrays of them.
struct UsageBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Usage intake: events/s and request latency.")

    @Option(help: "The agent's usage endpoint.") var url = "http://127.0.0.1:9471/v1/usage"
    @Option(help: "Clients sending concurrently.") var clients = 8
    @Option(help: "Requests in all.") var requests = 20_000
    @Option(help: "Reports per request (1 sends single objects).") var batch = 1
    @Option(help: "Bearer token, if the agent wants one.") var token: String?

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: clients)))
        let clock = ContinuousClock()
        let began = clock.now
        let latencies: [Double]
        do {
            latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                for index in 0..<clients {
                    group.addTask { try await send(requests / clients, from: index, client: client) }
                }
                return try await group.reduce(into: [Double]()) { $0 += $1 }
            }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        let seconds = began.duration(to: clock.now).seconds
        let summary = Latencies(seconds: latencies)
        let events = summary.count * batch
        print("usage intake: \(clients) clients, \(summary.count) requests of \(batch) report(s) = \(events) events")
        print(String(format: "throughput: %.0f events/s (%.0f requests/s) over %.1f s", Double(events) / seconds, Double(summary.count) / seconds, seconds))
        print(String(format: "latency: p50 %.2f ms, p99 %.2f ms", summary.milliseconds(at: 0.5), summary.milliseconds(at: 0.99)))
    }

    /// One client's requests; each report names one of a few models and teams, in the Chat
    /// Completions shape an application forwards.
    private func send(_ count: Int, from clientIndex: Int, client: HTTPClient) async throws -> [Double] {
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for request in 0..<count {
            let reports = (0..<batch).map { item in
                let n = request * batch + item
                return #"{"model": "model-\#(n % 5)", "provider": "openai", "attributes": {"team": "team-\#((n + clientIndex) % 10)"}, "#
                    + #""usage": {"prompt_tokens": \#(100 + n % 900), "completion_tokens": \#(10 + n % 90), "prompt_tokens_details": {"cached_tokens": \#(n % 100)}}}"#
            }
            let body = batch == 1 ? reports[0] : "[" + reports.joined(separator: ",") + "]"
            var httpRequest = HTTPClientRequest(url: url)
            httpRequest.method = .POST
            httpRequest.headers.add(name: "Content-Type", value: "application/json")
            if let token { httpRequest.headers.add(name: "Authorization", value: "Bearer \(token)") }
            httpRequest.body = .bytes(ByteBuffer(string: body))
            let sent = clock.now
            let response = try await client.execute(httpRequest, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            latencies.append(sent.duration(to: clock.now).seconds)
            guard response.status == .ok else {
                throw ValidationError("the agent answered \(response.status.code): \(String(buffer: answer))")
            }
        }
        return latencies
    }
}
