import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattStore
#if canImport(Glibc)
import Glibc
#endif

/// The real `tokenwatt-agent` binary with a config of its own, pushing to `aggregatorPort`.
struct RunningAgent {
    let process: ChildProcess
    let url: String

    static func start(directory: String, port: Int, aggregatorPort: Int, token: String?,
                      environment: [String: String] = [:]) async throws -> RunningAgent {
        let config = """
            collectors: [cpu, memory]
            spool: {directory: \(directory)/spool}
            """
        try config.write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        var arguments = ["--config", "\(directory)/agent.yml", "--listen", "127.0.0.1:\(port)", "--interval", "1s",
                         "--aggregator", "http://127.0.0.1:\(aggregatorPort)/api/v1/write"]
        if let token {
            try token.write(toFile: "\(directory)/agent.token", atomically: true, encoding: .utf8)
            arguments += ["--token-file", "\(directory)/agent.token"]
        }
        let process = try ChildProcess(Environment.agentPath, arguments, logPath: "\(directory)/agent-\(UUID().uuidString).log",
                                       environment: environment)
        let url = "http://127.0.0.1:\(port)"
        _ = try await HTTP.waitFor("the agent to serve /-/healthy") { try await HTTP.get(url + "/-/healthy").status == 200 ? true : nil }
        return RunningAgent(process: process, url: url)
    }

    /// A value of the agent's own /metrics, by the series line's start.
    func metric(_ prefix: String) async throws -> Double? {
        try await HTTP.get(url + "/metrics").body.split(separator: "\n")
            .first { $0.hasPrefix(prefix + " ") }
            .flatMap { Double($0.split(separator: " ").last!) }
    }
}

@Suite(.serialized) struct AgentProcessTests {
    @Test func theSpoolCarriesSamplesThroughAnOutageAndASIGKILLExactlyOnce() async throws {
        let directory = try Environment.temporaryDirectory("spool")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let agentPort = Environment.freePort()
        let started = Date().timeIntervalSince1970 * 1000
        // Given an agent whose aggregator is down: its spool grows
        var agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-a")
        let spooled = try await HTTP.waitFor("the spool to grow") { try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 >= 12 ? $0 : nil } }
        // When the agent is killed without warning and started again
        agent.process.kill(signal: SIGKILL)
        agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-a")
        _ = try await HTTP.waitFor("the spool to hold what it held before the kill, and more") {
            try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 > spooled ? $0 : nil }
        }
        // And the aggregator comes back
        var aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["node-a": "token-a"])
        _ = try await HTTP.waitFor("the spool to drain", seconds: 60) { try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 == 0 ? true : nil } }
        agent.process.kill(signal: SIGTERM)
        aggregator.process.kill(signal: SIGTERM)

        // Then the aggregator's database holds the memory series once per collection, from the
        // agent's first round on, with no hole but the restart
        var configuration = StorageConfiguration()
        configuration.directory = directory + "/data"
        let store = try SampleStore(configuration: configuration, logger: Logger(label: "test"))
        defer { try? store.close() }
        let series = store.series(matching: [try SeriesSelector(parsing: "tokenwatt_memory_total_bytes")])
        #expect(series.map { $0.labels["node"] } == ["node-a"])
        let samples = try await store.rawSamples(seriesID: try #require(series.first).id, from: 0, to: .max)
        let timestamps = samples.map(\.timestamp)
        #expect(Set(timestamps).count == timestamps.count)
        #expect(Double(try #require(timestamps.first)) < started + 2_000, "the first round, spooled before the kill, arrived")
        let gaps = zip(timestamps, timestamps.dropFirst()).map { $1 - $0 }
        #expect(gaps.filter { $0 > 1_500 }.count <= 1, "one hole at most, the restart: \(gaps)")
        #expect(gaps.allSatisfy { $0 < 15_000 })
        #expect(samples.count >= 6)
        _ = aggregator
    }

    @Test func tellsSystemdItIsReadyWithAStatusAndFeedsTheWatchdog() async throws {
        let directory = try Environment.temporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A datagram socket in place of systemd's
        let socketPath = directory + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            _ = socketPath.utf8CString.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(buffer.count))) }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: Environment.freePort(),
                                                 token: nil, environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "2000000"])
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !(messages.contains { $0.contains("READY=1") } && messages.contains { $0.contains("WATCHDOG=1") }) {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
        agent.process.kill(signal: SIGTERM)
        let ready = try #require(messages.first { $0.contains("READY=1") })
        #expect(ready.contains("STATUS=0 GPUs, no push yet, spool"))
        #expect(messages.contains { $0.contains("WATCHDOG=1") && $0.contains("STATUS=") })
    }
}
