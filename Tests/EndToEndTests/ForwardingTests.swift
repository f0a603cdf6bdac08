import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The aggregator forwarding with remote write to a real Prometheus 2.42 receiver, through an
/// outage of the receiver.
@Suite(.serialized) struct ForwardingTests {
    static func prometheus(_ directory: String, port: Int) throws -> ChildProcess {
        try "global: {scrape_interval: 1m}\n".write(toFile: "\(directory)/receiver.yml", atomically: true, encoding: .utf8)
        return try ChildProcess("/usr/bin/prometheus", [
            "--config.file=\(directory)/receiver.yml", "--storage.tsdb.path=\(directory)/receiver-data",
            "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
        ], logPath: "\(directory)/receiver-\(UUID().uuidString).log")
    }

    static func series(_ name: String, _ labels: [String: String], from start: Int64, count: Int, value: (Int) -> Double) -> TimeSeries {
        TimeSeries(labels: try! LabelSet(dictionary: labels.merging(["__name__": name]) { $1 }),
                   samples: (0..<count).map { Sample(timestamp: start + Int64($0) * 1_000, value: value($0)) })
    }

    @Test func everythingStoredReachesTheReceiverThroughItsOutage() async throws {
        let directory = try Environment.temporaryDirectory("forward")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let receiverPort = Environment.freePort()
        var receiver = try ForwardingTests.prometheus(directory, port: receiverPort)
        let receiverURL = "http://127.0.0.1:\(receiverPort)"
        _ = try await HTTP.waitFor("the receiver") { try await HTTP.get(receiverURL + "/-/ready").status == 200 ? true : nil }
        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            remote_write: [{name: central, url: "\(receiverURL)/api/v1/write", headers: {X-Scope-OrgID: site-a}}]
            costs: {interval: 1s}
            """)
        func count(_ query: String) async throws -> Double? {
            let body = try await HTTP.get(receiverURL + "/api/v1/query?query=" + query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!).body
            let data = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any]
            guard let first = (data?["result"] as? [[String: Any]])?.first, let value = first["value"] as? [Any] else { return nil }
            return Double(value[1] as? String ?? "")
        }
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 40_000
        let cpu = { (from: Int64, offset: Int) in
            ForwardingTests.series("tokenwatt_cpu_seconds_total", ["mode": "user"], from: from, count: 10) { Double(offset + $0) }
        }
        #expect(try await aggregator.push([ForwardingTests.series("forward_probe", ["part": "a"], from: start, count: 10) { Double($0) }, cpu(start, 0)]) == 204)
        _ = try await HTTP.waitFor("the first ten samples at the receiver") {
            try await count("count_over_time(forward_probe{node=\"gpu-01\"}[10m])") == 10 ? true : nil
        }

        // The receiver goes away; pushes go on.
        await receiver.kill(signal: SIGTERM)
        #expect(try await aggregator.push([ForwardingTests.series("forward_probe", ["part": "a"], from: start + 10_000, count: 10) { Double(10 + $0) },
                                           cpu(start + 10_000, 10)]) == 204)
        let backlog = try await HTTP.waitFor("a backlog for the target") { () -> String? in
            let metrics = try await HTTP.get(aggregator.url + "/metrics").body
            return metrics.split(separator: "\n").first { $0.hasPrefix("tokenwatt_forward_backlog_samples{target=\"central\"}") && !$0.hasSuffix(" 0") }.map(String.init)
        }
        #expect(!backlog.isEmpty)

        // It comes back: everything arrives, in order, nothing dropped.
        receiver = try ForwardingTests.prometheus(directory, port: receiverPort)
        _ = try await HTTP.waitFor("all twenty samples at the receiver", seconds: 60) {
            try await count("count_over_time(forward_probe{node=\"gpu-01\"}[10m])") == 20 ? true : nil
        }
        #expect(try await count("max_over_time(forward_probe{node=\"gpu-01\"}[10m])") == 19)
        // The cost series go too.
        _ = try await HTTP.waitFor("the cost series at the receiver") {
            try await count("count(tokenwatt_cost_usd_total{node=\"gpu-01\"})") == 5 ? true : nil
        }
        let metrics = try await HTTP.get(aggregator.url + "/metrics").body
        #expect(metrics.contains("tokenwatt_forward_samples_total{result=\"dropped\",target=\"central\"} 0\n"))
        _ = receiver
    }
}

/// Forwarding with remote write 2.0, opted into per target, to a receiver that takes it: a
/// second aggregator.
@Suite(.serialized) struct ForwardingV2Tests {
    @Test func aTargetThatAsksFor2Point0GetsItAndStoresEverySample() async throws {
        let directory = try Environment.temporaryDirectory("forward-v2")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/central", withIntermediateDirectories: true)
        let central = try await RunningAggregator.start(directory: directory + "/central", port: Environment.freePort(), tokens: ["site-a": "site-token"])
        try "site-token".write(toFile: "\(directory)/site.token", atomically: true, encoding: .utf8)
        let site = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            remote_write: [{name: central, url: "\(central.url)/api/v1/write", token_file: \(directory)/site.token, protobuf_message: io.prometheus.write.v2.Request}]
            """)
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 20_000
        #expect(try await site.push([ForwardingTests.series("forward_v2_probe_total", ["part": "a"], from: start, count: 10) { Double($0) }]) == 204)
        let stored = try await HTTP.waitFor("the ten samples at the central aggregator", seconds: 60) { () -> String? in
            let body = try await HTTP.get(central.url + "/api/v1/query_range?query=forward_v2_probe_total&start=\(start / 1000 - 1)&end=\(start / 1000 + 20)&step=1").body
            return body.components(separatedBy: "],[").count >= 10 ? body : nil
        }
        #expect(stored.contains("\"part\":\"a\""))
        // The site's forwarder counted them sent, none dropped.
        let metrics = try await HTTP.get(site.url + "/metrics").body
        #expect(metrics.contains("tokenwatt_forward_samples_total{result=\"sent\",target=\"central\"} 10"), "\(metrics.split(separator: "\n").filter { $0.contains("forward") })")
    }
}
