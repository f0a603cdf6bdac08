import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TokenWattCore

/// Simulated agents pushing real remote write 1.0 over loopback, as fast as the receiver takes it.
///
/// Time is simulated: each agent sends `ticks` rounds of samples `interval` apart, starting
/// `ticks × interval` in the past, so a short run covers hours of sample time (enough for
/// Prometheus to compact its head into blocks). Works against any remote-write receiver.
/// Every request body is encoded before the clock starts: on a 2-core machine the load
/// generator's own protobuf and snappy work would otherwise take as much CPU as the receiver.
struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Remote-write ingest: samples/s, push latency, bytes per sample.")

    @Option(help: "Receiver URL.") var url = "http://127.0.0.1:9470/api/v1/write"
    @Option(help: "Simulated agents pushing concurrently.") var agents = 20
    @Option(help: "Series per agent.") var series = 100
    @Option(help: "Simulated seconds between an agent's samples.") var interval = 10
    @Option(help: "Rounds each agent sends (1080 rounds of 10 s is 3 hours).") var ticks = 1080
    @Option(help: "Rounds per request (samples per request = series × this).") var roundsPerRequest = 6
    @Option(help: "Bearer token, if the receiver wants one.") var token: String?
    @Option(help: "Data folder of the receiver, to report bytes per sample.") var dataDir: String?

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: agents)))
        let start = (Int64(Date().timeIntervalSince1970) - Int64(ticks * interval)) * 1000
        let bodies = try (0..<agents).map { try requests(ofAgent: $0, start: start) }
        let clock = ContinuousClock()
        let began = clock.now
        let latencies: [Double]
        do {
            latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                for agent in 0..<agents {
                    group.addTask {
                        var latencies: [Double] = []
                        for body in bodies[agent] {
                            latencies += try await pushUntilAccepted(body, to: url, token: token, client: client, sender: "agent \(agent)")
                        }
                        return latencies
                    }
                }
                return try await group.reduce(into: [Double]()) { $0 += $1 }
            }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        let elapsed = began.duration(to: clock.now)
        let seconds = elapsed.seconds
        let samples = agents * series * ticks
        let summary = Latencies(seconds: latencies)
        print("receiver: \(url)")
        print("load: \(agents) agents × \(series) series × \(ticks) rounds \(interval) s apart = \(samples) samples in \(latencies.count) requests")
        print(String(format: "durable ingest: %.0f samples/s over %.1f s", Double(samples) / seconds, seconds))
        print(String(format: "push latency: p50 %.2f ms, p99 %.2f ms", summary.milliseconds(at: 0.5), summary.milliseconds(at: 0.99)))
        if let dataDir {
            let bytes = IngestBenchmark.directorySize(dataDir)
            print(String(format: "disk: %lld bytes in %@, %.2f bytes per sample", bytes, dataDir, Double(bytes) / Double(samples)))
        }
    }

    /// One agent's request bodies, in the order it sends them.
    private func requests(ofAgent agent: Int, start: Int64) throws -> [[UInt8]] {
        let labels = try (0..<series).map { index in
            try LabelSet(dictionary: ["__name__": "bench_value", "agent": "agent-\(agent)", "series": "\(index)"])
        }
        var values = (0..<series).map { Double($0) }
        var generator = SystemRandomNumberGenerator()
        var bodies: [[UInt8]] = []
        for firstRound in stride(from: 0, to: ticks, by: roundsPerRequest) {
            let rounds = firstRound..<min(ticks, firstRound + roundsPerRequest)
            var batch: [TimeSeries] = []
            for (index, labelSet) in labels.enumerated() {
                let samples = rounds.map { round -> Sample in
                    // A slow random walk, like a utilisation or power gauge.
                    values[index] += Double(Int.random(in: -2...2, using: &generator)) * 0.5
                    return Sample(timestamp: start + Int64(round * interval) * 1000, value: values[index])
                }
                batch.append(TimeSeries(labels: labelSet, samples: samples))
            }
            bodies.append(RemoteWriteCodec.encode(batch))
        }
        return bodies
    }

    static func directorySize(_ path: String) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        for case let file as String in enumerator {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + file)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }
}
