import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport

/// The web overview in a real browser: headless Chromium (Debian's package) loads every page
/// of an aggregator fed by an agent (fake NVML, a stand-in vLLM, an application's usage report)
/// and a gateway's series, behind a reader's user; every figure in the DOM (`data-key`,
/// `data-value`) is checked against the JSON API, the page against console messages and
/// addresses elsewhere, its layout at 1,280×800 and 1,920×1,080 (`scripts/layout-check.js`),
/// and a screenshot of each page at both widths is saved (`TOKENWATT_SCREENSHOTS`, else the
/// test's folder).
@Suite(.serialized) struct WebOverviewTests {
    static let chromium = "/usr/bin/chromium"
    static let llama = TokenFlowTests.model

    /// Runs Chromium headless on `url`; its output (the DOM with `--dump-dom`) and log.
    static func browse(_ url: String, _ arguments: [String], directory: String) async throws -> String {
        let result = try await ChildProcess.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                                                           "--user-data-dir=\(directory)/chromium-profile", "--enable-logging=stderr", "--v=0"]
                                                    + arguments + [url], directory: directory)
        #expect(result.status == 0, "\(result.output)")
        return result.output
    }

    /// The figures of a page: `data-key` → `data-value` (nil where unknown).
    static func figures(_ dom: String) -> [String: Double?] {
        let pattern = try! NSRegularExpression(pattern: #"data-key="([^"]*)" data-value="([^"]*)""#)
        var figures: [String: Double?] = [:]
        for match in pattern.matches(in: dom, range: NSRange(dom.startIndex..., in: dom)) {
            let key = String(dom[Range(match.range(at: 1), in: dom)!]).replacingOccurrences(of: "&amp;", with: "&")
            figures[key] = Double(String(dom[Range(match.range(at: 2), in: dom)!]))
        }
        return figures
    }

    /// What `scripts/layout-check.js` found on a page.
    struct LayoutReport: Decodable {
        var wide: [String]
        var svgText: [String]
        var timeAxes: [String]
        var iso: [String]
        var charts: Int
        var timeCharts: Int
        var times: Int

        var problems: [String] { wide + svgText + timeAxes + iso.map { "ISO timestamp as text: \($0)" } }
    }

    /// The layout checks on `html` in a window of `width` × `height`: the page as served, with
    /// the checks' script added at its end, loaded from a file.
    static func layout(_ html: String, width: Int, height: Int, directory: String) async throws -> LayoutReport {
        let script = try String(contentsOf: DeployTests.root.appendingPathComponent("scripts/layout-check.js"), encoding: .utf8)
        let file = "\(directory)/layout-\(width).html"
        try html.replacingOccurrences(of: "</body>", with: "<script>\(script)</script></body>").write(toFile: file, atomically: true, encoding: .utf8)
        let dom = try await browse("file://\(file)", ["--dump-dom", "--window-size=\(width),\(height)", "--hide-scrollbars"], directory: directory)
        let json = try #require(dom.firstMatch(of: #/<pre id="layout-report">(.*?)</pre>/#)?.output.1, "\(dom.suffix(2_000))")
        let text = String(json).replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        do {
            return try JSONDecoder().decode(LayoutReport.self, from: Data(text.utf8))
        } catch {
            Issue.record("the layout report: \(text)")
            throw error
        }
    }

    static func attribute(_ name: String, in dom: String) -> String? {
        guard let range = dom.range(of: "data-\(name)=\"") else { return nil }
        return String(dom[range.upperBound...].prefix { $0 != "\"" })
    }

    static func same(_ page: Double??, _ api: Any?) -> Bool {
        let expected = (api as? Double) ?? (api as? Int).map(Double.init)
        switch (page, expected) {
        case (.some(.some(let value)), let expected?): return abs(value - expected) <= 1e-9 * max(1, abs(expected))
        case (.some(.none), nil): return true  // unknown on both
        default: return false
        }
    }

    @Test func everyPageShowsTheAPIsFiguresInARealBrowser() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: WebOverviewTests.chromium), "scripts/install-dependencies.sh --with-test-peers installs chromium")
        let directory = try Environment.temporaryDirectory("web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let screenshots = ProcessInfo.processInfo.environment["TOKENWATT_SCREENSHOTS"] ?? "\(directory)/screenshots"
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)

        let hash = try await ChildProcess.run(Environment.python, ["-c", "import bcrypt; print(bcrypt.hashpw(b'finops-pass', bcrypt.gensalt(10)).decode())"],
                                              directory: directory).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let reader = [("Authorization", "Basic " + Data("finops:finops-pass".utf8).base64EncodedString())]
        let node = try await WorkingNode.start(directory: directory)

        // Energy only (no capex or overhead accruing with the hour), so the ledger holds still once the agent stops.
        let port = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: port, tokens: ["gpu-01": "token-1", "gpu-02": "token-2"], config: """
            electricity: {price_per_kwh: 0.12, pue: 1.3}
            carbon: {intensity_g_per_kwh: 350}
            cloud_prices: [{match: "gpt-5-mini.*", input: 0.25, cached_input: 0.025, output: 2.00}]
            shadow_prices: [{local: "meta-llama/.*", cloud: gpt-5-mini}]
            costs: {interval: 1s}
            advice: {window: 3m}
            receivers: [{name: finops, webhook: {url: "http://127.0.0.1:\(Environment.freePort())/hook"}}]
            budgets: [{name: fleet-daily, measure: usd, limit: 0.00001, period: {every: day}, forecast: {window: 1h}, receivers: [finops]}]
            alerting: {evaluation_interval: 1s, delivery: {min_backoff: 1s}}
            web: {basic_auth_users: {finops: "\(hash)"}}
            """, reader: reader)
        let agent = try await node.agent(directory: directory, aggregatorPort: port)
        // A gateway on gpu-02: 12 requests forwarded, 3 refused by a budget.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let gateway = { (outcome: String, value: Double) in
            TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "tokenwatt_gateway_requests_total", "route": "meta-llama/.*", "outcome": outcome]),
                       samples: [Sample(timestamp: now, value: value)])
        }
        #expect(try await aggregator.push([gateway("forwarded", 12), gateway("budget_exceeded", 3)], token: "token-2") == 204)
        // And the tokens it metered for research on a cloud route: a minute of them.
        let metered = { (type: String, value: Double) in
            TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "tokenwatt_tokens_total", "source": "gateway", "provider": "openai", "model": "gpt-5-mini",
                                                          "type": type, "team": "research"]),
                       samples: [Sample(timestamp: now - 60_000, value: 0), Sample(timestamp: now, value: value)])
        }
        #expect(try await aggregator.push([metered("input", 40_000), metered("output", 9_000)], token: "token-2") == 204)

        let work = node.work()
        // (JSON writes the model's slash as \/.)
        let modelName = String(WebOverviewTests.llama.split(separator: "/").last ?? "")
        for (what, path, text) in [("the ledger", "/api/v1/costs?by=model", modelName), ("the budget's alert", "/api/v1/alerts", "fleet-daily"),
                                   ("the advice", "/api/v1/advice", modelName)] {
            _ = try await HTTP.waitFor(what, seconds: 60) { try await HTTP.get(aggregator.url + path, headers: reader).body.contains(text) ? true : nil }
        }
        work.cancel()
        await agent.process.kill(signal: SIGTERM)
        try await Task.sleep(for: .seconds(3))  // the last push in the ledger

        func api(_ path: String) async throws -> Any? {
            let body = try await HTTP.get(aggregator.url + path, headers: reader).body
            return (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"]
        }
        let credentialed = "http://finops:finops-pass@127.0.0.1:\(port)"
        var checked = 0
        for section in ["", "costs", "budgets", "advice", "gateway"] {
            let url = "\(credentialed)/\(section)"
            // The advice and the fleet's figures move with time (the advisor's round is a second
            // here): page and API are read until they agree, which on a loaded machine takes tries.
            var mismatches: [String] = []
            for _ in 0..<15 {
                let dom = try await WebOverviewTests.browse(url, ["--dump-dom"], directory: directory)
                #expect(!dom.contains("CONSOLE"), "console messages on /\(section): \(dom.split(separator: "\n").filter { $0.contains("CONSOLE") })")
                #expect(dom.range(of: #"(src|href)="https?://"#, options: .regularExpression) == nil, "/\(section) loads something from elsewhere")
                #expect(dom.contains("<main id=\"\(section.isEmpty ? "fleet" : section)\""), "/\(section): \(dom.prefix(500))")
                let figures = WebOverviewTests.figures(dom)
                mismatches = try await WebOverviewTests.compare(section, figures: figures, dom: dom, api: api)
                checked += figures.count
                if mismatches.isEmpty { break }
                try await Task.sleep(for: .seconds(1))
            }
            #expect(mismatches.isEmpty, "/\(section): \(mismatches)")
            let html = try await HTTP.get(aggregator.url + "/" + section, headers: reader).body
            for (width, height) in [(1_280, 800), (1_920, 1_080)] {
                let report = try await WebOverviewTests.layout(html, width: width, height: height, directory: directory)
                #expect(report.problems.isEmpty, "/\(section) at \(width)×\(height): \(report.problems)")
                if section != "costs" && section != "gateway" { #expect(report.times > 0, "/\(section): times as <time> with their instant") }
                if ["", "costs", "budgets"].contains(section) { #expect(report.timeCharts > 0, "/\(section) draws its time chart") }
                let file = "\(screenshots)/\(section.isEmpty ? "fleet" : section)-\(width).png"
                _ = try await WebOverviewTests.browse(url, ["--screenshot=\(file)", "--window-size=\(width),\(height + 500)", "--hide-scrollbars"], directory: directory)
                let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
                #expect(size > 10_000, "\(file): \(size) bytes")
            }
        }
        #expect(checked > 40)
        #expect(try await HTTP.get(aggregator.url + "/costs").status == 401)
        _ = (node, aggregator)
    }

    /// Each figure of a page against the API's answer; the mismatches.
    static func compare(_ section: String, figures: [String: Double?], dom: String, api: (String) async throws -> Any?) async throws -> [String] {
        var mismatches: [String] = []
        func check(_ key: String, _ expected: Any?) {
            if !same(figures[key], expected) { mismatches.append("\(key): page \(String(describing: figures[key])), API \(String(describing: expected))") }
        }
        switch section {
        case "":
            let nodes = try await api("/api/v1/fleet") as? [[String: Any]] ?? []
            #expect(nodes.count == 2)
            for node in nodes {
                let name = node["node"] as? String ?? ""
                for field in ["gpus", "power_watts", "gpu_utilization", "gpu_temperature_max_celsius", "cpu_utilization", "tokens_per_second"] {
                    check("node.\(name).\(field)", node[field] is NSNull ? nil : node[field])
                }
            }
            // The fake NVML's GPU: 612 W, 87 %, 64 °C.
            check("node.gpu-01.power_watts", 612.0)
            check("node.gpu-01.gpu_utilization", 0.87)
            check("node.gpu-01.gpu_temperature_max_celsius", 64.0)
        case "costs":
            let from = attribute("from", in: dom) ?? "", to = attribute("to", in: dom) ?? ""
            let byModel = (try await api("/api/v1/costs?from=\(from)&to=\(to)&by=model") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
            #expect(byModel.count >= 2)
            for group in byModel {
                let model = (group["labels"] as? [String: String])?["model"] ?? ""
                for field in ["on_prem_cost", "cost_per_million_tokens", "cloud_equivalent_per_million_tokens", "savings", "cloud_spend", "gco2e_per_million_tokens"] {
                    check("model.\(model).\(field)", group[field])
                }
            }
            check("total.cost", byModel.compactMap { $0["cost"] as? Double }.reduce(0, +))
            let byTeam = (try await api("/api/v1/costs?from=\(from)&to=\(to)&by=team") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
            for group in byTeam { check("team.\((group["labels"] as? [String: String])?["team"] ?? "").cost", group["cost"]) }
            let byNode = (try await api("/api/v1/costs?from=\(from)&to=\(to)&by=node") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
            for group in byNode { check("node.\((group["labels"] as? [String: String])?["node"] ?? "").idle_cost", group["idle_cost"]) }
        case "budgets":
            let budgets = try await api("/api/v1/budgets") as? [[String: Any]] ?? []
            #expect(budgets.count == 1)
            for budget in budgets {
                let name = budget["name"] as? String ?? ""
                for field in ["spent", "limit", "used_ratio"] { check("budget.\(name).\(field)", budget[field]) }
                // The forecast moves with the clock (the burn rate times the time left): within 5 %.
                let page = figures["budget.\(name).forecast"] ?? nil, api = budget["forecast"] as? Double
                if let page, let api, abs(page - api) > 0.05 * api { mismatches.append("budget.\(name).forecast: page \(page), API \(api)") }
                if (page == nil) != (api == nil) { mismatches.append("budget.\(name).forecast: page \(String(describing: page)), API \(String(describing: api))") }
            }
            #expect(dom.contains("Burn-down of fleet-daily"))
            #expect(dom.contains("fleet-daily") && dom.contains("finops"), "the alert and its receiver")
        case "advice":
            let advice = try await api("/api/v1/advice") as? [String: Any] ?? [:]
            guard attribute("computed-at", in: dom).flatMap(Double.init) == advice["computed_at"] as? Double else {
                return ["advice computed at \(attribute("computed-at", in: dom) ?? "?") on the page, \(advice["computed_at"] ?? "?") by the API"]
            }
            for recommendation in advice["recommendations"] as? [[String: Any]] ?? [] {
                let model = recommendation["model"] as? String ?? ""
                #expect(dom.contains("data-model=\"\(model)\" data-action=\"\(recommendation["action"] as? String ?? "")\""))
                for node in recommendation["nodes"] as? [[String: Any]] ?? [] {
                    for field in ["tokens_per_second", "watts", "marginal_cost_per_million_tokens", "average_cost_per_million_tokens", "cloud_price_per_million_tokens"] {
                        check("advice.\(model).\(node["node"] as? String ?? "").\(field)", node[field] is NSNull ? nil : node[field])
                    }
                }
            }
        default:
            if !dom.contains("team=research") { mismatches.append("the gateway's caller team=research is missing") }
            check("gateway.gpu-02.meta-llama/.*.forwarded", 12.0)
            check("gateway.gpu-02.meta-llama/.*.budget_exceeded", 3.0)
            check("gateway.denied", 3.0)
        }
        return mismatches
    }
}
