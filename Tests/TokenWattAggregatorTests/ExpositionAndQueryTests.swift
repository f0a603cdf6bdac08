import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

@Suite struct ExpositionAndQueryTests {
    @Test func metricsShowLiveSeriesTypedAndLeaveOutStaleOnes() async throws {
        try await withAggregator { client, _ in
            let now: Int64 = 1_800_000_000_000
            let (headers, body) = push([
                ts("tokenwatt_tokens_total", ["model": "llama", "type": "output", "source": "vllm"], [(now - 10_000, 1234)]),
                ts("node_load1", [:], [(now - 20_000, 0.5)]),
                ts("old_series", [:], [(now - 6 * 60_000, 1)]),
            ])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                #expect(text.contains("""
                    # HELP tokenwatt_tokens_total Tokens processed, by model, type and source. input includes cached_input, output includes reasoning.
                    # TYPE tokenwatt_tokens_total counter
                    tokenwatt_tokens_total{model="llama",node="gpu-01",source="vllm",type="output"} 1234 \(now - 10_000)
                    """))
                #expect(text.contains("# TYPE node_load1 untyped\nnode_load1{node=\"gpu-01\"} 0.5"))
                #expect(!text.contains("old_series"))
                // What we expose must parse back.
                #expect(throws: Never.self) { try ExpositionParser(format: .prometheusText).parse(text) }
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.accept: "application/openmetrics-text;version=1.0.0"]) { response in
                #expect(response.headers[.contentType] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
                let text = String(buffer: response.body)
                #expect(text.hasSuffix("# EOF\n"))
                #expect(throws: Never.self) { try ExpositionParser(format: .openMetrics).parse(text) }
            }
        }
    }

    @Test func agentsAreUpWhilePushingAndDownAfterMissedPushes() async throws {
        let clock = Mutex<Int64>(1_800_000_000_000)
        try await withAggregator({ $0.agentPushIntervalMs = 10_000; $0.agentMissedPushes = 3 }, now: { clock.withLock { $0 } }) { client, _ in
            let (headers, body) = push([ts("up", [:], [(1_799_999_990_000, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            func exposition() async throws -> String {
                try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            }
            var text = try await exposition()
            #expect(text.contains("tokenwatt_agent_last_push_timestamp_seconds{node=\"gpu-01\"} 1800000000\n"))
            #expect(text.contains("tokenwatt_agent_up{node=\"gpu-01\"} 1\n"))
            // gpu-02 is configured but has never pushed
            #expect(text.contains("tokenwatt_agent_up{node=\"gpu-02\"} 0\n"))
            #expect(!text.contains("tokenwatt_agent_last_push_timestamp_seconds{node=\"gpu-02\"}"))
            // Three missed 10 s pushes later, gpu-01 is down
            clock.withLock { $0 += 30_000 }
            #expect(try await exposition().contains("tokenwatt_agent_up{node=\"gpu-01\"} 1\n"))
            clock.withLock { $0 += 1 }
            text = try await exposition()
            #expect(text.contains("tokenwatt_agent_up{node=\"gpu-01\"} 0\n"))
        }
    }

    @Test func seriesAndQueryRangeAnswerInPrometheusShape() async throws {
        try await withAggregator { client, _ in
            let (headers, body) = push([ts("up", ["job": "a"], [(t0, 1), (t0 + 15_000, 0)]), ts("up", ["job": "b"], [(t0, 1)])])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/v1/series?match[]=up%7Bjob%3D%22a%22%7D", method: .get) { response in
                let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect(json["status"] as? String == "success")
                #expect(json["data"] as? [[String: String]] == [["__name__": "up", "job": "a", "node": "gpu-01"]])
            }
            let start = Double(t0) / 1000
            try await client.execute(uri: "/api/v1/query_range?query=up%7Bjob%3D%22a%22%7D&start=\(start)&end=\(start + 30)&step=15", method: .get) { response in
                let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                let data = try #require(json["data"] as? [String: Any])
                #expect(data["resultType"] as? String == "matrix")
                let result = try #require(data["result"] as? [[String: Any]])
                let values = try #require(result.first?["values"] as? [[Any]])
                #expect(values.map { $0[1] as? String } == ["1", "0", "0"])
                #expect(values.map { $0[0] as? Double } == [start, start + 15, start + 30])
            }
        }
    }

    @Test(arguments: ["/api/v1/series?match[]=%7B%7D", "/api/v1/series", "/api/v1/query_range?query=up%7B&start=1&end=2&step=1",
                      "/api/v1/query_range?query=up&start=1&end=2&step=0", "/api/v1/query_range?query=up&start=x&end=2&step=1",
                      "/api/v1/query_range?query=up&start=0&end=100000&step=1"])
    func badQueriesGet400WithAReason(uri: String) async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect(json["errorType"] as? String == "bad_data")
                #expect(!(json["error"] as? String ?? "").isEmpty)
            }
        }
    }

    @Test func healthAndReadiness() async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: "/-/healthy", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/-/ready", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func evaluationUsesLookbackAndStaleMarkers() {
        let points = [Sample(timestamp: 0, value: 1), Sample(timestamp: 10, value: 2), Sample(timestamp: 20, value: Sample.staleMarker)]
        let values = QueryRangeHandler.evaluate(points, start: 0, end: 40, step: 5, lookback: 8)
        #expect(values == [Sample(timestamp: 0, value: 1), Sample(timestamp: 5, value: 1), Sample(timestamp: 10, value: 2), Sample(timestamp: 15, value: 2)])
    }
}

@Suite struct ConfigurationTests {
    @Test func parsesAFullConfig() throws {
        let configuration = try AggregatorConfiguration.parse(yaml: """
            listen: 0.0.0.0:9999
            data_dir: /var/lib/tokenwatt
            static_labels: {site: fra1}
            nodes:
              - name: gpu-01
                token_env: TOKEN_1
            ingest: {max_body_bytes: 1MiB, max_pending_samples: 1000}
            storage: {raw_retention: 7d, rollup_1m_retention: 30d}
            exposition: {staleness: 2m}
            """, file: "agg.yml", environment: ["TOKEN_1": "abc"])
        #expect(configuration.listen == ListenAddress(host: "0.0.0.0", port: 9999))
        #expect(configuration.nodes.map(\.token) == ["abc"])
        #expect(configuration.staticLabels == ["site": "fra1"])
        #expect(configuration.ingest.maxBodyBytes == 1 << 20)
        #expect(configuration.storage.rawRetentionMs == Milliseconds.week)
        #expect(configuration.storage.hourRollupRetentionMs == 5 * Milliseconds.year)
        #expect(configuration.stalenessMs == 120_000)
        #expect(configuration.anonymousNode == nil)
    }

    @Test(arguments: [
        ("listen: nowhere", "agg.yml: listen: host:port, got \"nowhere\""),
        ("storage: {raw_retention: soon}", "agg.yml: storage.raw_retention: a duration such as 30s, 5m, 1h or 15d, got \"soon\""),
        ("retention: 5d", "agg.yml: retention: no such key (known keys: advice, agents, alerting, budgets, carbon, cloud_prices, costs, currency, data_dir, electricity, exposition, gateways, ingest, listen, node_classes, nodes, receivers, remote_write, shadow_prices, static_labels, storage, web)"),
        ("remote_write: [{url: \"mimir:9009\"}]", "agg.yml: remote_write[0].url: the receiver's remote-write URL"),
        ("electricity: {pue: 0.9}", "agg.yml: electricity.pue: a PUE of at least 1.0"),
        ("cloud_prices: [{match: \"gpt-(\", input: 1, output: 2}]", "agg.yml: cloud_prices[0].match: a valid regular expression"),
        ("node_classes: [{match: {node: x}, purchase_date: 2026-02-30}]", "agg.yml: node_classes[0].purchase_date: a date such as 2026-01-15, got \"2026-02-30\""),
        ("cloud_prices: [{match: a, input: 1, output: 2}]\nshadow_prices: [{local: b, cloud: c}]", "agg.yml: shadow_prices[0].cloud: a model one of cloud_prices (or, in USD, the built-in list of tokenwatt prices) matches; none matches \"c\""),
        ("budgets: [{name: b, limit: 10, receivers: [nobody]}]", "agg.yml: budgets[0].receivers[0]: the name of a receiver under receivers"),
        ("budgets: [{name: b, limit: 10, period: {every: year}}]", "agg.yml: budgets[0].period.every: day, week or month"),
        ("budgets: [{name: b, limit: 10, measure: kwh, match: {team: x}}]", "agg.yml: budgets[0].match: only node matchers for a kwh budget"),
        ("budgets: [{name: b, limit: 10, measure: gco2e}]", "agg.yml: budgets[0].measure: carbon: with the grid's intensity_g_per_kwh for a gco2e budget"),
        ("carbon: {intensity_g_per_kwh: 300}\nbudgets: [{name: b, limit: 10, measure: gco2e, action: block}]",
         "agg.yml: budgets[0].action: alert for a gco2e budget (requests are capped in money or tokens)"),
        ("budgets: [{name: b, limit: 10, per: session}]", "agg.yml: budgets[0].per: a hard cap (action: block): sessions are known to the gateway only"),
        ("budgets: [{name: b, limit: 10, per: team, action: block}]", "agg.yml: budgets[0].per: session (a cap for each agent session or run)"),
        ("budgets: [{name: b, limit: 10, action: block, keep: 7d}]", "agg.yml: budgets[0].keep: nothing: keep is for a cap per session (per: session)"),
        ("carbon: {schedule: [{from: \"10:00\", to: \"16:00\", intensity_g_per_kwh: 90}]}", "agg.yml: carbon.intensity_g_per_kwh: a number"),
        ("carbon: {intensity_g_per_kwh: -5}", "agg.yml: carbon.intensity_g_per_kwh: a number of at least 0, got \"-5\""),
        ("budgets: [{name: b, limit: 10, runaway: {factor: 1}}]", "agg.yml: budgets[0].runaway.factor: a factor above 1"),
        ("receivers: [{name: r, webhook: {url: \"http://x\"}, slack: {url: \"http://y\"}}]", "agg.yml: receivers[0]: exactly one of webhook, slack or alertmanager"),
        ("nodes: [{name: a}]", "agg.yml: nodes[0]: token_file or token_env (or client_cert_cn"),
        ("nodes: [{name: a, client_cert_cn: a}]", "agg.yml: nodes[0].client_cert_cn: web.tls_server_config with client_ca_file"),
        ("nodes: [{name: a, token_env: NOPE}]", "agg.yml: nodes[0].token_env: the environment variable NOPE to hold the token; it is unset or empty"),
        ("ingest: {max_pending_samples: -1}", "agg.yml: ingest.max_pending_samples: a positive integer, got -1"),
        ("static_labels: {node: x}", "agg.yml: static_labels.node: a label name other than node, matching [a-zA-Z_][a-zA-Z0-9_]*"),
        ("listen: [", "agg.yml: (document): valid YAML"),
    ])
    func invalidConfigNamesFileKeyAndExpectation(yaml: String, message: String) {
        Self.expectRefused(yaml, message)
    }

    /// No listener and config take writes from the network without a credential: beyond
    /// loopback, no nodes means no start; with nodes, a push without a token is refused. Nor
    /// reads: beyond loopback, no readers means no start unless reads are opened on purpose.
    @Test(arguments: [
        // (listen, nodes listed, web:, starts, a push without a credential is taken)
        ("127.0.0.1:9470", false, "", true, true),
        ("127.0.0.1:9470", true, "", true, false),
        ("[::1]:9470", false, "", true, true),
        ("localhost:9470", false, "", true, true),
        ("0.0.0.0:9470", false, "", false, false),
        ("0.0.0.0:9470", true, "", false, false),
        ("0.0.0.0:9470", true, "{readers: [{name: grafana, token_env: R}]}", true, false),
        ("0.0.0.0:9470", true, "{basic_auth_users: {finops: \"\(ConfigurationTests.hash)\"}}", true, false),
        ("0.0.0.0:9470", true, "{unauthenticated_reads: true}", true, false),
        ("0.0.0.0:9470", true, "{unauthenticated_metrics: true}", false, false),
        ("0.0.0.0:9470", false, "{unauthenticated_reads: true}", false, false),
        (":9470", false, "", false, false),
        ("[::]:9470", false, "", false, false),
        ("10.0.0.5:9470", true, "{readers: [{name: grafana, token_env: R}]}", true, false),
        ("gpu-head.example.com:9470", false, "", false, false),
    ] as [(String, Bool, String, Bool, Bool)])
    func noListenerTakesWritesOrAnswersReadsWithoutACredentialBeyondLoopback(listen: String, nodes: Bool, web: String, starts: Bool, anonymous: Bool) throws {
        let yaml = "listen: \"\(listen)\"\n" + (nodes ? "nodes: [{name: a, token_env: T}]\n" : "") + (web.isEmpty ? "" : "web: \(web)\n")
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, file: "agg.yml", environment: ["T": "secret", "R": "reader"])
        #expect(((try? configuration.checkListener(source: "agg.yml")) != nil) == starts)
        let senders = SenderAuthenticator(credentials: configuration.nodes + configuration.gateways, anonymousNode: configuration.unauthenticatedNode)
        #expect((senders.sender(authorization: nil) != nil) == anonymous)
        #expect(senders.sender(authorization: "Bearer secret")?.name == (nodes ? "a" : nil))
    }

    static let hash = "$2b$10$" + String(repeating: "a", count: 53)

    @Test func readsOpenedOnPurposeAndReadersListedContradictEachOther() {
        Self.expectRefused("web: {unauthenticated_reads: true, readers: [{name: r, token_env: R}]}",
                           "agg.yml: web.unauthenticated_reads: false, or no readers and users: reads are either open to anyone or need a credential",
                           environment: ["R": "reader"])
    }

    /// One credential, one right: a node's push token listed as a reader's, or as a gateway's,
    /// is refused; a gateway's name is its own too (the `node` label of what it pushes).
    @Test(arguments: [
        ("nodes: [{name: a, token_env: T}]\nweb: {readers: [{name: r, token_env: T}]}",
         "agg.yml: web.readers: reader tokens other than the nodes' and gateways' tokens (reader r has one of theirs)"),
        ("gateways: [{name: g, token_env: T}]\nweb: {readers: [{name: r, token_env: T}]}",
         "agg.yml: web.readers: reader tokens other than the nodes' and gateways' tokens (reader r has one of theirs)"),
        ("nodes: [{name: a, token_env: T}]\ngateways: [{name: g, token_env: T}]", "agg.yml: gateways[0]: a token no other node or gateway uses"),
        ("nodes: [{name: a, token_env: T}]\ngateways: [{name: a, token_env: U}]", "agg.yml: gateways[0].name: a name no other node or gateway has"),
    ] as [(String, String)])
    func aCredentialHasOneRight(yaml: String, message: String) {
        Self.expectRefused(yaml, message, environment: ["T": "same", "U": "other"])
    }

    /// Gateways are credentials: an aggregator beyond loopback with gateways only starts, and
    /// takes no push without one; a gateway's token names a gateway.
    @Test func gatewaysAreCredentialsOfTheirOwnRole() throws {
        let configuration = try AggregatorConfiguration.parse(yaml: "listen: 0.0.0.0:9470\ngateways: [{name: gw-1, token_env: G}]\nweb: {unauthenticated_reads: true}\n",
                                                               file: "agg.yml", environment: ["G": "gateway-secret"])
        try configuration.checkListener(source: "agg.yml")
        let senders = SenderAuthenticator(credentials: configuration.nodes + configuration.gateways, anonymousNode: configuration.unauthenticatedNode)
        #expect(senders.sender(authorization: nil) == nil)
        let gateway = try #require(senders.sender(authorization: "Bearer gateway-secret"))
        #expect(gateway.name == "gw-1" && gateway.reserves)
        let tokens = MetricDescriptor.tokens.seriesName
        #expect(gateway.mayPush(name: tokens, source: "gateway") && gateway.mayPush(name: tokens, source: "gateway_local"))
        #expect(gateway.mayPush(name: MetricDescriptor.gatewayOverheadDurationSeconds.name + "_bucket", source: nil))
        #expect(!gateway.mayPush(name: tokens, source: "vllm") && !gateway.mayPush(name: tokens, source: nil))
        #expect(!gateway.mayPush(name: MetricDescriptor.gpuPowerWatts.seriesName, source: nil) && !gateway.mayPush(name: "up", source: nil))
        let anonymous = SenderAuthenticator(credentials: [], anonymousNode: "this-host")
        let local = try #require(anonymous.sender(authorization: nil))
        #expect(local.reserves && local.mayPush(name: MetricDescriptor.gpuPowerWatts.seriesName, source: nil))
        // Without credentials an agent and a gateway on one host push under names of their own,
        // so their own series (spool, pushes, collectors) do not mix; any other sender is the host.
        #expect(anonymous.sender(authorization: nil, userAgent: "tokenwatt-gateway")?.name == "this-host-gateway")
        #expect(anonymous.sender(authorization: nil, userAgent: "tokenwatt-agent")?.name == "this-host")
        #expect(anonymous.sender(authorization: nil, userAgent: "Prometheus/2.42.0")?.name == "this-host")
        let node = try #require(SenderAuthenticator(credentials: [SenderCredential(name: "gpu-01", token: "n")], anonymousNode: nil)
            .sender(authorization: "Bearer n"))
        #expect(!node.reserves && node.mayPush(name: tokens, source: "vllm"))
    }

    static func expectRefused(_ yaml: String, _ message: String, environment: [String: String] = [:]) {
        do {
            _ = try AggregatorConfiguration.parse(yaml: yaml, file: "agg.yml", environment: environment)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix(message))
        }
    }
}

@Suite struct QueryStringTests {
    @Test func decodesPercentEncodedNamesAndValues() {
        let query = QueryString("match%5B%5D=up%7Bjob%3D%22a%22%7D&match[]=b+c&empty=&flag")
        #expect(query.all("match[]") == ["up{job=\"a\"}", "b c"])
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query["missing"] == nil)
    }
}
