import Foundation
import Testing
import TokenWattCore
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
        let serverPort = Environment.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: tokenwatt
                static_configs: [{targets: ['127.0.0.1:\(aggregatorPort)']}]
            """.write(toFile: "\(directory)/server.yml", atomically: true, encoding: .utf8)
        let server = try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/server.yml", "--storage.tsdb.path=\(directory)/server-data",
            "--web.listen-address=127.0.0.1:\(serverPort)",
        ], logPath: "\(directory)/server.log")
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
}
