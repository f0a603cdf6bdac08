import Foundation
import Testing
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The shipped Grafana dashboards: valid, data source picked by variable, and every panel's
/// every query answered with data by a real Prometheus scraping a running aggregator, fed by a
/// running agent reading the fake NVML, a stand-in vLLM and an application's usage report.
@Suite(.serialized) struct DashboardTests {
    static var grafana: URL { DeployTests.root.appendingPathComponent("grafana") }

    /// The fake libnvidia-ml.so, built here for the agent binary.
    static func fakeNVML(_ directory: String) throws -> String {
        let library = "\(directory)/libnvidia-ml.so.1"
        try FakeNVMLLibrary.build(to: library)
        return library
    }

    static func scenario(energyMillijoules: Int) -> String {
        """
        driver 550.54.15
        count 1
        gpu 0 uuid GPU-6a1f0e3c-2b7d-4d59-9b1e-3f0c2a7d9e11
        gpu 0 name NVIDIA H200
        gpu 0 utilization 87 41
        gpu 0 memory 150754820096 98765432100
        gpu 0 power 612000
        gpu 0 limit 700000
        gpu 0 energy \(energyMillijoules)
        gpu 0 temperature 64

        """
    }

    struct Query {
        var dashboard: String
        var panel: String
        var expr: String
    }

    /// Every target of every panel, after checking ids and data sources.
    static func queries() throws -> [Query] {
        var queries: [Query] = []
        for file in ["fleet", "token-finops", "budgets"] {
            let data = try Data(contentsOf: grafana.appendingPathComponent("dashboards/\(file).json"))
            let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let panels = try #require(dashboard["panels"] as? [[String: Any]])
            let ids = panels.compactMap { $0["id"] as? Int }
            #expect(ids.count == panels.count && Set(ids).count == ids.count, "\(file): panel ids not unique")
            let variables = ((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(variables.contains("datasource") && variables.contains("node"), "\(file): \(variables)")
            for panel in panels {
                let title = panel["title"] as? String ?? "?"
                #expect((panel["datasource"] as? [String: String])?["uid"] == "${datasource}", "\(file) / \(title): a hard-coded data source")
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    #expect((target["datasource"] as? [String: String])?["uid"] == "${datasource}")
                    if let expr = target["expr"] as? String { queries.append(Query(dashboard: file, panel: title, expr: expr)) }
                }
            }
        }
        return queries
    }

    @Test func everyPanelQueryReturnsDataFromARealPrometheus() async throws {
        let directory = try Environment.temporaryDirectory("dashboards")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let queries = try DashboardTests.queries()
        #expect(queries.count >= 25)

        let node = try await WorkingNode.start(directory: directory)

        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, config: """
            electricity: {price_per_kwh: 0.12, pue: 1.3}
            node_classes: [{match: {node: "gpu-.*"}, purchase_price: 250000, purchase_date: 2026-01-15, life_years: 4, residual_value: 25000, overhead_per_hour: 1.5}]
            cloud_prices: [{match: "gpt-5-mini.*", input: 0.25, cached_input: 0.025, output: 2.00}]
            shadow_prices: [{local: "meta-llama/.*", cloud: gpt-5-mini}]
            costs: {interval: 1s}
            receivers: [{name: finops, webhook: {url: "http://127.0.0.1:\(Environment.freePort())/hook"}}]
            budgets: [{name: fleet-monthly, measure: usd, limit: 100000, forecast: {window: 1h}, receivers: [finops]}]
            alerting: {evaluation_interval: 1s}
            """)
        let agent = try await node.agent(directory: directory, aggregatorPort: aggregatorPort)

        let (prometheus, prometheusPort) = try PrometheusPeerTests.prometheus(scraping: aggregatorPort, in: directory, honorLabels: true)

        let work = node.work()
        defer { work.cancel() }

        var missing = queries
        let deadline = Date().addingTimeInterval(90)
        while !missing.isEmpty && Date() < deadline {
            var still: [Query] = []
            for query in missing {
                let expr = query.expr.replacingOccurrences(of: "$node", with: ".*").replacingOccurrences(of: "$model", with: ".*")
                var components = URLComponents(string: "http://127.0.0.1:\(prometheusPort)/api/v1/query")!
                components.queryItems = [URLQueryItem(name: "query", value: expr)]
                let body = (try? await HTTP.get(components.url!.absoluteString).body) ?? ""
                let result = ((try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any])?["result"] as? [Any]
                if result?.isEmpty ?? true { still.append(query) }
            }
            missing = still
            if !missing.isEmpty { try await Task.sleep(for: .seconds(2)) }
        }
        #expect(missing.isEmpty, "no data for: \(missing.map { "\($0.dashboard) / \($0.panel): \($0.expr)" }.joined(separator: "\n"))")
        _ = (node, prometheus, aggregator, agent)  // alive to the end: each one's process dies with it
    }

    @Test func provisioningNamesThePrometheusDataSourceAndTheDashboardsFolder() throws {
        let datasources = try String(contentsOf: DashboardTests.grafana.appendingPathComponent("provisioning/datasources/tokenwatt.yml"), encoding: .utf8)
        #expect(datasources.contains("type: prometheus") && !datasources.contains("uid:"))
        let dashboards = try String(contentsOf: DashboardTests.grafana.appendingPathComponent("provisioning/dashboards/tokenwatt.yml"), encoding: .utf8)
        #expect(dashboards.contains("type: file") && dashboards.contains("path: /var/lib/grafana/dashboards/tokenwatt"))
    }
}

/// A GPU server at work for the end-to-end tests: the fake NVML's GPU (612 W, 87 %, 64 °C) and
/// a stand-in vLLM serving `TokenFlowTests.model`, and an agent reading both that has also
/// taken an application's usage report of gpt-5-mini for team research.
struct WorkingNode {
    let vllm: ChildProcess
    let vllmURL: String
    let library: String
    let scenario: String

    static func start(directory: String) async throws -> WorkingNode {
        let library = try DashboardTests.fakeNVML(directory)
        let scenario = "\(directory)/nvml-scenario"
        try DashboardTests.scenario(energyMillijoules: 1_000_000).write(toFile: scenario, atomically: true, encoding: .utf8)
        let port = Environment.freePort()
        try TokenFlowTests.fakeVLLM.write(toFile: "\(directory)/fake_vllm.py", atomically: true, encoding: .utf8)
        let vllm = try ChildProcess("/usr/bin/env", ["python3", "\(directory)/fake_vllm.py", "\(port)", TokenFlowTests.model], logPath: "\(directory)/vllm.log")
        let url = "http://127.0.0.1:\(port)"
        _ = try await HTTP.waitFor("the fake vLLM") { try await HTTP.get(url + "/metrics").status == 200 ? true : nil }
        return WorkingNode(vllm: vllm, vllmURL: url, library: library, scenario: scenario)
    }

    /// The node's agent, pushing to the aggregator with `token-1`.
    func agent(directory: String, aggregatorPort: Int) async throws -> RunningAgent {
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "token-1",
                                                 environment: ["FAKE_NVML_SCENARIO": scenario],
                                                 arguments: ["--nvml-library", library, "--inference-server", vllmURL],
                                                 collectors: ["cpu", "memory", "nvidia"])
        let usage = #"{"model": "gpt-5-mini", "provider": "openai", "attributes": {"team": "research"}, "usage": {"prompt_tokens": 900, "completion_tokens": 100}}"#
        #expect(try await HTTP.post(agent.url + "/v1/usage", body: Array(usage.utf8), headers: [("Content-Type", "application/json")]).status == 200)
        return agent
    }

    /// The node at work until cancelled: the GPU's energy grows at 612 W, the server serves.
    func work() -> Task<Void, Never> {
        Task {
            var energy = 1_000_000
            while !Task.isCancelled {
                energy += 306_000
                try? DashboardTests.scenario(energyMillijoules: energy).write(toFile: scenario, atomically: true, encoding: .utf8)
                _ = try? await HTTP.post(vllmURL + "/serve?input=3000&output=800", body: [], headers: [])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
