import Foundation
import Logging
import Synchronization
import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattSender
@testable import TokenWattConfiguration

/// A collector that answers with what it is told, after an optional delay.
struct ScriptedCollector: Collector {
    let name: String
    let result: Result<[ExpositionSample], CollectorError>
    var delay: Duration = .zero
    var timeout: Duration = .seconds(5)

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        try? await Task.sleep(for: delay)
        return try result.get()
    }
}

@Suite struct SchedulerTests {
    @Test func aFailingOrHangingCollectorNeverHoldsUpTheOthers() async throws {
        let scheduler = CollectorScheduler(collectors: [
            ScriptedCollector(name: "good", result: .success([ExpositionSample(name: "tokenwatt_memory_total_bytes", value: 42)])),
            ScriptedCollector(name: "broken", result: .failure(.failed("unreadable"))),
            ScriptedCollector(name: "slow", result: .success([ExpositionSample(name: "late", value: 1)]), delay: .seconds(60), timeout: .milliseconds(200)),
        ], interval: .seconds(10), logger: Logger(label: "test"))
        let clock = ContinuousClock()
        let started = clock.now
        let samples = await scheduler.collectOnce()
        // Far sooner than the slow one's minute, with room for a machine busy with other tests.
        #expect(started.duration(to: clock.now) < .seconds(20))
        #expect(value(samples, "tokenwatt_memory_total_bytes") == 42)
        #expect(value(samples, "late") == nil)
        #expect(value(samples, "tokenwatt_collector_up", ["collector": "good"]) == 1)
        #expect(value(samples, "tokenwatt_collector_up", ["collector": "broken"]) == 0)
        #expect(value(samples, "tokenwatt_collector_up", ["collector": "slow"]) == 0)
        #expect(try #require(value(samples, "tokenwatt_collector_duration_seconds", ["collector": "slow"])) >= 0.2)
        #expect(scheduler.failures() == ["broken": .failed("unreadable"), "slow": .failed("did not finish within 0.2 seconds")])
    }

    /// Collectors of one period run as one round, but a slow one (within its deadline) skips
    /// only its own ticks: the others' rounds keep coming, and it never runs twice at once.
    @Test func aSlowCollectorSkipsItsOwnTicksOnly() async throws {
        let fast = CountingCollector(name: "fast", delay: .zero)
        let slow = CountingCollector(name: "slow", delay: .seconds(2))
        let scheduler = CollectorScheduler(collectors: [fast, slow], interval: .milliseconds(100), logger: Logger(label: "test"))
        let running = Task { try await scheduler.run() }
        defer { running.cancel() }
        // Held up by the slow one, the fast one would run once per slow run; free, it runs every tick.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while fast.counts.withLock({ $0.runs }) < 8 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let (fastRuns, slowRuns) = (fast.counts.withLock { $0 }, slow.counts.withLock { $0 })
        #expect(fastRuns.runs >= 8 && fastRuns.runs >= slowRuns.runs + 3, "fast \(fastRuns), slow \(slowRuns)")
        #expect(slowRuns.runs >= 1 && slowRuns.mostAtOnce == 1, "\(slowRuns)")
    }
}

/// A collector that counts its runs and how many ran at once.
final class CountingCollector: Collector, Sendable {
    let name: String
    let delay: Duration
    let counts = Mutex((runs: 0, now: 0, mostAtOnce: 0))

    init(name: String, delay: Duration) {
        self.name = name
        self.delay = delay
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        counts.withLock { $0 = (runs: $0.runs + 1, now: $0.now + 1, mostAtOnce: max($0.mostAtOnce, $0.now + 1)) }
        try? await Task.sleep(for: delay)
        counts.withLock { $0.now -= 1 }
        return []
    }
}

/// A collector whose answers a test changes between runs.
final class ChangingCollector: Collector, Sendable {
    let name = "changing"
    let answer: Mutex<Result<[ExpositionSample], CollectorError>>

    init(_ answer: Result<[ExpositionSample], CollectorError>) {
        self.answer = Mutex(answer)
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        try answer.withLock { $0 }.get()
    }
}

@Suite struct StaleMarkerTests {
    @Test func seriesThatVanishOrWhoseCollectorFailsEndWithAStaleMarker() async throws {
        let gpu0 = ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "0")], value: 300)
        let gpu1 = ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "1")], value: 250)
        let collector = ChangingCollector(.success([gpu0, gpu1]))
        let pushed = Mutex<[[ExpositionSample]]>([])
        let scheduler = CollectorScheduler(collectors: [collector], interval: .seconds(10), logger: Logger(label: "test"), onCollect: { _, samples, _ in
            pushed.withLock { $0.append(samples.filter { $0.name == "tokenwatt_gpu_power_watts" }) }
        })
        _ = await scheduler.collectOnce()
        collector.answer.withLock { $0 = .success([gpu0]) }
        _ = await scheduler.collectOnce()
        collector.answer.withLock { $0 = .failure(.failed("NVML hung")) }
        _ = await scheduler.collectOnce()
        let runs = pushed.withLock { $0 }
        #expect(runs[0] == [gpu0, gpu1])
        #expect(runs[1].count == 2 && runs[1][0] == gpu0 && runs[1][1].labels == gpu1.labels && runs[1][1].value.bitPattern == Sample.staleMarkerBits)
        #expect(runs[2].count == 1 && runs[2][0].labels == gpu0.labels && runs[2][0].value.bitPattern == Sample.staleMarkerBits)
        // The pull exposition just leaves them out
        #expect(!scheduler.snapshot().contains { $0.name == "tokenwatt_gpu_power_watts" })
    }
}

@Suite struct AgentConfigurationTests {
    @Test func readsEverySettingFromYAML() throws {
        let configuration = try AgentConfiguration.parse(yaml: """
            listen: 0.0.0.0:19471
            aggregator: {url: "https://aggregator.example:9470/api/v1/write", token_env: AGENT_TOKEN}
            interval: 1s
            collectors: [cpu, nvidia]
            paths: {procfs: /host/proc, sysfs: /host/sys}
            nvidia: {library: /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1}
            bmc: {command: [ipmi-dcmi, --get-system-power-statistics], interval: 1m, timeout: 5s}
            inference:
              servers:
                - url: http://127.0.0.1:8000
                  attribution: {team: research}
                  models: [{match: "meta-llama/.*", attribution: {cost_center: cc-7}}]
                - {url: "http://10.0.0.5:3000/metrics", kind: tgi, model: bigscience/bloom, interval: 30s}
                - {url: "http://10.0.0.6:8000", kind: vllm, role: decode}
              discovery: false
              discovery_interval: 10m
              discovery_ports: [8000, 9000]
            usage: {token_env: USAGE_TOKEN, attributes: [team, cost_center], max_values_per_attribute: 20}
            attribution: {team: platform}
            """, file: "agent.yml", environment: ["AGENT_TOKEN": "s3cret", "USAGE_TOKEN": "u"])
        var expected = AgentConfiguration()
        expected.listen = ListenAddress(host: "0.0.0.0", port: 19471)
        expected.sender.aggregatorURL = "https://aggregator.example:9470/api/v1/write"
        expected.sender.token = "s3cret"
        expected.sender.intervalMs = 1_000
        expected.collectors = ["cpu", "nvidia"]
        expected.procfs = "/host/proc"
        expected.sysfs = "/host/sys"
        expected.nvmlLibrary = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
        expected.bmcCommand = ["ipmi-dcmi", "--get-system-power-statistics"]
        expected.bmcIntervalMs = 60_000
        expected.bmcTimeoutMs = 5_000
        var attributed = InferenceServer(url: "http://127.0.0.1:8000")
        attributed.attribution = Attribution(labels: ["team": "research"], models: [try Attribution.ModelRule(pattern: "meta-llama/.*", labels: ["cost_center": "cc-7"])])
        var decode = InferenceServer(url: "http://10.0.0.6:8000", kind: .vllm)
        decode.role = .decode
        expected.inferenceServers = [attributed,
                                     InferenceServer(url: "http://10.0.0.5:3000/metrics", kind: .tgi, model: "bigscience/bloom", intervalMs: 30_000), decode]
        expected.attribution = ["team": "platform"]
        expected.discovery = false
        expected.discoveryIntervalMs = 600_000
        expected.discoveryPorts = [8000, 9000]
        expected.usageToken = "u"
        expected.sender.usageAttributes = ["team", "cost_center"]
        expected.sender.usageMaxValuesPerAttribute = 20
        #expect(configuration == expected)
    }

    @Test(arguments: [
        ("collectors: [cpu, gpu]", "agent.yml: collectors[1]: one of cpu, memory, nvidia, drm, rapl, hwmon, bmc"),
        ("aggregator: {url: ftp://x}", "agent.yml: aggregator.url: an http:// or https:// URL, got \"ftp://x\""),
        ("interval: 0s", "agent.yml: interval: a duration such as 30s, 5m, 1h or 15d, got \"0s\""),
        ("scrape: {}", "agent.yml: scrape: no such key (known keys: aggregator, attribution, bmc, collectors, inference, interval, listen, nvidia, paths, spool, usage, web)"),
        ("attribution: {cost_center: x}", "agent.yml: attribution.cost_center: a label usage.attributes allows (team, project, agent), not cost_center"),
        ("inference: {servers: [{url: \"http://h\", models: [{match: \"(\", attribution: {team: a}}]}]}",
         "agent.yml: inference.servers[0].models[0].match: a valid regular expression: line 1: invalid regular expression for label model: missing ) at character 2"),
        ("inference: {servers: [{url: \"http://h\", attribution: {team: \"\"}}]}", "agent.yml: inference.servers[0].attribution.team: a value for team"),
        ("inference: {servers: [{url: \"127.0.0.1:8000\"}]}", "agent.yml: inference.servers[0].url: an http:// or https:// URL with a host, got \"127.0.0.1:8000\""),
        ("inference: {servers: [{url: \"http://h\", kind: ollama}]}",
         "agent.yml: inference.servers[0].kind: auto or one of vllm, sglang, tgi, llamacpp, lmdeploy, trtllm, triton, dynamo"),
        ("inference: {discovery_ports: [70000]}", "agent.yml: inference.discovery_ports[0]: a port from 1 to 65535"),
        ("usage: {attributes: [model]}",
         "agent.yml: usage.attributes[0]: a name other than instance, job, le, model, node, provider, quantile, role, server, source, type, usage (TokenWatt sets those)"),
        ("inference: {servers: [{url: \"http://h\", role: prefil}]}",
         "agent.yml: inference.servers[0].role: one of both, prefill, decode, got \"prefil\""),
        ("usage: {attributes: [\"team-name\"]}", "agent.yml: usage.attributes[0]: a label name such as team"),
    ])
    func invalidConfigNamesFileKeyAndExpectation(yaml: String, message: String) {
        #expect(throws: CoreError.self) { try AgentConfiguration.parse(yaml: yaml, file: "agent.yml") }
        do {
            _ = try AgentConfiguration.parse(yaml: yaml, file: "agent.yml")
        } catch {
            #expect("\(error)" == message)
        }
    }
}

/// Log lines as they are written, with their metadata.
final class RecordedLog: Sendable {
    let lines = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            log.lines.withLock { $0.append((level, message.description, self.metadata.merging(metadata ?? [:]) { $1 })) }
        }
    }
}

@Suite struct SchedulerLogTests {
    /// A collector that goes down is logged once with its reason and the fix the scheduler is
    /// given (the agent gives `CollectorRemedy`'s), and once when it is back.
    @Test func aCollectorDownIsLoggedOnceWithItsFix() async {
        let log = RecordedLog()
        let collector = ChangingCollector(.failure(.failed("permission denied")))
        let scheduler = CollectorScheduler(collectors: [collector], interval: .seconds(10), logger: log.logger, fix: CollectorRemedy.fix)
        _ = await scheduler.collectOnce()
        _ = await scheduler.collectOnce()
        let down = log.lines.withLock { $0 }.filter { $0.message == "collector failed" }
        #expect(down.count == 1)
        #expect(down.first?.metadata["reason"] == "failed: permission denied")
        #expect(down.first?.metadata["fix"] == "\(CollectorRemedy.fix(collector: "changing", error: .failed("permission denied")))")
        collector.answer.withLock { $0 = .success([]) }
        _ = await scheduler.collectOnce()
        #expect(log.lines.withLock { $0 }.count == 2, "\(log.lines.withLock { $0 }.map(\.message))")

        // Without a fix to give, the line has none.
        let bare = RecordedLog()
        _ = await CollectorScheduler(collectors: [ChangingCollector(.failure(.noData("nothing here")))], interval: .seconds(10), logger: bare.logger).collectOnce()
        #expect(bare.lines.withLock { $0 }.map(\.message) == ["collector has no data"])
        #expect(bare.lines.withLock { $0 }.first?.metadata["fix"] == nil)
    }
}
