import Foundation
import Testing
import TokenWattCore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Budget alerts from the real aggregator to receivers that check them independently: a
/// webhook receiver verifying Standard Webhooks signatures with the `standardwebhooks` PyPI
/// package, and the real Alertmanager 0.25 relaying to a webhook.
@Suite(.serialized) struct AlertDeliveryTests {
    /// Verifies each request with `standardwebhooks`, answers 500 to the first two (the first
    /// with `Retry-After: 5`, time for the test to kill the aggregator before the next) and 200
    /// after, and writes every attempt (id, verified, type) to a JSON file.
    static let signedReceiver = #"""
        import http.server, json, sys, threading
        from standardwebhooks.webhooks import Webhook
        port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        hook = Webhook(secret)
        attempts = []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = hook.verify(body, {name.lower(): value for name, value in self.headers.items()})
                    verified, kind = True, payload.get("type")
                except Exception as error:
                    verified, kind = False, str(error)
                with lock:
                    attempts.append({"id": self.headers.get("webhook-id"), "verified": verified, "type": kind})
                    count = len(attempts)
                    with open(log, "w") as file:
                        json.dump(attempts, file)
                self.send_response(401 if not verified else 500 if count <= 2 else 200)
                if verified and count == 1:
                    self.send_header("Retry-After", "5")
                self.end_headers()

        http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#

    struct Attempt: Decodable {
        var id: String?
        var verified: Bool
        var type: String?
    }

    static func attempts(_ path: String) -> [Attempt] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return (try? JSONDecoder().decode([Attempt].self, from: data)) ?? []
    }

    static func tokens(_ value: Double, at timestamp: Int64) -> [TimeSeries] {
        [TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "tokenwatt_tokens_total", "model": "m", "type": "output", "source": "vllm"]),
                    samples: [Sample(timestamp: timestamp, value: value)])]
    }

    @Test func aSignedWebhookIsRetriedThroughARestartAndArrivesOnce() async throws {
        guard FileManager.default.isExecutableFile(atPath: Environment.python) else {
            Issue.record("no \(Environment.python): run scripts/install-dependencies.sh --with-test-peers")
            return
        }
        let directory = try Environment.temporaryDirectory("webhook")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = "whsec_" + Data((0..<24).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        try secret.write(toFile: "\(directory)/webhook.secret", atomically: true, encoding: .utf8)
        try AlertDeliveryTests.signedReceiver.write(toFile: "\(directory)/receiver.py", atomically: true, encoding: .utf8)
        let receiverPort = Environment.freePort()
        let log = "\(directory)/attempts.json"
        let receiver = try ChildProcess(Environment.python, ["\(directory)/receiver.py", "\(receiverPort)", secret, log],
                                        logPath: "\(directory)/receiver.log")
        _ = try await HTTP.waitFor("the receiver") { try await HTTP.get("http://127.0.0.1:\(receiverPort)/").status }

        let config = """
            receivers: [{name: finops, webhook: {url: "http://127.0.0.1:\(receiverPort)/hook", secret_file: \(directory)/webhook.secret}}]
            budgets:
              - {name: output-tokens, measure: tokens, limit: 1000, thresholds: [0.5], receivers: [finops]}
            alerting: {evaluation_interval: 1s, delivery: {min_backoff: 1s}}
            """
        let port = Environment.freePort()
        var aggregator = try await RunningAggregator.start(directory: directory, port: port, config: config)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try await aggregator.push(AlertDeliveryTests.tokens(100, at: now - 2_000)) == 204)
        #expect(try await aggregator.push(AlertDeliveryTests.tokens(700, at: now - 1_000)) == 204)

        // The first attempt gets 500 and Retry-After; the aggregator is killed and started again
        // before the next, which the new process makes no sooner than asked.
        _ = try await HTTP.waitFor("the first attempt") { AlertDeliveryTests.attempts(log).count >= 1 ? true : nil }
        let firstAttempt = Date()
        _ = try await HTTP.waitFor("the first failure in the outbox") { [url = aggregator.url] in
            try await HTTP.get(url + "/api/v1/alerts").body.contains("\"attempts\":1") ? true : nil
        }
        await aggregator.process.kill(signal: SIGKILL)
        aggregator = try await RunningAggregator.start(directory: directory, port: port, config: config)
        _ = try await HTTP.waitFor("the third attempt, answered 200") { AlertDeliveryTests.attempts(log).count >= 3 ? true : nil }
        #expect(Date().timeIntervalSince(firstAttempt) >= 4.5, "Retry-After: 5 was not honoured across the restart")
        try await Task.sleep(for: .seconds(3))  // time for anything that should not come

        let attempts = AlertDeliveryTests.attempts(log)
        #expect(attempts.count == 3, "\(attempts.map { "\($0.id ?? "?") \($0.type ?? "?")" })")
        #expect(attempts.allSatisfy { $0.verified })
        #expect(Set(attempts.compactMap(\.id)).count == 1)
        #expect(attempts.first?.type == "threshold")
        let alerts = try await HTTP.get(aggregator.url + "/api/v1/alerts").body
        #expect(alerts.contains("\"status\":\"delivered\""))
        let metrics = try await HTTP.get(aggregator.url + "/metrics").body
        #expect(metrics.contains("tokenwatt_alert_deliveries_total{outcome=\"delivered\",receiver=\"finops\"} 1"))
        #expect(metrics.contains("tokenwatt_budget_used_ratio{budget=\"output-tokens\",unit=\"tokens\"} 0.6"))
        _ = receiver
    }

    /// Writes every JSON body it is sent to a file, one per line, and answers 200.
    static let sink = #"""
        import http.server, sys
        port, log = int(sys.argv[1]), sys.argv[2]

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with open(log, "ab") as file:
                    file.write(body.replace(b"\n", b" ") + b"\n")
                self.send_response(200)
                self.end_headers()

        http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#

    /// The notifications Alertmanager sent the sink: (status, alertname, budget) of each alert.
    static func notifications(_ path: String) -> [(status: String, alertname: String, budget: String)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").flatMap { line -> [(status: String, alertname: String, budget: String)] in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return ((object?["alerts"] as? [[String: Any]]) ?? []).map { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                return (alert["status"] as? String ?? "", labels["alertname"] ?? "", labels["budget"] ?? "")
            }
        }
    }

    @Test func alertmanagerRelaysARunawayAlertFiringThenResolved() async throws {
        let directory = try Environment.temporaryDirectory("alertmanager")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sinkPort = Environment.freePort()
        try AlertDeliveryTests.sink.write(toFile: "\(directory)/sink.py", atomically: true, encoding: .utf8)
        let sink = try ChildProcess("/usr/bin/env", ["python3", "\(directory)/sink.py", "\(sinkPort)", "\(directory)/notifications.log"],
                                    logPath: "\(directory)/sink.log")
        let alertmanagerPort = Environment.freePort()
        try """
            route: {receiver: sink, group_by: [budget], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
            receivers:
              - name: sink
                webhook_configs: [{url: "http://127.0.0.1:\(sinkPort)/", send_resolved: true}]
            """.write(toFile: "\(directory)/alertmanager.yml", atomically: true, encoding: .utf8)
        let check = try await ChildProcess.run("/usr/bin/amtool", ["check-config", "\(directory)/alertmanager.yml"], directory: directory)
        #expect(check.status == 0, "amtool: \(check.output)")
        let alertmanager = try ChildProcess("/usr/bin/prometheus-alertmanager", [
            "--config.file=\(directory)/alertmanager.yml", "--storage.path=\(directory)/alertmanager-data",
            "--web.listen-address=127.0.0.1:\(alertmanagerPort)", "--cluster.listen-address=",
        ], logPath: "\(directory)/alertmanager.log")
        _ = try await HTTP.waitFor("Alertmanager") { try await HTTP.get("http://127.0.0.1:\(alertmanagerPort)/-/ready").status == 200 ? true : nil }

        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), config: """
            receivers: [{name: am, alertmanager: {url: "http://127.0.0.1:\(alertmanagerPort)"}}]
            budgets:
              - name: burst-watch
                measure: tokens
                limit: 1e12
                runaway: {window: 4s, baseline: 1m, factor: 10, min_rate: 50}
                receivers: [am]
            alerting: {evaluation_interval: 1s, delivery: {min_backoff: 1s}}
            """)
        // A burst from nothing: 1000 tokens in two seconds, then silence.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (offset, value) in [(-2_000, 0.0), (-1_000, 500), (0, 1_000)] {
            #expect(try await aggregator.push(AlertDeliveryTests.tokens(value, at: now + Int64(offset))) == 204)
        }
        let log = "\(directory)/notifications.log"
        let firing = try await HTTP.waitFor("the firing notification") {
            AlertDeliveryTests.notifications(log).first { $0.status == "firing" }
        }
        #expect(firing.alertname == "TokenWattBudgetRunaway")
        #expect(firing.budget == "burst-watch")
        // Once the rate falls back, the alert is resolved with endsAt and Alertmanager says so.
        let resolved = try await HTTP.waitFor("the resolved notification", seconds: 40) {
            AlertDeliveryTests.notifications(log).first { $0.status == "resolved" }
        }
        #expect(resolved.alertname == "TokenWattBudgetRunaway")
        let alerts = try await HTTP.get(aggregator.url + "/api/v1/alerts").body
        #expect(alerts.contains("\"type\":\"runaway\"") && alerts.contains("\"type\":\"resolved\""))
        _ = (sink, alertmanager)
    }
}
