import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport

/// Every metric the daemons emit is one descriptor (`TokenWattMetrics.swift`), and what names
/// metrics elsewhere derives from them or is checked against them: docs/metrics.md, the
/// Grafana dashboards and Prometheus rules, and the families on both daemons' `/metrics`.
@Suite(.serialized) struct MetricReferenceTests {
    static let described = MetricDescriptor.pushedFamilies + MetricDescriptor.aggregatorFamilies(currency: "usd")
    static let byFamily = Dictionary(described.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    @Test func descriptorsAreNamedOnceAsPrometheusNamesThem() throws {
        #expect(MetricReferenceTests.byFamily.count == MetricReferenceTests.described.count, "a family described twice")
        for metric in MetricReferenceTests.described {
            #expect(metric.name.hasPrefix("tokenwatt_") && !metric.name.hasSuffix("_total"), "\(metric.name)")
            #expect(metric.unit.isEmpty || metric.name.hasSuffix("_" + metric.unit), "\(metric.name) does not end in its unit \(metric.unit)")
            #expect(MetricName.isValidMetricName(metric.seriesName), "\(metric.name)")
            #expect(Set(metric.labels).count == metric.labels.count, "\(metric.name): \(metric.labels)")
            #expect(!metric.help.isEmpty && !metric.help.contains("\n"), "\(metric.name)")
        }
    }

    /// The aggregator adds `node` to what agents and gateways push; their descriptors leave it out.
    @Test func pushedFamiliesLeaveTheNodeToTheAggregator() {
        for metric in MetricDescriptor.pushedFamilies {
            #expect(!metric.labels.contains("node"), "\(metric.name)")
        }
    }

    @Test func theMetricsPageIsWhatTheCLIPrints() async throws {
        let directory = try Environment.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let printed = try await ChildProcess.run(Environment.binDirectory + "/tokenwatt", ["metrics"], directory: directory)
        #expect(printed.status == 0)
        let readme = try String(contentsOf: DeployTests.root.appendingPathComponent("docs/metrics.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "<!-- Written by `tokenwatt metrics`; MetricReferenceTests fails when it differs. -->\n"))
        let end = try #require(readme.range(of: "<!-- end of metric reference -->"))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == printed.output,
                "docs/metrics.md is not what `tokenwatt metrics` prints: paste its output between the markers")
        #expect(printed.output.contains("| `tokenwatt_cost_usd_total` | counter |") && printed.output.contains("| `tokenwatt_gpu_power_watts` | gauge |"))
    }

    @Test func dashboardsAndRulesQueryOnlyDescribedSeries() throws {
        let root = DeployTests.root
        var files = ["fleet", "token-finops", "budgets"].map { root.appendingPathComponent("grafana/dashboards/\($0).json") }
        files += try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("deploy/prometheus/rules").path)
            .map { root.appendingPathComponent("deploy/prometheus/rules/\($0)") }
        // Recording rules' own names (`node:tokenwatt_cost_usd_per_hour:rate1h`) have colons.
        let pattern = try Regex("[a-z0-9_:]*tokenwatt_[a-z0-9_:]*")
        var seen: Set<String> = []
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            seen.formUnion(text.matches(of: pattern).map { String(text[$0.range]) }.filter { !$0.contains(":") })
        }
        let series = Set(MetricReferenceTests.described.flatMap(\.seriesNames))
        #expect(seen.count >= 15, "\(seen.sorted())")
        #expect(seen.subtracting(series).isEmpty, "queried but not described: \(seen.subtracting(series).sorted())")
    }

    /// One `/metrics` page in OpenMetrics (which names a counter's family without `_total`):
    /// each family's type and help, and the label names of its samples.
    struct Page {
        var types: [String: String] = [:]
        var helps: [String: String] = [:]
        var labels: [String: Set<String>] = [:]

        init(_ text: String) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 3)
                if parts.count >= 4, parts[0] == "#", parts[1] == "HELP" { helps[String(parts[2])] = String(parts[3]) }
                if parts.count >= 4, parts[0] == "#", parts[1] == "TYPE" { types[String(parts[2])] = String(parts[3]) }
                guard !line.hasPrefix("#"), let open = line.firstIndex(of: "{") else { continue }
                let family = types.keys.filter { line.hasPrefix($0) }.max { $0.count < $1.count } ?? ""
                let inside = line[line.index(after: open)..<(line.lastIndex(of: "}") ?? line.endIndex)]
                let names = inside.matches(of: #/([a-zA-Z_][a-zA-Z0-9_]*)="/#).map { String($0.output.1) }
                labels[family, default: []].formUnion(names)
            }
        }
    }

    /// Both daemons at work (GPU, inference server, usage report, gateway, costs, a budget): each
    /// `tokenwatt_` family on their pages is a descriptor, with its type, help and labels.
    @Test func bothDaemonsExposeEachFamilyAsItsDescriptorSays() async throws {
        let directory = try Environment.temporaryDirectory("metric-families")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try await WorkingNode.start(directory: directory)
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, gateways: ["gw-0": "gw-token-0"], config: """
            electricity: {price_per_kwh: 0.12, pue: 1.3}
            cloud_prices: [{match: "gpt-5-mini.*", input: 0.25, cached_input: 0.025, output: 2.00}]
            costs: {interval: 1s}
            receivers: [{name: finops, webhook: {url: "http://127.0.0.1:\(Environment.freePort())/hook"}}]
            budgets: [{name: research, measure: usd, limit: 100, match: {team: research}, receivers: [finops]}]
            alerting: {evaluation_interval: 1s}
            """)
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "token-1",
                                                 environment: ["FAKE_NVML_SCENARIO": node.scenario],
                                                 arguments: ["--nvml-library", node.library, "--inference-server", node.vllmURL],
                                                 collectors: ["cpu", "memory", "nvidia"])
        let gateway = try await RunningGateway.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "gw-token-0",
                                                     environment: ["KEY_0": "sk-upstream", "KEY": "sk-caller"], config: """
            callers: [{key_env: KEY, labels: {team: research}}]
            routes: [{match: "gpt-.*", upstream: "http://127.0.0.1:\(Environment.freePort())", key_env: KEY_0}]
            """)
        let usage = #"{"model": "gpt-5-mini", "provider": "openai", "attributes": {"team": "research"}, "usage": {"prompt_tokens": 900, "completion_tokens": 100}}"#
        #expect(try await HTTP.post(agent.url + "/v1/usage", body: Array(usage.utf8), headers: [("Content-Type", "application/json")]).status == 200)
        let work = node.work()
        defer { work.cancel() }

        let costs = MetricDescriptor.cost(currency: "usd").seriesName
        let openMetrics = [("Accept", "application/openmetrics-text; version=1.0.0")]
        let pages = try await HTTP.waitFor("costs and the node's series on the aggregator's /metrics", seconds: 60) { () -> (Page, Page)? in
            let aggregatorPage = try await HTTP.get(aggregator.url + "/metrics", headers: openMetrics).body
            guard aggregatorPage.contains(costs + "{"), aggregatorPage.contains(MetricDescriptor.gpuPowerWatts.seriesName + "{") else { return nil }
            return (Page(try await HTTP.get(agent.url + "/metrics", headers: openMetrics).body), Page(aggregatorPage))
        }
        let gatewayPage = Page(try await HTTP.get(gateway.url + "/metrics", headers: openMetrics).body)
        #expect(Set(MetricDescriptor.gatewayOwnFamilies.map(\.name)).isSubset(of: gatewayPage.types.keys), "\(gatewayPage.types.keys.sorted())")
        for (daemon, page) in [("agent", pages.0), ("aggregator", pages.1), ("gateway", gatewayPage)] {
            let ours = page.types.keys.filter { $0.hasPrefix("tokenwatt_") }
            #expect(ours.count >= (daemon == "gateway" ? 20 : 25), "\(daemon): \(ours.sorted())")
            for family in ours.sorted() {
                guard let metric = MetricReferenceTests.byFamily[family] else {
                    Issue.record("\(daemon) emits \(family), which no descriptor names")
                    continue
                }
                #expect(page.types[family] == metric.type.rawValue, "\(daemon): \(family) is \(page.types[family] ?? "?"), its descriptor says \(metric.type)")
                #expect(page.helps[family] == metric.help, "\(daemon): \(family)'s help")
                let allowed = Set(metric.labels + ["node", "le", "team"])
                #expect(page.labels[family, default: []].isSubset(of: allowed), "\(daemon): \(family) carries \(page.labels[family, default: []].subtracting(allowed).sorted())")
            }
        }
        // The aggregator's families are all there but those of features this config leaves off (advice, forwarding, hard caps).
        let aggregatorFamilies = Set(MetricDescriptor.aggregatorFamilies(currency: "usd").map(\.name))
            .filter { !$0.hasPrefix("tokenwatt_advice_") && !$0.hasPrefix("tokenwatt_forward_") && !$0.hasPrefix("tokenwatt_gateway_") && !$0.hasPrefix("tokenwatt_budget_cap_") }
        #expect(aggregatorFamilies.subtracting(pages.1.types.keys).isEmpty, "missing: \(aggregatorFamilies.subtracting(pages.1.types.keys).sorted())")
        _ = (node, aggregator, agent, gateway)
    }
}
