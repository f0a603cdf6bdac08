import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TokenWattAPI
import TokenWattCore
import TokenWattService

/// A fleet in real time: `nodes` simulated agents, each pushing one sample of each of its
/// `series` every `interval`, their pushes spread evenly over the interval, for `duration`.
///
/// A warm-up first pushes every series once, as fast as the receiver takes it, so that the
/// timed part sees a fleet that has been running (its series known), as after an aggregator
/// restart; the warm-up's time is printed as the series creation rate. Then it prints push
/// latency, pushes that started late because the client fell behind, refusals, and whether
/// what was acknowledged reads back: each sample's value is its round, so a series queried at a
/// step finer than the interval shows one distinct value per stored sample.
///
/// With `flood`, an attacker on the fleet's own address (`Flood`) holds that many idle and
/// slow sockets against the receiver from before the warm-up to the end: a push that gets no
/// answer is sent again, as an agent's spool would, and counted; the share of pushes accepted
/// at their first try is printed.
struct FleetBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fleet",
                                                    abstract: "Simulated fleet pushing in real time: push latency, and nothing lost.")

    @Option(help: "Receiver URL.") var url = "http://127.0.0.1:9470/api/v1/write"
    @Option(help: "Simulated nodes.") var nodes = 10_000
    @Option(help: "Series per node.") var series = 100
    @Option(help: "Seconds between a node's pushes.") var interval = 10
    @Option(help: "Seconds to run.") var duration = 60
    @Option(help: "Connections the client keeps open to the receiver.") var connections = 256
    @Option(help: "Bearer token, if the receiver wants one; \"{node}\" in it becomes the node's number, so that each node pushes with a token of its own.")
    var token: String?
    @Option(help: "Series read back through /api/v1/query_range afterwards.") var checkSeries = 200
    @Option(help: "Idle and slow sockets held against the receiver from this address while the fleet pushes (half send nothing, half drip a request head).")
    var flood = 0
    @Option(help: "Seconds after the receiver closes a flood socket before it is opened again.") var floodReopen = 1.0
    @Option(help: "CA file to check an https:// receiver's certificate against.") var caFile: String?

    private func token(of node: Int) -> String? {
        token?.replacingOccurrences(of: "{node}", with: "\(node)")
    }

    /// What one node saw.
    struct NodeOutcome: Sendable {
        var latencies: [Double] = []
        var lateStarts = 0
        var refusals = 0
        var unanswered = 0
        var firstTry = 0
        var acknowledgedRounds = 0
        var firstMs = Int64.max
        var lastMs = Int64.min
    }

    func run() async throws {
        var configuration = HTTPClient.Configuration(connectionPool: .init(idleTimeout: .seconds(60),
                                                                           concurrentHTTP1ConnectionsPerHostSoftLimit: connections))
        // A request may wait its turn for a connection as long as it may wait for its answer.
        configuration.timeout = .init(connect: .seconds(60))
        if let caFile { configuration.tlsConfiguration = try TLSClientConfiguration(caFile: caFile).tlsConfiguration() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let attack = try startFlood()
        let clock = ContinuousClock()
        let warmUp = clock.now
        let warmUpUnanswered: Int, outcomes: [NodeOutcome]
        // The flood's thread and the client are ended on every way out.
        do {
            warmUpUnanswered = try await withThrowingTaskGroup(of: Int.self) { group in
                for node in 0..<nodes {
                    group.addTask {
                        let body = RemoteWriteCodec.encode(try labels(of: node).map { TimeSeries(labels: $0, samples: [Sample(timestamp: TimeBounds.nowMilliseconds() - 60_000, value: -1)]) })
                        var unanswered = 0
                        _ = try await pushUntilAccepted(body, to: url, token: token(of: node), client: client, sender: "node \(node)",
                                                        retryingFailures: attack == nil ? 0 : 50, failures: &unanswered)
                        return unanswered
                    }
                }
                return try await group.reduce(0, +)
            }
            let creation = warmUp.duration(to: clock.now).seconds
            print(String(format: "warm-up: %d series created in %.1f s (%.0f series/s)", nodes * series, creation, Double(nodes * series) / creation))
            let began = clock.now + .seconds(2)
            outcomes = try await withThrowingTaskGroup(of: (Int, NodeOutcome).self) { group in
                for node in 0..<nodes {
                    group.addTask { (node, try await runNode(node, client: client, began: began)) }
                }
                var outcomes = [NodeOutcome](repeating: NodeOutcome(), count: nodes)
                for try await (node, outcome) in group { outcomes[node] = outcome }
                return outcomes
            }
        } catch {
            await attack?.stop()
            try await client.shutdown()
            throw error
        }
        await attack?.stop()
        let all = Latencies(seconds: outcomes.flatMap(\.latencies))
        let acknowledged = outcomes.reduce(0) { $0 + $1.acknowledgedRounds } * series
        print("load: \(nodes) nodes × \(series) series every \(interval) s for \(duration) s = \(nodes * series / interval) samples/s")
        print("pushes: \(all.count), samples acknowledged: \(acknowledged), refused answers: \(outcomes.reduce(0) { $0 + $1.refusals })")
        print(String(format: "push latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                     all.milliseconds(at: 0.5), all.milliseconds(at: 0.99), all.milliseconds(at: 1)))
        print("pushes that started over 100 ms late (the client fell behind): \(outcomes.reduce(0) { $0 + $1.lateStarts })")
        if let attack {
            let rounds = outcomes.reduce(0) { $0 + $1.acknowledgedRounds }, firstTry = outcomes.reduce(0) { $0 + $1.firstTry }
            print("flood: \(flood) sockets from this address, \(attack.closedByServer) closed by the receiver (each opened again after \(floodReopen) s), "
                  + "\(attack.notOpened) openings failed")
            print("warm-up pushes sent again after no answer: \(warmUpUnanswered)")
            print(String(format: "first-try pushes: %d of %d accepted (%.2f %%), %d sent again after no answer",
                         firstTry, rounds, 100 * Double(firstTry) / Double(max(1, rounds)), outcomes.reduce(0) { $0 + $1.unanswered }))
        }
        let (checked, missing) = try await readBack(outcomes, client: client)
        print("read back: \(checked) series, \(missing) acknowledged samples missing")
        try await client.shutdown()
    }

    /// The flood, started, when one is asked for.
    private func startFlood() throws -> Flood? {
        guard flood > 0 else { return nil }
        guard let components = URLComponents(string: url), let host = components.host else { throw ValidationError("\(url): not a URL") }
        let tls = components.scheme == "https"
        let attack = Flood(host: host, port: UInt16(components.port ?? (tls ? 443 : 80)), sockets: flood, tls: tls, reopenAfter: .seconds(floodReopen))
        attack.start()
        return attack
    }

    private func labels(of node: Int) throws -> [LabelSet] {
        try (0..<series).map { index in
            try LabelSet(dictionary: ["__name__": "bench_fleet_value", "agent": "node-\(node)", "series": "\(index)"])
        }
    }

    private func runNode(_ node: Int, client: HTTPClient, began: ContinuousClock.Instant) async throws -> NodeOutcome {
        let labels = try labels(of: node)
        let clock = ContinuousClock()
        let offset = Duration.seconds(interval) * (Double(node) / Double(nodes))
        var outcome = NodeOutcome()
        for round in 0..<(duration / interval) {
            let scheduled = began + offset + .seconds(interval * round)
            try await Task.sleep(until: scheduled, clock: clock)
            if scheduled.duration(to: clock.now) > .milliseconds(100) { outcome.lateStarts += 1 }
            let timestamp = TimeBounds.nowMilliseconds()
            let body = RemoteWriteCodec.encode(labels.map { TimeSeries(labels: $0, samples: [Sample(timestamp: timestamp, value: Double(round))]) })
            var unanswered = 0
            let attempts = try await pushUntilAccepted(body, to: url, token: token(of: node), client: client, sender: "node \(node)",
                                                       retryingFailures: flood > 0 ? 50 : 0, failures: &unanswered)
            outcome.latencies += attempts
            outcome.refusals += attempts.count - 1 - unanswered
            outcome.unanswered += unanswered
            if attempts.count == 1 { outcome.firstTry += 1 }
            outcome.acknowledgedRounds += 1
            outcome.firstMs = min(outcome.firstMs, timestamp)
            outcome.lastMs = max(outcome.lastMs, timestamp)
        }
        return outcome
    }

    /// Queries `checkSeries` series spread over the fleet at a 1 s step and counts the distinct
    /// values, one per stored round; returns how many series were read and how many
    /// acknowledged samples were not there.
    private func readBack(_ outcomes: [NodeOutcome], client: HTTPClient) async throws -> (series: Int, missing: Int) {
        guard let base = url.range(of: "/api/v1/write").map({ String(url[..<$0.lowerBound]) }) else { return (0, 0) }
        var missing = 0
        let count = min(checkSeries, nodes * series)
        for index in 0..<count {
            let node = index * nodes / count, seriesIndex = (index * 37) % series
            let outcome = outcomes[node]
            guard outcome.acknowledgedRounds > 0 else { continue }
            let query = "bench_fleet_value{agent=\"node-\(node)\",series=\"\(seriesIndex)\"}"
                .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let start = Double(outcome.firstMs) / 1000, end = Double(outcome.lastMs) / 1000 + 1
            var request = HTTPClientRequest(url: "\(base)/api/v1/query_range?query=\(query)&start=\(start)&end=\(end)&step=1")
            if let token = token(of: node) { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            // Prometheus answers in the same shape as the aggregator.
            let result = try APIJSON.decoder().decode(APISuccess<MatrixResponse>.self, from: Data(buffer: body)).data.result
            // -1 is the warm-up's sample, which the lookback carries into the first steps.
            let values = Set(result.flatMap(\.values).map(\.value)).subtracting(["-1"])
            missing += max(0, outcome.acknowledgedRounds - values.count)
        }
        return (count, missing)
    }
}
