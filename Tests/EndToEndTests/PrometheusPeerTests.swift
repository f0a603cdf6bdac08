import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// TokenWatt beside the real Prometheus 2.42, node_exporter and promtool (Debian packages that
/// the test command installs).
@Suite(.serialized) struct PrometheusPeerTests {
    @Test func prometheusAgentRemoteWritesNodeExporterAndPrometheusScrapesTheAggregator() async throws {
        let directory = try Environment.temporaryDirectory("peers")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, tokens: ["agent-node": "agent-token"])

        // (a) Prometheus in agent mode scrapes node_exporter and remote-writes with a bearer token.
        let exporterPort = Environment.freePort()
        let exporter = try ChildProcess("/usr/bin/prometheus-node-exporter", ["--web.listen-address=127.0.0.1:\(exporterPort)"],
                                        logPath: "\(directory)/node-exporter.log")
        try "agent-token".write(toFile: "\(directory)/agent.token", atomically: true, encoding: .utf8)
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: node
                static_configs: [{targets: ['127.0.0.1:\(exporterPort)']}]
            remote_write:
              - url: \(aggregator.url)/api/v1/write
                authorization: {credentials_file: \(directory)/agent.token}
                queue_config: {batch_send_deadline: 1s}
            """.write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        let agent = try ChildProcess("/usr/bin/prometheus", [
            "--enable-feature=agent", "--config.file=\(directory)/agent.yml", "--storage.agent.path=\(directory)/agent-data",
            "--web.listen-address=127.0.0.1:\(Environment.freePort())",
        ], logPath: "\(directory)/agent.log")

        let labels = try await HTTP.waitFor("node_exporter series in the aggregator") { () -> String? in
            let body = try await HTTP.get(aggregator.url + "/api/v1/series?match[]=node_cpu_seconds_total").body
            return body.contains("node_cpu_seconds_total") ? body : nil
        }
        #expect(labels.contains("\"node\":\"agent-node\""))
        #expect(labels.contains("\"job\":\"node\""))

        // A model name with a quote, a newline, a backslash and non-ASCII letters, pushed as a node
        // would: it must reach Prometheus through our exposition exactly as it was sent.
        let hostileModel = "a\"b\nc\\d ü"
        let hostile = TimeSeries(labels: try LabelSet(dictionary: ["__name__": "tokenwatt_tokens_total", "model": hostileModel, "type": "input"]),
                                 samples: [Sample(timestamp: Int64(Date().timeIntervalSince1970 * 1000), value: 42)])
        #expect(try await aggregator.push([hostile], token: "agent-token") == 204)
        let metrics = try await HTTP.get(aggregator.url + "/metrics").body
        #expect(metrics.contains("# TYPE node_cpu_seconds_total counter"))
        #expect(metrics.contains("node_load1{instance=\"127.0.0.1:\(exporterPort)\",job=\"node\",node=\"agent-node\"}"))
        let types = metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(Set(types).count == types.count, "a family typed twice")

        // (c) promtool finds nothing to report on TokenWatt's own names.
        try metrics.write(toFile: "\(directory)/metrics.prom", atomically: true, encoding: .utf8)
        let lint = try await ChildProcess.run("/bin/sh", ["-c", "promtool check metrics < \(directory)/metrics.prom"], directory: directory)
        #expect(!lint.output.contains("tokenwatt_"), "promtool: \(lint.output)")

        // (b) A Prometheus server scrapes the aggregator; its query API sees our series.
        let (server, serverPort) = try PrometheusPeerTests.prometheus(scraping: aggregatorPort, in: directory)
        let query = "http://127.0.0.1:\(serverPort)/api/v1/query?query=" +
            "node_load1%7Bnode%3D%22agent-node%22%7D%20and%20on()%20tokenwatt_aggregator_samples_total%20%3E%200"
        let answer = try await HTTP.waitFor("Prometheus to query the aggregator's series") { () -> String? in
            let body = try await HTTP.get(query).body
            return body.contains("\"node\":\"agent-node\"") ? body : nil
        }
        #expect(answer.contains("\"status\":\"success\""))
        let scraped = try await HTTP.waitFor("Prometheus to scrape the hostile model name") { () -> [String]? in
            let body = try await HTTP.get("http://127.0.0.1:\(serverPort)/api/v1/query?query=tokenwatt_tokens_total").body
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            let result = (object?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
            let models = result.compactMap { ($0["metric"] as? [String: String])?["model"] }
            return models.isEmpty ? nil : models
        }
        #expect(scraped == [hostileModel])
        let health = try await HTTP.get("http://127.0.0.1:\(serverPort)/api/v1/targets").body
        #expect(health.contains("\"health\":\"up\""))
        #expect(!health.contains("\"lastError\":\"") || health.contains("\"lastError\":\"\""), "scrape errors: \(health)")
        _ = (exporter, agent, server)
    }

    /// A Prometheus server scraping the aggregator every second, and the port of its API;
    /// `honorLabels` keeps the pushed series' own `job` and `instance`.
    static func prometheus(scraping aggregatorPort: Int, in directory: String, honorLabels: Bool = false) throws -> (ChildProcess, Int) {
        let serverPort = Environment.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: tokenwatt
                honor_labels: \(honorLabels)
                static_configs: [{targets: ['127.0.0.1:\(aggregatorPort)']}]
            """.write(toFile: "\(directory)/server.yml", atomically: true, encoding: .utf8)
        let server = try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/server.yml", "--storage.tsdb.path=\(directory)/server-data",
            "--web.listen-address=127.0.0.1:\(serverPort)",
        ], logPath: "\(directory)/server.log")
        return (server, serverPort)
    }

    /// Two nodes push what real exporters send: `acme_jobs_total` beside `acme_jobs` and
    /// `acme_jobs_created`, and the gateway's histogram with their buckets in any order. The
    /// aggregator's OpenMetrics page must still hold each family once, whole and in order: the
    /// Python `prometheus_client` OpenMetrics parser (strict: one clash refuses the page) reads
    /// it, and Prometheus 2.42 scrapes it without an error.
    @Test func clashingNamesAndHistogramsMakeAPageStrictParsersRead() async throws {
        let directory = try Environment.temporaryDirectory("families")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort,
                                                           tokens: ["node-a": "token-a", "node-b": "token-b"])
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func series(_ name: String, _ labels: [String: String], _ value: Double) -> TimeSeries {
            TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": name]) { $1 }), samples: [Sample(timestamp: now, value: value)])
        }
        let histogram = "tokenwatt_gateway_upstream_duration_seconds"
        for token in ["token-a", "token-b"] {
            let buckets = ["10": 4.0, "+Inf": 5, "0.5": 1, "2": 3].map { series(histogram + "_bucket", ["route": "chat", "le": $0.key], $0.value) }
            #expect(try await aggregator.push([
                series("acme_jobs_total", [:], 7), series("acme_jobs", [:], 3), series("acme_jobs_created", [:], 1_700_000_000),
                series(histogram + "_sum", ["route": "chat"], 9.5), series(histogram + "_count", ["route": "chat"], 5),
            ] + buckets, token: token) == 204)
        }
        let page = try await HTTP.get(aggregator.url + "/metrics", headers: [("Accept", "application/openmetrics-text; version=1.0.0")]).body
        try page.write(toFile: "\(directory)/metrics.om", atomically: true, encoding: .utf8)
        let parse = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            families = {f.name: (f.type, len(f.samples)) for f in text_string_to_metric_families(open(sys.argv[1]).read())}
            for name in ["acme_jobs", "acme_jobs_total", "acme_jobs_created", "\(histogram)"]:
                print(name, *families[name])
            """
        let parsed = try await ChildProcess.run(Environment.python, ["-c", parse, "\(directory)/metrics.om"], directory: directory)
        #expect(parsed.status == 0, "prometheus_client refused the page: \(parsed.output)")
        // Each clashing series keeps its own name, untyped; the histogram is whole: 4 buckets, sum and count, per node.
        #expect(parsed.output.contains("acme_jobs unknown 2\nacme_jobs_total unknown 2\nacme_jobs_created unknown 2\n\(histogram) histogram 12"),
                "\(parsed.output)")

        let (server, serverPort) = try PrometheusPeerTests.prometheus(scraping: aggregatorPort, in: directory)
        let query = "http://127.0.0.1:\(serverPort)/api/v1/query?query=count(%7B__name__%3D~%22acme_jobs.*%7C\(histogram)_bucket%22%7D)"
        let answer = try await HTTP.waitFor("Prometheus to scrape the clashing names") { () -> String? in
            let body = try await HTTP.get(query).body
            return body.contains("\"14\"") ? body : nil
        }
        #expect(answer.contains("\"status\":\"success\""))
        let targets = try await HTTP.get("http://127.0.0.1:\(serverPort)/api/v1/targets").body
        #expect(targets.contains("\"health\":\"up\"") && targets.contains("\"lastError\":\"\""), "scrape errors: \(targets)")
        _ = server
    }

    /// A late push that raises the energy cost and turns an idle hour busy, seen by a real
    /// Prometheus scraping the aggregator every second: no cost counter resets, and increase()
    /// over the span is the ledger's change.
    @Test func prometheusSeesNoResetWhenLateDataCorrectsTheLedger() async throws {
        let directory = try Environment.temporaryDirectory("ledger-counters")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            electricity: {price_per_kwh: 0.10}
            costs: {interval: 1s}
            storage: {maintenance_interval: 1s, rollup_delay: 1s}
            """)
        let hour: Int64 = Milliseconds.hour
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let current = now - now % hour
        func counter(_ name: String, _ labels: [String: String], from: Int64, to: Int64, perHour: Double, skipping idle: Range<Int64>? = nil) -> TimeSeries {
            let times = stride(from: from, through: to, by: 60_000).filter { time in !(idle?.contains(time - 1) ?? false) }
            return TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": name]) { $1 }),
                              samples: times.map { Sample(timestamp: $0, value: Double($0 - from) / Double(hour) * perHour) })
        }
        let idleHour = (current - 2 * hour)..<(current - hour)
        let tokens = ["model": "llama", "type": "output", "source": "vllm"]
        // Three hours and what there is of this one: 1 kWh/h from GPU 0, tokens in all hours but one.
        #expect(try await aggregator.push([
            counter("tokenwatt_gpu_energy_joules_total", ["gpu": "0"], from: current - 3 * hour, to: now - 1_000, perHour: 3.6e6),
            counter("tokenwatt_tokens_total", tokens, from: current - 3 * hour, to: now - 1_000, perHour: 1e6, skipping: idleHour),
        ]) == 204)
        func ledgerEnergy() async throws -> Double? {
            let body = try await HTTP.get(aggregator.url + "/api/v1/costs?from=0&by=node").body
            let data = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any]
            let group = (data?["groups"] as? [[String: Any]])?.first
            return (group?["components"] as? [String: Any])?["energy"] as? Double
        }
        var energyBefore = try await HTTP.waitFor("the ledger to count three hours") { () -> Double? in
            let energy = try await ledgerEnergy()
            return energy.map { $0 >= 0.3 } == true ? energy : nil
        }

        let serverPort = Environment.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs: [{job_name: tokenwatt, static_configs: [{targets: ['\(aggregator.url.dropFirst("http://".count))']}]}]
            """.write(toFile: "\(directory)/server.yml", atomically: true, encoding: .utf8)
        let server = try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/server.yml", "--storage.tsdb.path=\(directory)/server-data",
            "--web.listen-address=127.0.0.1:\(serverPort)",
        ], logPath: "\(directory)/server.log")
        /// The values of an instant query, by the series' `component` label (or "" without one).
        func query(_ promql: String, at time: Double? = nil) async throws -> [String: Double] {
            var url = "http://127.0.0.1:\(serverPort)/api/v1/query?query=" + promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            if let time { url += "&time=\(time)" }
            let body = try await HTTP.get(url).body
            let data = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any]
            var values: [String: Double] = [:]
            for result in data?["result"] as? [[String: Any]] ?? [] {
                let labels = result["metric"] as? [String: String] ?? [:]
                values[labels["component"] ?? ""] = ((result["value"] as? [Any])?.last as? String).flatMap(Double.init)
            }
            return values
        }
        let energyMetric = "tokenwatt_cost_usd_total{component=\"energy\",method=\"measured\"}"
        // The ledger may still be counting the last hours (on a busy machine it can lag the
        // first read): what Prometheus scrapes is compared with the ledger as it is then.
        energyBefore = try await HTTP.waitFor("Prometheus to scrape the ledger's counters") { () -> Double? in
            guard let ledger = try await ledgerEnergy(), let scraped = try await query(energyMetric)["energy"] else { return nil }
            return abs(scraped - ledger) < 1e-9 ? ledger : nil
        }
        let idleBefore = try #require(try await query("tokenwatt_idle_cost_usd_total")[""])
        #expect(abs(idleBefore - 0.1) < 1e-9)
        try await Task.sleep(for: .seconds(5))
        let start = Date().timeIntervalSince1970

        // Late: GPU 1's energy in the first hour (+1 kWh, +0.10) and the idle hour's tokens.
        #expect(try await aggregator.push([
            counter("tokenwatt_gpu_energy_joules_total", ["gpu": "1"], from: current - 3 * hour, to: current - 2 * hour, perHour: 3.6e6),
            counter("tokenwatt_tokens_total", tokens, from: idleHour.lowerBound - 60_000, to: idleHour.upperBound, perHour: 1e6),
        ]) == 204)
        let energyAfter = try await HTTP.waitFor("the ledger to book the late hour") { () -> Double? in
            let energy = try await ledgerEnergy()
            return energy.map { $0 > energyBefore + 0.05 } == true ? energy : nil
        }
        #expect(abs(energyAfter - energyBefore - 0.1) < 1e-9)
        _ = try await HTTP.waitFor("Prometheus to scrape the corrected counters") { () -> Bool? in
            try await query(energyMetric)["energy"].map { abs($0 - energyAfter) < 1e-9 } == true ? true : nil
        }
        try await Task.sleep(for: .seconds(5))
        let end = Date().timeIntervalSince1970
        // Two scrapes more than the time since `start`, so that the range holds a scrape from
        // before the late push however soon after it the ledger moved.
        let span = Int((end - start).rounded(.up)) + 2

        // The ledger's idle total fell by the hour's 0.10; the published counter holds.
        let idleAfter = try #require(try await query("tokenwatt_idle_cost_usd_total")[""])
        #expect(abs(idleAfter - idleBefore) < 1e-9)
        for counter in ["tokenwatt_cost_usd_total", "tokenwatt_idle_cost_usd_total", "tokenwatt_cloud_equivalent_usd_total"] {
            let resets = try await query("max(resets(\(counter)[\(span)s]))", at: end)
            #expect(resets == ["": 0], "\(counter): \(resets)")
        }
        // Exactly, from the scraped values; and through increase(), which extrapolates to the range's edges.
        let first = try await query(energyMetric, at: start)["energy"], last = try await query(energyMetric, at: end)["energy"]
        #expect(abs((last ?? 0) - (first ?? 0) - (energyAfter - energyBefore)) < 1e-9)
        let increase = try #require(try await query("increase(\(energyMetric)[\(span)s])", at: end)["energy"])
        // Extrapolation adds at most a scrape interval (1 s) at each edge; a reset would add the whole total (over 0.3).
        #expect(abs(increase - 0.1) <= 0.1 * 2 / Double(span - 2), "increase() over \(span) s: \(increase)")
        _ = server
    }
}
