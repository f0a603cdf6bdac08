import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import TokenWattCore

/// A stand-in OpenAI upstream that answers at once: the time a proxy adds is then all there
/// is to see. JSON answers carry their usage; streams send five text chunks, the usage chunk
/// when asked for, and `[DONE]`.
struct GatewayUpstreamBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway-upstream", abstract: "Serve a stand-in OpenAI upstream until stopped.")

    @Option(help: "Port to listen on (loopback).") var port = 19480

    func run() async throws {
        let router = Router()
        let answer = ByteBuffer(string: #"{"id":"c","object":"chat.completion","model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}"#)
        let chunk = ByteBuffer(string: "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n")
        let usage = ByteBuffer(string: "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"bench-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":5,\"total_tokens\":25}}\n\n")
        router.post("/v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
            guard object["stream"] as? Bool == true else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer))
            }
            let withUsage = (object["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                for _ in 0..<5 { try await writer.write(chunk) }
                if withUsage { try await writer.write(usage) }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
        }
        var quiet = Logger(label: "upstream")
        quiet.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), backlog: 4_096), logger: quiet)
        try await app.runService()
    }
}

/// The same requests straight to the upstream and through each proxy, at each concurrency:
/// latency percentiles, what each proxy adds to the direct ones, and the proxy process's CPU
/// seconds per request (from /proc). Paced, each proxy is measured beside direct requests sent
/// in turn with its own (a direct row before each proxy's); unpaced, one target at a time.
struct GatewayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway", abstract: "Added latency and CPU per request of proxies in front of one upstream.")

    @Option(name: .customLong("target"), help: "name=base-URL[=pid]; the first is the direct baseline. Repeat.") var targets: [String]
    @Option(help: "Concurrent clients, comma-separated.") var concurrency = "1,50,200"
    @Option(help: "Requests per target and concurrency (at least 1,000 at concurrency 1 is plenty).") var requests = 4_000
    @Option(help: "The caller's API key.") var key = "sk-bench"
    @Flag(help: "Streamed answers (stream: true) instead of JSON ones.") var stream = false
    @Option(help: "Requests per second to each target, each client paced, each proxy's requests in turn with direct ones (0: one target at a time, each client sending as soon as its last answer came).") var rate = 0.0

    struct Target {
        var name: String
        var url: String
        var pid: Int?
    }

    func run() async throws {
        let parsed = try targets.map { text -> Target in
            let parts = text.split(separator: "=", maxSplits: 2).map(String.init)
            guard parts.count >= 2 else { throw ValidationError("--target name=URL[=pid], got \(text)") }
            return Target(name: parts[0], url: parts[1], pid: parts.count > 2 ? Int(parts[2]) : nil)
        }
        let levels = concurrency.split(separator: ",").compactMap { Int($0) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: levels.max() ?? 1)))
        print("\(stream ? "streamed" : "JSON") answers, \(requests) requests per target and level (\(requests / 4) at concurrency 1), "
              + (rate > 0 ? "paced at \(Int(rate)) requests/s to each target, each proxy's in turn with direct ones" : "each client sending as soon as its last answer came"))
        print("target".padding(toLength: 18, withPad: " ", startingAt: 0) + "  conc    p50 ms    p99 ms   +p50 ms   +p99 ms     req/s  CPU ms/req  failed")
        for level in levels {
            let count = level == 1 ? requests / 4 : requests
            // Paced, each proxy's requests alternate with direct ones in the same run, so both
            // meet the same moments of a shared machine; as fast as answers come, one target
            // at a time (what each sustains).
            let groups = rate > 0 ? parsed.dropFirst().map { [parsed[0], $0] } : parsed.map { [$0] }
            var direct: (p50: Double, p99: Double)?
            for group in groups {
                // A warm-up, so connections and caches are set up before the measured run.
                _ = try await load(group, clients: level, count: min(count, 200), client: client)
                let cpuBefore = group.map { cpuSeconds($0.pid) }
                let clock = ContinuousClock()
                let began = clock.now
                let runs = try await load(group, clients: level, count: count, client: client)
                let seconds = (clock.now - began).seconds
                for (index, (target, run)) in zip(group, runs).enumerated() {
                    let latencies = Latencies(seconds: run.seconds)
                    let cpu = zip(cpuBefore[index], cpuSeconds(target.pid)).map { ($1 - $0) / Double(count) * 1000 }.first
                    let (p50, p99) = (latencies.milliseconds(at: 0.5), latencies.milliseconds(at: 0.99))
                    let isBaseline = target.name == parsed[0].name
                    let added = isBaseline ? nil : direct.map { (p50 - $0.p50, p99 - $0.p99) }
                    if isBaseline { direct = (p50, p99) }
                    func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
                    print(target.name.padding(toLength: 18, withPad: " ", startingAt: 0) + column("\(level)", 6)
                          + column(String(format: "%.2f", p50), 10) + column(String(format: "%.2f", p99), 10)
                          + column(added.map { String(format: "%.2f", $0.0) } ?? "-", 10) + column(added.map { String(format: "%.2f", $0.1) } ?? "-", 10)
                          + column(String(format: "%.0f", Double(run.seconds.count) / seconds), 10) + column(cpu.map { String(format: "%.3f", $0) } ?? "-", 12)
                          + column("\(run.failed)", 8))
                }
            }
        }
        try await client.shutdown()
    }

    /// `count` requests to each of `targets` from `clients` concurrent clients, the targets
    /// taking turns slot by slot: for each target, the seconds of each answered 200, and how
    /// many failed (another status, a reset connection, a timeout: an overloaded proxy's).
    private func load(_ targets: [Target], clients: Int, count: Int, client: HTTPClient) async throws -> [(seconds: [Double], failed: Int)] {
        var body: [String: Any] = ["model": "bench-model", "max_tokens": 16, "messages": [["role": "user", "content": "Say hello."]]]
        if stream { body["stream"] = true }
        let bytes = try JSONSerialization.data(withJSONObject: body)
        let urls = targets.map { $0.url + "/v1/chat/completions" }
        let key = key
        // Paced: slot n (client n mod clients, target n mod targets) is sent at n / (rate × targets)
        // seconds from the start, so each target gets `rate` requests a second.
        let interval: Duration? = rate > 0 ? .nanoseconds(Int64(1e9 / (rate * Double(targets.count)))) : nil
        let start = ContinuousClock.now
        // `clients` clients per target; client c sends slots c, c + tasks, ..., all to target c mod targets.
        let tasks = clients * targets.count
        return try await withThrowingTaskGroup(of: (target: Int, seconds: [Double], failed: Int).self) { group in
            for index in 0..<tasks {
                group.addTask {
                    var seconds: [Double] = []
                    var failed = 0
                    for slot in stride(from: index, to: count * targets.count, by: tasks) {
                        if let interval { try await Task.sleep(until: start + interval * slot, clock: .continuous) }
                        var request = HTTPClientRequest(url: urls[index % urls.count])
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.headers.add(name: "Authorization", value: "Bearer \(key)")
                        request.body = .bytes(ByteBuffer(bytes: bytes))
                        let start = ContinuousClock.now
                        do {
                            let response = try await client.execute(request, timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            guard response.status == .ok else {
                                failed += 1
                                continue
                            }
                            seconds.append((ContinuousClock.now - start).seconds)
                        } catch {
                            failed += 1
                        }
                    }
                    return (index % urls.count, seconds, failed)
                }
            }
            return try await group.reduce(into: Array(repeating: (seconds: [Double](), failed: 0), count: targets.count)) {
                $0[$1.target].seconds += $1.seconds
                $0[$1.target].failed += $1.failed
            }
        }
    }

    /// User and system CPU seconds of a process and its threads, from /proc/PID/stat.
    private func cpuSeconds(_ pid: Int?) -> [Double] {
        guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return [] }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return [] }
        return [(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))]
    }
}
