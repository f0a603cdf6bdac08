import ArgumentParser
import Foundation
import Synchronization
import SwiftProtobuf
import TokenWattCore

/// Simulated agents pushing real remote write 1.0 over loopback, as fast as the receiver takes it
/// (or the same samples as remote write 2.0, or as OTLP/HTTP exports: `--protocol`).
///
/// Time is simulated: each agent sends `ticks` rounds of samples `interval` apart, starting
/// `ticks × interval` in the past, so a short run covers hours of sample time (enough for
/// Prometheus to compact its head into blocks). Works against any remote-write receiver.
/// Every request body is encoded before the clock starts, and each agent pushes from a thread of
/// its own over a plain blocking connection (`PlainHTTPConnection`): on a 2-core machine the
/// load generator's CPU is taken from the receiver it measures.
struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Remote-write ingest: samples/s, push latency, bytes per sample.")

    /// How the samples are sent: the same series and values each way.
    enum WireProtocol: String, ExpressibleByArgument, CaseIterable {
        case remoteWrite = "remote-write", remoteWrite2 = "remote-write-2", otlp
    }

    @Option(help: "Receiver URL (an OTLP receiver's ends in /v1/metrics).") var url = "http://127.0.0.1:9470/api/v1/write"
    @Option(help: "remote-write (1.0), remote-write-2, or otlp (protobuf, gzip, as the Collector sends it).") var `protocol` = WireProtocol.remoteWrite
    @Option(help: "Simulated agents pushing concurrently.") var agents = 20
    @Option(help: "Series per agent.") var series = 100
    @Option(help: "Simulated seconds between an agent's samples.") var interval = 10
    @Option(help: "Rounds each agent sends (1080 rounds of 10 s is 3 hours).") var ticks = 1080
    @Option(help: "Rounds per request (samples per request = series × this).") var roundsPerRequest = 6
    @Option(help: "walk (every series a slow random walk in steps of 0.5) or fleet (a node's mix: utilisation, power in mW and from RAPL, token and energy counters, memory, constants).")
    var values = SimulatedValues.walk
    @Option(help: "Bearer token, if the receiver wants one; \"{agent}\" in it becomes the agent's number, so that each agent pushes as a node of its own.")
    var token: String?
    @Option(help: "Data folder of the receiver, to report bytes per sample.") var dataDir: String?
    @Option(help: "Requests an agent may be ahead of the slowest (Prometheus refuses samples over an hour behind its newest).")
    var maxLead = 20

    func run() async throws {
        let start = (Int64(Date().timeIntervalSince1970) - Int64(ticks * interval)) * 1000
        let bodies = try (0..<agents).map { try requests(ofAgent: $0, start: start) }
        let progress = Lockstep(agents: agents, maxLead: maxLead)
        let outcomes = AgentOutcomes()
        let clock = ContinuousClock()
        let began = clock.now
        let threads = (0..<agents).map { agent in
            Thread {
                do {
                    let connection = try PlainHTTPConnection(url: url)
                    let token = token?.replacingOccurrences(of: "{agent}", with: "\(agent)")
                    let headers = `protocol` == .otlp
                        ? [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")] + (token.map { [("Authorization", "Bearer \($0)")] } ?? [])
                        : RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-bench", token: token, v2: `protocol` == .remoteWrite2)
                    let latencies = try bodies[agent].enumerated().flatMap { request, body in
                        progress.wait(agent: agent, request: request)
                        return try pushUntilAccepted(body, headers: headers, over: connection, sender: "agent \(agent)")
                    }
                    outcomes.state.withLock { $0.latencies += latencies }
                } catch {
                    outcomes.state.withLock { $0.failure = $0.failure ?? "\(error)" }
                }
                progress.finish(agent: agent)
            }
        }
        threads.forEach { $0.start() }
        await progress.allFinished()
        let (latencies, failure) = outcomes.state.withLock { $0 }
        if let failure { throw ValidationError(failure) }
        let elapsed = began.duration(to: clock.now)
        let seconds = elapsed.seconds
        let samples = agents * series * ticks
        let summary = Latencies(seconds: latencies)
        print("receiver: \(url) (\(`protocol`.rawValue))")
        print("load: \(agents) agents × \(series) series × \(ticks) rounds \(interval) s apart = \(samples) samples in \(latencies.count) requests, values: \(values.rawValue)")
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
        var current = (0..<series).map { Double($0) }
        var generator = SystemRandomNumberGenerator()
        var bodies: [[UInt8]] = []
        for firstRound in stride(from: 0, to: ticks, by: roundsPerRequest) {
            let rounds = firstRound..<min(ticks, firstRound + roundsPerRequest)
            var batch: [TimeSeries] = []
            for (index, labelSet) in labels.enumerated() {
                let samples = rounds.map { round -> Sample in
                    current[index] = values.next(after: current[index], index: index, using: &generator)
                    return Sample(timestamp: start + Int64(round * interval) * 1000, value: current[index])
                }
                batch.append(TimeSeries(labels: labelSet, samples: samples))
            }
            switch `protocol` {
            case .remoteWrite: bodies.append(RemoteWriteCodec.encode(batch))
            case .remoteWrite2: bodies.append(Snappy.compress(RemoteWriteCodec.serializeV2(batch)))
            case .otlp: bodies.append(Deflate.compress(try IngestBenchmark.otlpExport(batch, agent: agent).serializedBytes()))
            }
        }
        return bodies
    }

    /// The batch as one OTLP export: the agent's resource (`service.name`, which the receiver
    /// makes `job`), one gauge whose points carry the series' other labels as attributes.
    static func otlpExport(_ batch: [TimeSeries], agent: Int) -> OTLP_ExportMetricsServiceRequest {
        var gauge = OTLP_Metric()
        gauge.name = "bench_value"
        gauge.gauge.dataPoints = batch.flatMap { series in
            let attributes = series.labels.withoutMetricName.filter { $0.name != "agent" }.map { label in
                var pair = OTLP_KeyValue()
                pair.key = label.name
                pair.value.stringValue = label.value
                return pair
            }
            return series.samples.map { sample in
                var point = OTLP_NumberDataPoint()
                point.attributes = attributes
                point.timeUnixNano = UInt64(sample.timestamp) * 1_000_000
                point.asDouble = sample.value
                return point
            }
        }
        var resource = OTLP_ResourceMetrics()
        var name = OTLP_KeyValue()
        name.key = "service.name"
        name.value.stringValue = "agent-\(agent)"
        resource.resource.attributes = [name]
        var scope = OTLP_ScopeMetrics()
        scope.metrics = [gauge]
        resource.scopeMetrics = [scope]
        var request = OTLP_ExportMetricsServiceRequest()
        request.resourceMetrics = [resource]
        return request
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

/// What the agents' threads found.
final class AgentOutcomes: Sendable {
    let state = Mutex<(latencies: [Double], failure: String?)>(([], nil))
}

/// Keeps simulated agents within `maxLead` requests of the slowest, so sample time advances
/// together (a receiver may refuse samples far behind its newest).
final class Lockstep: Sendable {
    private let state: Mutex<(sent: [Int], finished: Int)>
    private let maxLead: Int

    init(agents: Int, maxLead: Int) {
        state = Mutex((Array(repeating: 0, count: agents), 0))
        self.maxLead = maxLead
    }

    /// Blocks the agent's thread until `request` is within the lead.
    func wait(agent: Int, request: Int) {
        while state.withLock({ request - ($0.sent.min() ?? 0) > maxLead }) { usleep(200) }
        state.withLock { $0.sent[agent] = request }
    }

    func finish(agent: Int) {
        state.withLock {
            $0.sent[agent] = .max
            $0.finished += 1
        }
    }

    func allFinished() async {
        while state.withLock({ $0.finished < $0.sent.count }) { try? await Task.sleep(for: .milliseconds(1)) }
    }
}
