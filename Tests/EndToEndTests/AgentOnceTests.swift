import Foundation
import Testing
import TokenWattTestSupport

/// `tokenwatt-agent --once` says why, as the troubleshooting in docs/operations.md does: with the fake NVML
/// absent, present and failing to initialise, against an aggregator that takes the node's
/// token, one that does not, and none. Every fix it prints is the docs' word for word.
extension AgentOnceTests {
    /// The report's lines in what `--once` wrote on standard error: those that start with these words.
    static func report(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { line in
            ["down: ", "GPUs: ", "power measured: ", "inference servers: ", "push: "].contains { line.hasPrefix($0) }
        }
    }

    enum NVML: String, CaseIterable {
        case absent, present, failing
    }

    @Test(arguments: NVML.allCases)
    func onceSaysWhatIsMissingAndTheFix(_ nvml: NVML) async throws {
        let directory = try Environment.temporaryDirectory("once")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["gpu-01": "token-1"])
        var library = "\(directory)/no-such/libnvidia-ml.so.1"
        let scenario = "\(directory)/nvml-scenario"
        if nvml != .absent {
            library = try DashboardTests.fakeNVML(directory)
            try (nvml == .present ? DashboardTests.scenario(energyMillijoules: 1_000) : "init 9\n").write(toFile: scenario, atomically: true, encoding: .utf8)
        }
        try "collectors: [cpu, memory, nvidia, rapl]\nspool: {directory: \(directory)/spool}\n".write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        func once(token: String, aggregator url: String) async throws -> [String] {
            try token.write(toFile: "\(directory)/token", atomically: true, encoding: .utf8)
            let run = try await AgentOnceTests.once([
                "--config", "\(directory)/agent.yml", "--no-discovery", "--nvml-library", library,
                "--path.sysfs", "\(directory)/empty-sysfs", "--token-file", "\(directory)/token", "--aggregator", url,
            ], directory: directory, unprivileged: false, environment: ["FAKE_NVML_SCENARIO": scenario])
            #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
            #expect(run.stdout.contains("tokenwatt_collector_up{collector=\"cpu\"} 1"))
            // The exposition stays parseable: none of the report is in it.
            #expect(AgentOnceTests.report(run.stdout).isEmpty)
            return AgentOnceTests.report(run.stderr)
        }
        let lines = try await once(token: "token-1", aggregator: aggregator.url)
        let readme = try String(contentsOf: DeployTests.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)

        // Every collector that is down is named with its reason and the docs' fix.
        let down = lines.filter { $0.hasPrefix("down: ") }
        for line in down {
            let fix = try #require(line.components(separatedBy: " — ").last)
            #expect(readme.contains(": \(fix)\n"), "docs/operations.md lacks the fix of \(line)")
        }
        #expect(down.contains { $0.hasPrefix("down: rapl: no data: no RAPL zones under \(directory)/empty-sysfs/class/powercap — a VM") })
        switch nvml {
        case .absent:
            #expect(down.contains { $0.hasPrefix("down: nvidia: no data: ") && $0.contains("no-such/libnvidia-ml.so.1") && $0.contains("set nvidia.library") })
            #expect(lines.contains("GPUs: none found"))
            #expect(lines.contains("power measured: nowhere: the aggregator estimates this node's power from its CPU utilisation"))
        case .present:
            #expect(!down.contains { $0.hasPrefix("down: nvidia") })
            #expect(lines.contains("GPUs: 0: NVIDIA H200 (nvidia)"))
            #expect(lines.contains("power measured: GPUs (nvidia, drm)"))
        case .failing:
            #expect(down.contains { $0.hasPrefix("down: nvidia: no data: nvmlInit_v2: ") && $0.contains("install the driver") })
            #expect(lines.contains("GPUs: none found"))
        }
        #expect(lines.contains("inference servers: none found"))
        #expect(lines.contains("push: \(aggregator.url)/api/v1/write takes this node's pushes"))

        // A token the aggregator does not list, and no aggregator at all: each said with its fix.
        let refused = try await once(token: "token-2", aggregator: aggregator.url)
        #expect(refused.contains { $0.hasPrefix("push: 401 from \(aggregator.url)/api/v1/write") && $0.contains("the one the aggregator lists for this node") })
        await aggregator.process.kill(signal: SIGTERM)
        let unreachable = try await once(token: "token-1", aggregator: aggregator.url)
        #expect(unreachable.contains { $0.hasPrefix("push: cannot reach \(aggregator.url)/api/v1/write") })
    }
}
