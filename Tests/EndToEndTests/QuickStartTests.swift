import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport

/// The quick start as a newcomer runs it, on this machine, with no config at all: the
/// aggregator and an agent with built-in defaults. Without power sensors (a VM, a container),
/// the report still shows this machine's energy, estimated from its CPU use; a usage report of
/// a model on the built-in price list has a cloud price.
@Suite(.serialized) struct QuickStartTests {
    @Test func withNoConfigTheReportShowsEstimatedEnergyAndListPrices() async throws {
        let directory = try Environment.temporaryDirectory("quickstart")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort(), agentPort = Environment.freePort()
        let aggregator = try ChildProcess(Environment.aggregatorPath, ["--listen", "127.0.0.1:\(aggregatorPort)", "--data-dir", "\(directory)/data"],
                                          logPath: "\(directory)/aggregator.log", directory: directory)
        let url = "http://127.0.0.1:\(aggregatorPort)"
        _ = try await HTTP.waitFor("the aggregator to be ready") { try await HTTP.get(url + "/-/ready").status == 200 ? true : nil }
        let agent = try ChildProcess(Environment.agentPath, ["--listen", "127.0.0.1:\(agentPort)", "--aggregator", url, "--interval", "1s", "--no-discovery"],
                                     logPath: "\(directory)/agent.log", directory: directory)
        let agentURL = "http://127.0.0.1:\(agentPort)"
        _ = try await HTTP.waitFor("the agent to be up") { try await HTTP.get(agentURL + "/-/healthy").status == 200 ? true : nil }
        let usage = #"{"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 1000000, "output_tokens": 200000}"#
        #expect(try await HTTP.post(agentURL + "/v1/usage", body: Array(usage.utf8), headers: [("Content-Type", "application/json")]).status == 200)

        // The cost ledger is written every minute by default.
        func report(_ by: String) async throws -> [[String: Any]] {
            let (status, output) = try await CLITests.run(["report", "--url", url, "--by", by, "--format", "json"], directory: directory)
            guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else { return [] }
            return object["groups"] as? [[String: Any]] ?? []
        }
        let node = try await HTTP.waitFor("estimated energy in the report", seconds: 150) { () -> [String: Any]? in
            try await report("node").first { ($0["kwh_estimated"] as? Double ?? 0) > 0 }
        }
        #expect(node["energy_sources"] as? [String] == ["estimated"])
        let energy = try #require((node["components"] as? [String: Any])?["energy_estimated"] as? Double)
        #expect(energy > 0)
        let model = try await HTTP.waitFor("the usage report priced") { () -> [String: Any]? in
            try await report("model").first { ($0["labels"] as? [String: String])?["model"] == "gpt-4o-mini" && ($0["cloud_spend"] as? Double ?? 0) > 0 }
        }
        // 1M input at 0.15 and 0.2M output at 0.60 per million, from the built-in list.
        #expect(abs((model["cloud_spend"] as? Double ?? 0) - 0.27) < 1e-9)
        #expect(model["unpriced_tokens"] as? Double == 0)
        // The table shows the estimate, however small (a fraction of a cent), not 0.00.
        let table = try await CLITests.run(["report", "--url", url, "--every", "hour"], directory: directory)
        let row = try #require(table.output.split(separator: "\n").dropFirst().first { $0.contains("estimated") })
        let cells = row.split(separator: " ")  // from, node, tokens, cached input, kWh, kWh estimated, energy, cost, ...
        #expect(Double(cells[5]).map { $0 > 0 } == true, "\(table.output)")
        #expect(Double(cells[7]).map { $0 > 0 } == true, "\(table.output)")
        _ = (aggregator, agent)
    }
}
