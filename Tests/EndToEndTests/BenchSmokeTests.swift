import Foundation
import Testing
import TokenWattTestSupport

/// Every benchmark in bench/ run in its smoke mode (`BENCH_SMOKE=1`, bench/common.sh: the
/// binaries this build made, tiny sizes, free ports), so that none rots unseen: each must
/// finish and print the lines that put our figure beside its peer's. The figures of a smoke run
/// mean nothing; BENCHMARKS.md holds the measured ones.
@Suite(.serialized) struct BenchSmokeTests {
    /// Each script and the lines its output must hold (in any order).
    static let scripts: [String: [String]] = [
        "agent-vs-node-exporter.sh": ["CPU seconds    node_exporter", "peak RSS KiB   node_exporter"],
        "alert-latency.sh": ["burst → signed webhook over 2 trials: p50"],
        "attacks.py": ["| attack | answer | seconds | RSS MB before → after | /-/healthy after | verdict |",
                       "aggregator: 1,000 idle connections from one client, then a push from another | 204"],
        "before-after.sh": ["ingest samples/s, median of 1: prometheus", "ingest samples/s, median of 1: before", "ingest samples/s, median of 1: after",
                            "fleet after: read back: 200 series, 0 acknowledged samples missing", "web after: /costs"],
        "fleet.sh": ["prometheus peak RSS", "victoriametrics peak RSS", "tokenwatt peak RSS", "restart after kill -9 with 2000 series in the head"],
        "gateway-vs-litellm.sh": ["\nlitellm    ", "\ntokenwatt-capped    ", "litellm            answers", "tokenwatt-capped   answers"],
        "ingest-vs-prometheus.sh": ["ingest samples/s      prometheus", "bytes/sample on disk  prometheus", "   victoriametrics ",
                                    "  free pages", "  file tokenwatt.sqlite "],
        "otlp-vs-remote-write.sh": ["== median durable ingest over 1 rounds", "otlp ", "× remote write 1.0"],
        "render-vs-pushgateway.sh": ["/metrics render, 2000 series, median of 21: TokenWatt"],
        "usage-and-parse.sh": ["prometheus_client parser:", "usage intake: 8 clients, 200 requests", "usage intake: 8 clients, 16 requests"],
        "web-overview.sh": ["peer: 6 instant queries of the fleet table", "tokenwatt /costs?days=7"],
    ]
    /// What bench/ holds that is not a benchmark of its own.
    static let helpers: Set = ["common.sh", "litellm-venv.sh", "nodes-config.sh", "seed-ledger-week.py", "web-fleet.yml"]

    @Test func everyBenchmarkHasASmokeRun() throws {
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: DeployTests.root.path + "/bench"))
        #expect(files.subtracting(BenchSmokeTests.helpers) == Set(BenchSmokeTests.scripts.keys))
    }

    @Test(arguments: scripts.keys.sorted())
    func runsInItsSmokeMode(_ script: String) async throws {
        let directory = try Environment.temporaryDirectory("bench-smoke")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = DeployTests.root.path + "/bench/" + script
        let command = script.hasSuffix(".py") ? ["python3", path, "--bin", Environment.binDirectory] : ["bash", path]
        // A script that hangs fails here rather than stopping the suite (ChildProcess starts it
        // with no signal blocked, so timeout's signal lands).
        let run = try await ChildProcess.run("/usr/bin/timeout", ["600"] + command, directory: directory,
                                             environment: ["BENCH_SMOKE": "1", "BENCH_BIN": Environment.binDirectory])
        #expect(run.status == 0, "\(script) exited with \(run.status):\n\(run.output.suffix(4_000))")
        for line in BenchSmokeTests.scripts[script] ?? [] {
            #expect(run.output.contains(line), "\(script) printed no \"\(line)\":\n\(run.output.suffix(4_000))")
        }
        if script == "attacks.py" {
            let rows = run.output.split(separator: "\n").filter { $0.hasPrefix("| aggregator") || $0.hasPrefix("| agent") }
            #expect(rows.count > 20 && rows.allSatisfy { $0.hasSuffix("| ok |") }, "\(rows.filter { !$0.hasSuffix("| ok |") })")
        }
    }
}
