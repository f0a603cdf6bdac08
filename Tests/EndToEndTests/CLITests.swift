import Foundation
import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattTestSupport

/// The `tokenwatt` CLI against a running aggregator, and its config check on the shipped example.
@Suite(.serialized) struct CLITests {
    static var cliPath: String { Environment.binDirectory + "/tokenwatt" }

    /// Runs the CLI; its exit status and standard output (standard error after it).
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(cliPath, arguments, directory: directory, environment: environment)
    }

    @Test func reportAndBudgetsReadTheAggregator() async throws {
        let directory = try Environment.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            electricity: {price_per_kwh: 0.10, pue: 1.0}
            node_classes: [{match: {node: gpu-01}, overhead_per_hour: 3.6}]
            cloud_prices: [{match: gpt-5-mini, input: 0.25, output: 2.00}]
            shadow_prices: [{local: "llama.*", cloud: gpt-5-mini}]
            costs: {interval: 1s}
            budgets: [{name: daily-tokens, measure: tokens, limit: 1e6, period: {every: day}}]
            alerting: {evaluation_interval: 1s}
            """)
        // Before the first push the ledger is empty, and the report says why rather than print an empty table.
        let empty = try await CLITests.run(["report", "--url", aggregator.url], directory: directory)
        #expect(empty.status == 0 && empty.output.contains("no ledger hours in this window (") && empty.output.contains("a minute after the first push"))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let series = { (name: String, labels: [String: String], values: [Double]) -> TimeSeries in
            TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": name]) { $1 }),
                       samples: values.enumerated().map { Sample(timestamp: now - 2_000 + Int64($0.offset) * 1_000, value: $0.element) })
        }
        #expect(try await aggregator.push([
            series("tokenwatt_gpu_energy_joules_total", ["gpu": "0"], [0, 3_600_000]),  // 1 kWh
            series("tokenwatt_tokens_total", ["model": "llama-3", "type": "input", "source": "vllm"], [0, 400_000]),
            series("tokenwatt_tokens_total", ["model": "llama-3", "type": "output", "source": "vllm"], [0, 100_000]),
        ]) == 204)
        let environment = ["TOKENWATT_URL": aggregator.url]
        let report = try await HTTP.waitFor("the ledger to show the energy") { () -> String? in
            let (status, output) = try await CLITests.run(["report", "--by", "node", "--format", "json"], environment: environment, directory: directory)
            return status == 0 && output.contains("\"kwh\" : 1") ? output : nil
        }
        #expect(report.contains("\"node\" : \"gpu-01\""))
        // The cloud-equivalent of 0.4M input and 0.1M output at 0.25 and 2.00 per million: 0.3.
        #expect(report.contains("\"cloud_equivalent\" : 0.3"))
        // Times with an offset (its + percent-encoded), a duration ending at an RFC 3339 time.
        func plusOneHourOffset(_ seconds: Double) -> String {
            // The wall time at +01:00 is an hour ahead of UTC's.
            Date(timeIntervalSince1970: seconds + 3_600).formatted(.iso8601).replacingOccurrences(of: "Z", with: "+01:00")
        }
        let inAnHour = plusOneHourOffset(Double(now) / 1000 + 3_600)
        let csv = try await CLITests.run(["report", "--url", aggregator.url, "--by", "model", "--format", "csv", "--period", "6h", "--to", inAnHour],
                                         directory: directory)
        #expect(csv.status == 0, "\(csv.output)")
        #expect(csv.output.hasPrefix("""
            period_start,period_end,model,input_tokens,cached_input_tokens,output_tokens,reasoning_tokens,tokens,requests,unpriced_tokens,\
            kwh,kwh_estimated,energy_sources,on_prem_cost,cloud_spend,cost,cloud_equivalent,savings,idle_cost,cost_per_million_tokens,currency
            """))
        #expect(csv.output.contains(",llama-3,400000,0,100000,0,500000,0,0,,,,"))
        let anHourAgo = plusOneHourOffset(Double(now) / 1000 - 3_600)
        let hourly = try await CLITests.run(["report", "--from", anHourAgo, "--every", "hour", "--by", "node", "--format", "csv"],
                                            environment: environment, directory: directory)
        #expect(hourly.status == 0, "\(hourly.output)")
        let hour = Date(timeIntervalSince1970: Double(now - now % Milliseconds.hour) / 1000).formatted(.iso8601)
        #expect(hourly.output.contains("\n\(hour),"), "\(hourly.output)")
        #expect(hourly.output.contains(",gpu-01,400000,0,100000,0,500000,0,0,1,0,gpu,"))
        let focus = try await CLITests.run(["report", "--format", "focus"], environment: environment, directory: directory)
        #expect(focus.output.hasPrefix(FOCUSExport.columns.joined(separator: ",") + "\n"))
        // A SKU per token type, each with its own row.
        #expect(focus.output.contains("400000 input tokens of llama-3 served by vllm on gpu-01"))
        #expect(focus.output.contains("100000 output tokens of llama-3 served by vllm on gpu-01"))
        let wrongPeriod = try await CLITests.run(["report", "--period", "fortnight"], environment: environment, directory: directory)
        #expect(wrongPeriod.status == 2 && wrongPeriod.output.contains("--period expects day, week, month"))
        let table = try await CLITests.run(["report", "--by", "node"], environment: environment, directory: directory)
        #expect(table.output.contains("gpu-01"))

        let budgets = try await HTTP.waitFor("the budget to be evaluated") { () -> String? in
            let (status, output) = try await CLITests.run(["budgets"], environment: environment, directory: directory)
            return status == 0 && output.contains("daily-tokens") && output.contains("ok") ? output : nil
        }
        #expect(budgets.contains("500000.00"))
        #expect(budgets.contains("50.0%"))

        let unreachable = try await CLITests.run(["budgets", "--url", "http://127.0.0.1:\(Environment.freePort())"], directory: directory)
        #expect(unreachable.status == 1)
        #expect(unreachable.output.contains("cannot reach"))
    }

    /// 500 W and 500 tokens/s over the minute that ended 90 s ago: 1 J a token, so the next
    /// million cost 1e6 / 3.6e6 kWh × 0.10 = 0.0278 against the cloud's 0.25 (input only):
    /// keep local. At 0.20 a kWh the period's 30,000 J cost 0.000833 more.
    @Test func adviseAndWhatIfReadTheAggregator() async throws {
        let directory = try Environment.temporaryDirectory("cli-advice")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            electricity: {price_per_kwh: 0.10}
            cloud_prices: [{match: gpt-5-mini, input: 0.25, output: 2.00}]
            shadow_prices: [{local: "llama.*", cloud: gpt-5-mini}]
            costs: {interval: 1s}
            advice: {window: 3m}
            """)
        // Before the first push the ledger is empty, and the report says why rather than print an empty table.
        let empty = try await CLITests.run(["report", "--url", aggregator.url], directory: directory)
        #expect(empty.status == 0 && empty.output.contains("no ledger hours in this window (") && empty.output.contains("a minute after the first push"))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let series = { (name: String, labels: [String: String], values: [Double]) -> TimeSeries in
            TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": name]) { $1 }),
                       samples: values.enumerated().map { Sample(timestamp: now - 150_000 + Int64($0.offset) * 60_000, value: $0.element) })
        }
        #expect(try await aggregator.push([
            series("tokenwatt_gpu_energy_joules_total", ["gpu": "0"], [0, 30_000]),
            series("tokenwatt_tokens_total", ["model": "llama-2", "type": "input", "source": "vllm"], [0, 30_000]),
        ]) == 204)
        let environment = ["TOKENWATT_URL": aggregator.url]
        let advice = try await CLITests.run(["advise", "--window", "3m", "--step", "1m", "--format", "json"], environment: environment, directory: directory)
        #expect(advice.status == 0, "\(advice.output)")
        let object = try JSONSerialization.jsonObject(with: Data(advice.output.utf8)) as? [String: Any]
        let llama = (object?["recommendations"] as? [[String: Any]])?.first { $0["model"] as? String == "llama-2" }
        #expect(llama?["action"] as? String == "keep_local")
        let node = (llama?["nodes"] as? [[String: Any]])?.first
        #expect(abs((node?["marginal_cost_per_million_tokens"] as? Double ?? 0) - 1e6 / 3.6e6 * 0.10) < 1e-9)
        #expect(node?["marginal_basis"] as? String == "average")
        #expect(node?["cloud_price_per_million_tokens"] as? Double == 0.25)
        let table = try await CLITests.run(["advise", "--window", "3m"], environment: environment, directory: directory)
        #expect(table.output.contains("llama-2: keep_local — the next million tokens cost 0.0278 locally, 0.25 on gpt-5-mini"), "\(table.output)")

        let whatIf = try await HTTP.waitFor("the ledger to hold the energy") { () -> [String: Any]? in
            let (status, output) = try await CLITests.run(["whatif", "--set", "electricity.price_per_kwh=0.20", "--by", "node", "--format", "json"],
                                                          environment: environment, directory: directory)
            let object = status == 0 ? try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] : nil
            return ((object?["today"] as? [String: Any])?["kwh"] as? Double ?? 0) > 0 ? object : nil
        }
        let before = (whatIf["today"] as? [String: Any])?["cost"] as? Double ?? 0
        let after = (whatIf["whatif"] as? [String: Any])?["cost"] as? Double ?? 0
        #expect(abs(after - before - 30_000 / 3.6e6 * 0.10) < 1e-9)
        let printed = try await CLITests.run(["whatif", "--set", "electricity.price_per_kwh=0.20", "--by", "node"], environment: environment, directory: directory)
        #expect(printed.output.split(separator: "\n").contains { $0.hasPrefix("(all) ") && $0.contains(" cost ") && $0.hasSuffix(" 0.00083") }, "\(printed.output)")
        let nothing = try await CLITests.run(["whatif"], environment: environment, directory: directory)
        #expect(nothing.status == 2 && nothing.output.contains("nothing to change"))
        let refused = try await CLITests.run(["whatif", "--set", "electricity.pue=0.5"], environment: environment, directory: directory)
        #expect(refused.status == 1 && refused.output.contains("electricity.pue: a PUE of at least 1.0"), "\(refused.output)")
    }

    @Test func pricesListsTheBuiltInListAfterTheConfigsEntries() async throws {
        let directory = try Environment.temporaryDirectory("prices")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "cloud_prices: [{match: gpt-4o-mini, input: 0.10, output: 0.50}]\n".write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let listed = try await CLITests.run(["prices", "--config", "\(directory)/aggregator.yml", "--format", "csv"], directory: directory)
        #expect(listed.status == 0)
        let lines = listed.output.split(separator: "\n")
        #expect(lines.first == "model,provider,input,cached_input,output,currency,from,source")
        #expect(lines.dropFirst().first?.hasPrefix("gpt-4o-mini,,0.10,0.10,0.50,USD,,") == true)
        #expect(lines.contains { $0.hasPrefix("gpt-4o-mini(-\\d{4}-\\d{2}-\\d{2})?,openai,0.15,0.075,0.60,USD,,\"built-in, taken 2026-12-02 from https://") })
        #expect(lines.count >= 22)
    }

    @Test func checkConfigAcceptsTheShippedExampleAndNamesTheKeyOfAnError() async throws {
        let directory = try Environment.temporaryDirectory("check-config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        var example = try String(contentsOf: root.appendingPathComponent("deploy/examples/aggregator.yml"), encoding: .utf8)
        // The example's secrets live under /etc/tokenwatt; here they are temporary files.
        for (path, secret) in [("/etc/tokenwatt/tokens/gpu-01", "token-1"), ("/etc/tokenwatt/finops.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                               ("/etc/tokenwatt/slack.url", "https://hooks.slack.com/services/T000/B000/abcd")] {
            let local = "\(directory)/\(URL(fileURLWithPath: path).lastPathComponent)"
            try secret.write(toFile: local, atomically: true, encoding: .utf8)
            example = example.replacingOccurrences(of: path, with: local)
        }
        try example.write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let valid = try await CLITests.run(["check-config", "\(directory)/aggregator.yml"], environment: ["TOKENWATT_TOKEN_GPU_02": "token-2"], directory: directory)
        #expect(valid.status == 0, "\(valid.output)")
        #expect(valid.output.contains("valid aggregator configuration"))

        try "usage: {attributes: [model]}\n".write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        let invalid = try await CLITests.run(["check-config", "\(directory)/agent.yml"], directory: directory)
        #expect(invalid.status == 2)
        #expect(invalid.output.contains("agent.yml: usage.attributes[0]: a name other than"))

        // OTLP attribute keys no convention defines are warned about; the file is still valid.
        try """
            usage: {attributes: [team, agent], otlp_attributes: {agent: [gen_ai.agent.name, service.nme], team: team}}
            """.write(toFile: "\(directory)/otlp-agent.yml", atomically: true, encoding: .utf8)
        let warned = try await CLITests.run(["check-config", "\(directory)/otlp-agent.yml"], directory: directory)
        #expect(warned.status == 0, "\(warned.output)")
        #expect(warned.output.contains("valid agent configuration (2 warnings)"))
        #expect(warned.output.contains("usage.otlp_attributes.agent: \"service.nme\" is an attribute no OpenTelemetry convention defines"))
        #expect(warned.output.contains("(did you mean \"service.name\"?)"))
        #expect(warned.output.contains("usage.otlp_attributes.team: \"team\""))
        #expect(!warned.output.contains("gen_ai.agent.name\" is"))

        // An agent config of before the gateway became a daemon: the section says where it went.
        try "interval: 10s\ngateway:\n  callers: [{key_env: K}]\n".write(toFile: "\(directory)/old-agent.yml", atomically: true, encoding: .utf8)
        let moved = try await CLITests.run(["check-config", "\(directory)/old-agent.yml"], directory: directory)
        #expect(moved.status == 2 && moved.output.contains("old-agent.yml: gateway: ") && moved.output.contains("tokenwatt-gateway")
                && moved.output.contains("/etc/tokenwatt/gateway.yml"), "\(moved.output)")
        // A gateway's file is told apart by its callers and routes, and checked as the gateway loads it.
        try "callers: [{key_env: NOPE}]\n".write(toFile: "\(directory)/gateway.yml", atomically: true, encoding: .utf8)
        let gateway = try await CLITests.run(["check-config", "\(directory)/gateway.yml"], directory: directory)
        #expect(gateway.status == 2 && gateway.output.contains("gateway.yml: callers[0].key_env: the environment variable NOPE"), "\(gateway.output)")
    }
}
