import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real `tokenwatt-agent` binary with a config of its own, pushing to `aggregatorPort`.
struct RunningAgent {
    let process: ChildProcess
    let url: String

    static func start(directory: String, port: Int, aggregatorPort: Int, token: String?, aggregatorURL: String? = nil,
                      environment: [String: String] = [:], arguments extra: [String] = [],
                      collectors: [String] = ["cpu", "memory"], config extraConfig: String = "") async throws -> RunningAgent {
        let config = """
            collectors: [\(collectors.joined(separator: ", "))]
            spool: {directory: \(directory)/spool}

            """ + extraConfig
        try config.write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        var arguments = ["--config", "\(directory)/agent.yml", "--listen", "127.0.0.1:\(port)", "--interval", "1s",
                         "--aggregator", aggregatorURL ?? "http://127.0.0.1:\(aggregatorPort)/api/v1/write", "--no-discovery"] + extra
        if let token {
            try token.write(toFile: "\(directory)/agent.token", atomically: true, encoding: .utf8)
            arguments += ["--token-file", "\(directory)/agent.token"]
        }
        let process = try ChildProcess(Environment.agentPath, arguments, logPath: "\(directory)/agent-\(UUID().uuidString).log",
                                       environment: environment)
        let url = "http://127.0.0.1:\(port)"
        try await process.waitUntilServing(url + "/-/healthy", what: "the agent to serve /-/healthy")
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
    @Test func theSpoolCarriesSamplesThroughAnOutageAndSIGKILLsExactlyOnce() async throws {
        let directory = try Environment.temporaryDirectory("spool")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let agentPort = Environment.freePort()
        let started = Date().timeIntervalSince1970 * 1000
        // Given an agent whose aggregator is down: its spool grows
        var agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-a")
        let spooled = try await HTTP.waitFor("the spool to grow") { try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 >= 4 ? $0 : nil } }
        // When the agent is killed without warning and started again
        await agent.process.kill(signal: SIGKILL)
        agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-a")
        _ = try await HTTP.waitFor("the spool to hold what it held before the kill, and more") {
            try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 > spooled ? $0 : nil }
        }
        // And the aggregator comes back
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["node-a": "token-a"])
        // Drained: what is left is at most the last rounds, each one batch
        _ = try await HTTP.waitFor("the spool to drain", seconds: 60) { try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 <= 3 ? true : nil } }
        // And once more killed while pushes flow (a round a second, each pushed at once), restarted
        _ = try await HTTP.waitFor("pushes to flow") { try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}").flatMap { $0 >= 2 ? $0 : nil } }
        try await Task.sleep(for: .milliseconds(1_050))
        await agent.process.kill(signal: SIGKILL)
        agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: aggregatorPort, token: "token-a")
        _ = try await HTTP.waitFor("pushes after the restart") { try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}").flatMap { $0 >= 3 ? true : nil } }
        await agent.process.kill(signal: SIGTERM)
        await aggregator.process.kill(signal: SIGTERM)

        // Then the aggregator's database holds the memory series once per collection, from the
        // agent's first round on, with no holes but the restarts
        let stores = try RunningAggregator.stores(in: directory)
        let store = stores.samples
        defer { try? stores.close() }
        let series = store.series(matching: [try SeriesSelector(parsing: "tokenwatt_memory_total_bytes")])
        #expect(series.map { $0.labels["node"] } == ["node-a"])
        let samples = try await store.rawSamples(seriesID: try #require(series.first).id, from: 0, to: .max)
        let timestamps = samples.map(\.timestamp)
        #expect(Set(timestamps).count == timestamps.count)
        #expect(Double(try #require(timestamps.first)) < started + 5_000, "the first round, spooled before the kill, arrived")
        let gaps = zip(timestamps, timestamps.dropFirst()).map { $1 - $0 }
        #expect(gaps.filter { $0 > 1_500 }.count <= 2, "holes only at the two restarts: \(gaps)")
        #expect(gaps.allSatisfy { $0 < 15_000 })
        #expect(samples.count >= 6)
    }

    @Test func theAggregatorTellsSystemdTooAndFeedsTheWatchdog() async throws {
        let directory = try Environment.temporaryDirectory("notify-aggregator")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notify = try DatagramSocket(path: directory + "/notify.sock")
        defer { notify.close() }
        let port = Environment.freePort()
        let aggregator = try ChildProcess(Environment.aggregatorPath, ["--listen", "127.0.0.1:\(port)", "--data-dir", directory + "/data"],
                                          logPath: directory + "/aggregator.log",
                                          environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])
        let messages = await notify.receive { messages in
            messages.contains { $0.contains("READY=1") } && messages.contains { $0.contains("WATCHDOG=1") }
        }
        await aggregator.kill(signal: SIGTERM)
        let stopping = await notify.receive { $0.contains { $0.contains("STOPPING=1") } }
        #expect(messages.contains { $0.contains("READY=1") && $0.contains("STATUS=listening on 127.0.0.1:\(port)") })
        #expect(messages.contains { $0.contains("WATCHDOG=1") && $0.contains("STATUS=0 series") })
        #expect(stopping.contains { $0.contains("STOPPING=1") })
    }

    @Test func tellsSystemdItIsReadyWithAStatusAndFeedsTheWatchdog() async throws {
        let directory = try Environment.temporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A datagram socket in place of systemd's
        let notify = try DatagramSocket(path: directory + "/notify.sock")
        defer { notify.close() }
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: Environment.freePort(),
                                                 token: nil, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])
        let messages = await notify.receive { messages in
            messages.contains { $0.contains("READY=1") } && messages.contains { $0.contains("WATCHDOG=1") }
        }
        await agent.process.kill(signal: SIGTERM)
        let stopping = await notify.receive { $0.contains { $0.contains("STOPPING=1") } }
        #expect(stopping.contains { $0.contains("STOPPING=1") })
        let ready = try #require(messages.first { $0.contains("READY=1") })
        #expect(ready.contains("STATUS=0 GPUs, no push yet, spool"))
        // cpu and memory read this machine's /proc: neither is down
        #expect(!ready.contains("cpu") && !ready.contains("memory"))
        #expect(messages.contains { $0.contains("WATCHDOG=1") && $0.contains("STATUS=") })
    }
}

@Suite struct AgentOnceTests {
    /// Runs `tokenwatt-agent --once` with the arguments, as an unprivileged user when the tests
    /// run as root (root reads RAPL counters anyway); returns its output and its log.
    static func once(_ arguments: [String], directory: String, unprivileged: Bool,
                     environment: [String: String] = [:]) async throws -> (stdout: String, stderr: String, status: Int32) {
        let agent = [Environment.agentPath, "--once"] + arguments
        let command = unprivileged && getuid() == 0
            ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + agent
            : agent
        let name = "\(directory)/once-\(UUID().uuidString)"
        let child = try ChildProcess(command[0], Array(command.dropFirst()), logPath: name + ".out", errorPath: name + ".err",
                                     environment: environment)
        let status = await child.exitStatus()
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (read(name + ".out"), read(name + ".err"), status)
    }

    @Test func raplReadableByRootOnlyIsReportedWithTheReasonNeverAsZero() async throws {
        let directory = try Environment.temporaryDirectory("rapl")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let zone = directory + "/sys/class/powercap/intel-rapl:0"
        try FileManager.default.createDirectory(atPath: zone, withIntermediateDirectories: true)
        try "package-0\n".write(toFile: zone + "/name", atomically: true, encoding: .utf8)
        try "262143328850\n".write(toFile: zone + "/max_energy_range_uj", atomically: true, encoding: .utf8)
        try "123456789\n".write(toFile: zone + "/energy_uj", atomically: true, encoding: .utf8)
        // As since Linux 5.10: the counter is readable by root only
        try FileManager.default.setAttributes([.posixPermissions: getuid() == 0 ? 0o400 : 0o000], ofItemAtPath: zone + "/energy_uj")
        for path in [directory, directory + "/sys", directory + "/sys/class", directory + "/sys/class/powercap", zone] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        let result = try await AgentOnceTests.once(["--path.sysfs", directory + "/sys", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"],
                                             directory: directory, unprivileged: true)
        #expect(result.status == 0)
        #expect(result.stdout.contains("tokenwatt_collector_up{collector=\"rapl\"} 0\n"))
        #expect(!result.stdout.contains("tokenwatt_cpu_energy_joules_total"))
        #expect(result.stdout.contains("tokenwatt_collector_up{collector=\"cpu\"} 1\n"))
        #expect(result.stderr.contains("energy_uj of package-0 is readable by root only (EACCES"))
    }

    @Test func anInvalidConfigExitsWith2AndSaysWhere() async throws {
        let directory = try Environment.temporaryDirectory("badconfig")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "collectors: [gpu]\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let result = try await AgentOnceTests.once(["--config", directory + "/agent.yml"], directory: directory, unprivileged: false)
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(directory)/agent.yml: collectors[0]: one of cpu, memory, nvidia, drm, rapl, hwmon, bmc"))
    }

    @Test func listeningBeyondLoopbackWithoutAUsageTokenExitsWith2() async throws {
        let directory = try Environment.temporaryDirectory("open-usage")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await AgentOnceTests.once(["--listen", "0.0.0.0:\(Environment.freePort())"], directory: directory, unprivileged: false)
        #expect(result.status == 2)
        #expect(result.stderr.contains("usage.token_file: a token for usage reports when listening on 0.0.0.0"))
    }
}

@Suite(.serialized) struct JournalTests {
    static let socketPath = "/run/systemd/journal/socket"

    /// With `JOURNAL_STREAM` set, logs go to the journal with structured fields. Where no journald
    /// runs (a container), the test binds the journal's socket itself and reads the datagrams in
    /// journald's native protocol; where one runs, it reads the entry back with journalctl.
    @Test func underSystemdLogsGoToTheJournalWithStructuredFields() async throws {
        let directory = try Environment.temporaryDirectory("journal")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = "/nonexistent-procfs-\(UUID().uuidString)"
        let arguments = ["--once", "--path.procfs", marker, "--nvml-library", "/nonexistent/libnvidia-ml.so.1"]
        if FileManager.default.fileExists(atPath: JournalTests.socketPath) {
            try await JournalTests.runAgent(arguments, directory: directory)
            let entry = try await HTTP.waitFor("the journal entry") { () -> String? in
                let output = try await ChildProcess.run("/usr/bin/journalctl", ["-o", "verbose", "SYSLOG_IDENTIFIER=tokenwatt-agent", "COLLECTOR=cpu", "--no-pager"],
                                                       directory: directory).output
                return output.contains(marker) ? output : nil
            }
            #expect(entry.contains("PRIORITY=4"))
            #expect(entry.contains("MESSAGE=collector failed"))
            return
        }
        #expect(getuid() == 0, "binding the journal's socket needs root where no journald runs")
        let createdFolder = !FileManager.default.fileExists(atPath: "/run/systemd/journal")
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let journal = try DatagramSocket(path: JournalTests.socketPath, timeoutSeconds: 1)
        defer {
            journal.close()
            if createdFolder { try? FileManager.default.removeItem(atPath: "/run/systemd/journal") }
        }
        try await JournalTests.runAgent(arguments, directory: directory)
        let entries = await journal.receive { $0.contains { $0.contains("COLLECTOR=cpu") } }
        let entry = try #require(entries.first { $0.contains("COLLECTOR=cpu") }, "entries: \(entries)")
        let fields = Set(entry.split(separator: "\n").map(String.init))
        #expect(fields.contains("MESSAGE=collector failed"))
        #expect(fields.contains("PRIORITY=4"))
        #expect(fields.contains("SYSLOG_IDENTIFIER=tokenwatt-agent"))
        #expect(fields.contains("REASON=failed: \(marker)/stat: No such file or directory"))
    }

    static func runAgent(_ arguments: [String], directory: String) async throws {
        let result = try await ChildProcess.run(Environment.agentPath, arguments, directory: directory, environment: ["JOURNAL_STREAM": "8:12345"])
        #expect(result.status == 0, "\(result.output)")
    }
}
