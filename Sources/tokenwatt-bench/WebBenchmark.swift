import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TokenWattAPI
import TokenWattCore

/// The web overview at fleet size. First it pushes the last `minutes` of a simulated fleet
/// (every node an agent with two GPUs, one of four models, a queue and a KV cache; some nodes
/// busy past their capacity, some idle) to the aggregator, and to `peer` when given; then it
/// loads each page `rounds` times over one connection and prints the time to the last byte
/// (the pages load nothing else: no script, style sheet, image or font). Beside it, the same
/// fleet's figures from the peer: the instant queries a fleet table asks Prometheus.
struct WebBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "web", abstract: "Web overview page loads at fleet size, beside a peer's queries of the same figures.")

    @Option(help: "The aggregator's base URL.") var url = "http://127.0.0.1:9470"
    @Option(help: "Simulated nodes.") var nodes = 1_000
    @Option(help: "Minutes of history pushed before the pages are loaded (Prometheus takes at most an hour behind its newest sample).") var minutes = 45
    @Option(help: "Seconds between a node's samples.") var step = 15
    @Option(help: "Bearer token of each node; \"{node}\" becomes its number.") var token: String?
    @Option(help: "Loads of each page.") var rounds = 20
    @Option(help: "A peer's base URL (Prometheus with --web.enable-remote-write-receiver): the same fleet is pushed there and queried.")
    var peer: String?
    @Flag(help: "Only push the fleet, load nothing (for screenshots, or to change the database before loading).") var fillOnly = false
    @Flag(help: "Only load the pages of a fleet pushed before.") var loadOnly = false
    @Flag(help: "Nodes without power sensors or GPUs (VMs): the fleet page shows the ledger's estimate of their power.") var withoutSensors = false

    static let models = ["meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3", "deepseek-ai/DeepSeek-V3"]
    static let pages = ["/", "/costs", "/budgets", "/advice", "/gateway"]
    /// What a fleet table asks Prometheus: one instant query per column.
    static let peerQueries = ["max by (node) (timestamp(tokenwatt_cpu_seconds_total))", "sum by (node) (tokenwatt_gpu_power_watts)", "avg by (node) (tokenwatt_gpu_utilization_ratio)",
                              "max by (node) (tokenwatt_gpu_temperature_celsius)", MetricDescriptor.cpuUtilizationRatio.seriesName,
                              "sum by (node) (rate(tokenwatt_tokens_total{type=~\"input|output\"}[5m]))"]

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: .init(idleTimeout: .seconds(60))))
        do {
            if !loadOnly { try await fill(client) }
            if !fillOnly { try await load(client) }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Tokens per second of node `node` at minute `minute` of the history (0 the oldest).
    static func rate(node: Int, minute: Double, minutes: Int) -> Double {
        if node % 10 == 9 { return 0.05 }  // idle: a health check now and then
        let base = 600.0 + Double(node % 7) * 150
        switch node % 4 {
        case 0: return base * 1.5 + 1_800 * minute / Double(minutes)  // rising past the capacity
        case 1: return base * (Int(minute) / 10 % 2 == 0 ? 0.6 : 1.4)  // in turns
        default: return base * (1 + 0.3 * sin(minute / 7))
        }
    }

    static let capacity = 2_600.0

    private func fill(_ client: HTTPClient) async throws {
        let now = TimeBounds.nowMilliseconds() / 1000 * 1000
        let start = now - Int64(minutes) * 60_000
        let clock = ContinuousClock()
        let began = clock.now
        var samples = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            for node in 0..<nodes {
                group.addTask {
                    let series = try WebBenchmark.history(node: node, from: start, to: now, step: Int64(step) * 1000, minutes: minutes,
                                                              sensors: !withoutSensors)
                    for batch in stride(from: 0, to: series.first?.samples.count ?? 0, by: 40) {
                        // Up to 40 samples of each series per push, in time order.
                        let body = RemoteWriteCodec.encode(series.map { TimeSeries(labels: $0.labels, samples: Array($0.samples[batch..<min(batch + 40, $0.samples.count)])) })
                        _ = try await pushUntilAccepted(body, to: url + "/api/v1/write", token: token?.replacingOccurrences(of: "{node}", with: "\(node)"),
                                                        client: client, sender: "node \(node)")
                        if let peer { _ = try await pushUntilAccepted(body, to: peer + "/api/v1/write", token: nil, client: client, sender: "node \(node) to the peer") }
                    }
                    return series.reduce(0) { $0 + $1.samples.count }
                }
                if node >= 16 { samples += try await group.next() ?? 0 }
            }
            for try await count in group { samples += count }
        }
        print(String(format: "filled: %d nodes, %d samples over %d minutes in %.1f s", nodes, samples, minutes, began.duration(to: clock.now).seconds))
    }

    /// One node's series over `[from, to]`: GPUs (with `sensors`), CPU, tokens, queue, KV cache.
    static func history(node: Int, from: Int64, to: Int64, step: Int64, minutes: Int, sensors: Bool = true) throws -> [TimeSeries] {
        let model = models[node % models.count]
        let server = ["model": model, "source": "vllm", "server": "127.0.0.1:8000"]
        let gpus = ["0", "1"]
        var values: [[String: String]: [(Int64, Double)]] = [:]
        var energy = 0.0, tokens = 0.0, busy = 0.0, idle = 0.0
        var time = from
        while time <= to {
            let minute = Double(time - from) / 60_000
            let rate = WebBenchmark.rate(node: node, minute: minute, minutes: minutes)
            let served = min(rate, capacity)
            let utilisation = min(1, 0.05 + served / capacity)
            let watts = 140 + 0.35 * served  // per GPU: idle plus 0.7 J per token over two GPUs
            energy += watts * Double(step) / 1000
            tokens += served * Double(step) / 1000
            busy += 2 * utilisation * Double(step) / 1000
            idle += 2 * (1 - utilisation) * Double(step) / 1000
            func add(_ name: String, _ labels: [String: String], _ value: Double) {
                values[labels.merging(["__name__": name, "node": "node-\(node)"]) { $1 }, default: []].append((time, value))
            }
            for gpu in gpus where sensors {
                let labels = ["gpu": gpu, "uuid": "GPU-\(node)-\(gpu)"]
                add(MetricDescriptor.gpuInfo.seriesName, labels.merging(["name": "NVIDIA H200", "vendor": "nvidia"]) { $1 }, 1)
                add(MetricDescriptor.gpuPowerWatts.seriesName, labels, watts)
                add(MetricDescriptor.gpuEnergyJoules.seriesName, labels.merging(["method": "counter"]) { $1 }, energy)
                add(MetricDescriptor.gpuUtilizationRatio.seriesName, labels, utilisation)
                add(MetricDescriptor.gpuTemperatureCelsius.seriesName, labels, (38 + 40 * utilisation).rounded())
            }
            add(MetricDescriptor.cpuSeconds.seriesName, ["mode": "user"], busy)
            add(MetricDescriptor.cpuSeconds.seriesName, ["mode": "idle"], idle)
            add(MetricDescriptor.cpuUtilizationRatio.seriesName, [:], utilisation / 2)
            add(MetricDescriptor.tokens.seriesName, server.merging(["type": "input", "team": ["research", "platform", "support"][node % 3]]) { $1 }, tokens * 0.7)
            add(MetricDescriptor.tokens.seriesName, server.merging(["type": "output", "team": ["research", "platform", "support"][node % 3]]) { $1 }, tokens * 0.3)
            add(MetricDescriptor.inferenceRequestsWaiting.seriesName, server, rate > capacity ? ((rate - capacity) / 40).rounded() : 0)
            add(MetricDescriptor.inferenceKVCacheUsageRatio.seriesName, server, min(0.99, 0.2 + 0.75 * served / capacity))
            if node % 5 == 0 {
                // A metering gateway in front of the server: its callers' share of the tokens, and its requests.
                let caller = ["model": model, "source": "gateway_local", "provider": "local", "team": "support", "agent": "triage-\(node % 3)"]
                add(MetricDescriptor.tokens.seriesName, caller.merging(["type": "input"]) { $1 }, tokens * 0.7 * 0.4)
                add(MetricDescriptor.tokens.seriesName, caller.merging(["type": "output"]) { $1 }, tokens * 0.3 * 0.4)
                let requests = tokens / 900
                add(MetricDescriptor.gatewayRequests.seriesName, ["route": "meta-llama/.*|Qwen/.*", "outcome": "forwarded"], requests.rounded())
                add(MetricDescriptor.gatewayRequests.seriesName, ["route": "meta-llama/.*|Qwen/.*", "outcome": "budget_exceeded"], (requests / 60).rounded())
                add(MetricDescriptor.gatewayRequests.seriesName, ["route": "meta-llama/.*|Qwen/.*", "outcome": "rate_limited"], (requests / 150).rounded())
            }
            time += step
        }
        return try values.map { TimeSeries(labels: try LabelSet(dictionary: $0.key), samples: $0.value.map { Sample(timestamp: $0.0, value: $0.1) }) }
    }

    private func load(_ client: HTTPClient) async throws {
        // The advisor and the ledger run every cost interval: wait for a round that has the fleet.
        let advised = ContinuousClock().now
        while advised.duration(to: ContinuousClock().now) < .seconds(120) {
            let body = try await get(url + "/api/v1/advice", client).body
            let advice = try APIJSON.decoder().decode(APISuccess<AdviceResponse>.self, from: Data(buffer: body)).data
            let placements = advice.recommendations.reduce(0) { $0 + $1.nodes.count }
            if placements >= nodes { break }
            try await Task.sleep(for: .seconds(1))
        }
        for page in WebBenchmark.pages {
            var seconds: [Double] = []
            var bytes = 0
            for _ in 0..<rounds {
                let (elapsed, body) = try await get(url + page, client)
                seconds.append(elapsed)
                bytes = body.readableBytes
            }
            let latencies = Latencies(seconds: seconds)
            print("tokenwatt " + page.padding(toLength: 9, withPad: " ", startingAt: 0)
                  + String(format: " %8d bytes  median %7.1f ms  p99 %7.1f ms", bytes, latencies.milliseconds(at: 0.5), latencies.milliseconds(at: 0.99)))
        }
        guard let peer else { return }
        var seconds: [Double] = []
        for _ in 0..<rounds {
            var total = 0.0
            for query in WebBenchmark.peerQueries {
                let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
                total += try await get(peer + "/api/v1/query?query=" + encoded, client).seconds
            }
            seconds.append(total)
        }
        let latencies = Latencies(seconds: seconds)
        print(String(format: "peer: %d instant queries of the fleet table  median %7.1f ms  p99 %7.1f ms", WebBenchmark.peerQueries.count,
                     latencies.milliseconds(at: 0.5), latencies.milliseconds(at: 0.99)))
    }

    private func get(_ url: String, _ client: HTTPClient) async throws -> (seconds: Double, body: ByteBuffer) {
        let clock = ContinuousClock()
        let sent = clock.now
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 256 << 20)
        guard response.status == .ok else { throw ValidationError("\(url): \(response.status)") }
        return (sent.duration(to: clock.now).seconds, body)
    }
}
