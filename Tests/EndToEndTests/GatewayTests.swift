import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TokenWattService
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real `tokenwatt-gateway` binary with a config of its own (its callers and routes in
/// `config`), pushing to and reserving at `aggregatorPort` with a gateway's token.
struct RunningGateway {
    let process: ChildProcess
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    static func start(directory: String, name: String = "gw-0", port: Int, aggregatorPort: Int, token: String,
                      environment: [String: String] = [:], config extraConfig: String) async throws -> RunningGateway {
        let config = """
            listen: 127.0.0.1:\(port)
            interval: 1s
            aggregator: {url: "http://127.0.0.1:\(aggregatorPort)"}
            spool: {directory: \(directory)/\(name)-spool}

            """ + extraConfig
        try config.write(toFile: "\(directory)/\(name).yml", atomically: true, encoding: .utf8)
        try token.write(toFile: "\(directory)/\(name)-gateway.token", atomically: true, encoding: .utf8)
        let process = try ChildProcess(Environment.gatewayPath, ["--config", "\(directory)/\(name).yml", "--token-file", "\(directory)/\(name)-gateway.token"],
                                       logPath: "\(directory)/\(name)-\(UUID().uuidString).log", environment: environment)
        let gateway = RunningGateway(process: process, port: port)
        try await process.waitUntilServing(gateway.url + "/-/healthy", what: "the gateway \(name) to serve /-/healthy")
        return gateway
    }

    /// Its own /metrics: its requests, its tokens by caller.
    func metrics() async throws -> String {
        try await HTTP.get(url + "/metrics").body
    }
}

/// The metering gateway as `tokenwatt-gateway` (three replicas in the race), the real
/// aggregator holding the caps, and stand-in upstreams (`StandInUpstream`) speaking OpenAI's
/// and Anthropic's formats.
@Suite(.serialized) struct GatewayTests {
    /// A client with a connection per concurrent request (AsyncHTTPClient's default is 8 per host).
    static let client = OutboundClient.makeHTTPClient(connectionsPerHost: 1_000)

    struct Answer {
        var status: UInt
        var headers: HTTPHeaders
        var body: String
        var errorType: String? {
            let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
            return (object?["error"] as? [String: Any])?["type"] as? String
        }
    }

    static func post(_ url: String, key: String, _ body: [String: Any], headers: [(String, String)] = [], anthropic: Bool = false) async throws -> Answer {
        var request = HTTPClientRequest(url: url + (anthropic ? "/v1/messages" : "/v1/chat/completions"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: anthropic ? "x-api-key" : "Authorization", value: anthropic ? key : "Bearer \(key)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await client.execute(request, timeout: .seconds(60))
        let text = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: response.status.code, headers: response.headers, body: String(buffer: text))
    }

    static func chat(_ model: String, maxTokens: Int = 100, stream: Bool = false, includeUsage: Bool = false) -> [String: Any] {
        var body: [String: Any] = ["model": model, "max_tokens": maxTokens, "messages": [["role": "user", "content": "hi"]]]
        if stream { body["stream"] = true }
        if includeUsage { body["stream_options"] = ["include_usage": true] }
        return body
    }

    /// The sum of the series of `name` in an exposition whose labels hold every one of `labels`.
    static func sum(_ exposition: String, _ name: String, _ labels: [String]) -> Double {
        exposition.split(separator: "\n").filter { line in
            line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) }
        }.reduce(0) { $0 + (Double($1.split(separator: " ").last!) ?? 0) }
    }

    /// The `/api/v1/costs` groups by `by`, keyed by the labels' values joined with "/".
    static func costs(_ aggregator: RunningAggregator, by: String, from: Double) async throws -> [String: [String: Any]] {
        let body = try await HTTP.get(aggregator.url + "/api/v1/costs?from=\(Int(from))&by=\(by)").body
        let groups = ((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        var byKey: [String: [String: Any]] = [:]
        for group in groups {
            let labels = group["labels"] as? [String: String] ?? [:]
            byKey[by.split(separator: ",").map { labels[String($0)] ?? "" }.joined(separator: "/")] = group
        }
        return byKey
    }

    static func tokens(_ group: [String: Any]?, _ type: String) -> Double {
        ((group?["tokens"] as? [String: Any])?[type] as? NSNumber)?.doubleValue ?? 0
    }

    static func callers(_ count: Int) -> (yaml: String, environment: [String: String]) {
        var yaml = "callers:\n"
        var environment: [String: String] = [:]
        for index in 0..<count {
            yaml += "  - {key_env: KEY_\(index), labels: {team: team-\(index % 5), agent: agent-\(index)}}\n"
            environment["KEY_\(index)"] = "sk-caller-\(index)"
        }
        return (yaml, environment)
    }

    /// 500 requests at once from 50 callers through three gateway replicas, 20 rounds, each
    /// against its own usd and tokens caps (the usd cap binds in even rounds, the tokens cap in
    /// odd ones), each replica admitting from its slices of the caps: the tokens the upstream
    /// served never cost more than a cap, every request it served was answered 200 and counted
    /// once, every other one was refused with 429 budget_exceeded.
    @Test func concurrentRequestsThroughTheGatewayNeverOvershootACap() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            let directory = try Environment.temporaryDirectory("gateway-race")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let rounds = 20
            // Worst case of a request: 91 bytes of body / 3 = 31 input tokens + 100 output; it uses 20 + 100.
            let (usdLimit, tokenLimit) = ([0.6, 5.0], [20_000.0, 6_000.0])
            var budgets = "budgets:\n"
            for round in 0..<rounds {
                budgets += "  - {name: usd-\(round), match: {model: race-\(round)}, measure: usd, limit: \(usdLimit[round % 2]), action: block}\n"
                budgets += "  - {name: tokens-\(round), match: {model: race-\(round)}, measure: tokens, limit: \(Int(tokenLimit[round % 2])), action: block}\n"
            }
            let aggregatorPort = Environment.freePort()
            let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort,
                                                               gateways: Dictionary(uniqueKeysWithValues: (0..<3).map { ("gw-\($0)", "gw-token-\($0)") }), config: """
                cloud_prices: [{match: "race-.*", input: 10, output: 100}]
                costs: {interval: 1s}
                alerting: {evaluation_interval: 1s}
                """ + "\n" + budgets)
            let (callers, environment) = GatewayTests.callers(50)
            // Three replicas behind one address, as a load balancer spreads callers: each
            // caller's requests go to one of them, by its number.
            var replicas: [RunningGateway] = []
            for replica in 0..<3 {
                replicas.append(try await RunningGateway.start(directory: directory, name: "gw-\(replica)", port: Environment.freePort(), aggregatorPort: aggregatorPort,
                                                               token: "gw-token-\(replica)", environment: environment, config: """
                    usage: {attributes: [team, agent]}
                    \(callers)
                    routes: [{match: "race-.*", upstream: "\(upstream.url)", key_env: KEY_0}]
                    """))
            }
            let urls = replicas.map(\.url)
            let started = Date().timeIntervalSince1970
            var admitted: [Int] = []
            for round in 0..<rounds {
                let model = "race-\(round)"
                let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
                    for request in 0..<500 {
                        group.addTask { try await GatewayTests.post(urls[request % 3], key: "sk-caller-\(request % 50)", GatewayTests.chat(model)) }
                    }
                    return try await group.reduce(into: [Answer]()) { $0.append($1) }
                }
                let ok = answers.filter { $0.status == 200 }.count
                let refused = answers.filter { $0.status == 429 && $0.errorType == "budget_exceeded" }.count
                #expect(ok + refused == 500, "round \(round): \(Set(answers.map { "\($0.status) \($0.body.prefix(200))" }))")
                #expect(ok > 0 && ok < 500, "round \(round): \(ok) admitted")
                let served = upstream.tally(model)
                #expect(served.received == ok && served.finished == ok, "round \(round): \(served) for \(ok) answered 200")
                #expect(Double(served.input) * 10 / 1e6 + Double(served.output) * 100 / 1e6 <= usdLimit[round % 2], "round \(round)")
                #expect(Double(served.input + served.output) <= tokenLimit[round % 2], "round \(round)")
                admitted.append(ok)
            }
            // Each admitted request counted once: by the replica that took it (as their next collections show), and by the ledger.
            _ = try await HTTP.waitFor("the replicas to count every admitted request") { () -> Bool? in
                var expositions: [String] = []
                for replica in replicas { expositions.append(try await replica.metrics()) }
                return (0..<rounds).allSatisfy { round in
                    expositions.reduce(0) { $0 + GatewayTests.sum($1, "tokenwatt_requests_total", ["model=\"race-\(round)\"", "source=\"gateway\""]) } == Double(admitted[round])
                } ? true : nil
            }
            let total = admitted.reduce(0, +)
            _ = try await HTTP.waitFor("the ledger to hold every admitted request") { () -> Bool? in
                let groups = try await GatewayTests.costs(aggregator, by: "model", from: started - 3_600)
                return (0..<rounds).allSatisfy { (groups["race-\($0)"]?["requests"] as? NSNumber)?.intValue == admitted[$0] } ? true : nil
            }
            // Each tokens cap has spent exactly what its round's requests used, as the slices report it.
            let served = (0..<rounds).map { upstream.tally("race-\($0)") }
            var mismatched: [String] = []
            for _ in 0..<60 {
                let metrics = try await HTTP.get(aggregator.url + "/metrics").body
                mismatched = (0..<rounds).compactMap { round in
                    let spent = GatewayTests.sum(metrics, "tokenwatt_budget_cap_spent", ["budget=\"tokens-\(round)\""])
                    let leased = GatewayTests.sum(metrics, "tokenwatt_budget_cap_leased", ["budget=\"tokens-\(round)\""])
                    return spent == Double(served[round].input + served[round].output) ? nil : "round \(round): spent \(spent), leased \(leased), served \(served[round])"
                }
                if mismatched.isEmpty { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(mismatched.isEmpty, "\(mismatched)")
            var refused = 0.0
            for replica in replicas {
                refused += GatewayTests.sum(try await replica.metrics(), "tokenwatt_gateway_requests_total", ["outcome=\"budget_exceeded\""])
            }
            #expect(refused == Double(rounds * 500 - total))
            // The upstream saw the route's key only, never a caller's.
            #expect(upstream.keys("race-0") == ["Bearer sk-caller-0"])
        }
    }

    /// An aggregator, `replicas` gateways with two callers (`sk-test` of team research, `sk-ops`
    /// of team ops) and the given routes, and, given `agentConfig`, an agent.
    struct Setup {
        var directory: String
        var aggregator: RunningAggregator
        var aggregatorPort: Int
        var agent: RunningAgent?
        var replicas: [RunningGateway]
        var gatewayConfig: String
        /// The aggregator's config as it started, and its gateways' credentials.
        var aggregatorConfig: String
        var gateways: [String: String]
        static let environment = ["KEY": "sk-test", "KEY_OPS": "sk-ops"]

        /// The first replica's URL.
        var gateway: String { replicas[0].url }

        /// Starts the aggregator again from its database, on its port.
        func restartAggregator() async throws -> RunningAggregator {
            try await RunningAggregator.start(directory: directory, port: aggregatorPort, gateways: gateways, config: aggregatorConfig)
        }

        /// Starts the first replica again, as it was configured, on its port.
        func restartGateway() async throws -> RunningGateway {
            try await RunningGateway.start(directory: directory, port: replicas[0].port, aggregatorPort: aggregatorPort,
                                           token: "gw-token-0", environment: Setup.environment, config: gatewayConfig)
        }
    }

    static func withGateway(_ name: String, replicas: Int = 1, aggregatorConfig: String, agentConfig: String? = nil, gatewayConfig: String = "", routes: [String],
                            _ body: (Setup) async throws -> Void) async throws {
        let directory = try Environment.temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregatorPort = Environment.freePort()
        let credentials = Dictionary(uniqueKeysWithValues: (0..<replicas).map { ("gw-\($0)", "gw-token-\($0)") })
        let fullConfig = "costs: {interval: 1s}\nalerting: {evaluation_interval: 1s}\n" + aggregatorConfig
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort, gateways: credentials, config: fullConfig)
        let config = """
            usage: {attributes: [team]}
            callers: [{key_env: KEY, labels: {team: research}}, {key_env: KEY_OPS, labels: {team: ops}}]
            routes: [\(routes.joined(separator: ", "))]
            \(gatewayConfig)
            """
        var gateways: [RunningGateway] = []
        for replica in 0..<replicas {
            gateways.append(try await RunningGateway.start(directory: directory, name: "gw-\(replica)", port: Environment.freePort(), aggregatorPort: aggregatorPort,
                                                           token: "gw-token-\(replica)", environment: Setup.environment, config: config))
        }
        var agent: RunningAgent?
        if let agentConfig {
            agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: aggregatorPort, token: "token-1", config: agentConfig)
        }
        try await body(Setup(directory: directory, aggregator: aggregator, aggregatorPort: aggregatorPort, agent: agent, replicas: gateways, gatewayConfig: config,
                             aggregatorConfig: fullConfig, gateways: credentials))
    }

    /// Usage is counted from streams whether or not the client asked for it (and kept from
    /// the client that did not), from Anthropic's events, from a stream the client left after
    /// its first chunk, and estimated where the upstream reports none; cached input is priced
    /// at its own price.
    @Test func streamsAreCountedWhetherAskedForCutOrSilent() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("gateway-streams", aggregatorConfig: """
                cloud_prices: [{match: "s-.*", input: 1.0, cached_input: 0.1, output: 10}, {match: "claude-.*", input: 3, output: 15}]
                budgets: [{name: cap, match: {team: research}, measure: usd, limit: 100, action: block}]
                """, routes: ["{match: \"s-.*\", upstream: \"\(upstream.url)\"}", "{match: \"claude-.*\", upstream: \"\(upstream.url)\", api: anthropic}"]) { setup in
                let (aggregator, replica, gateway) = (setup.aggregator, setup.replicas[0], setup.gateway)
                let started = Date().timeIntervalSince1970
                let asked = try await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("s-asked", maxTokens: 40, stream: true, includeUsage: true))
                #expect(asked.status == 200 && asked.body.contains(#""completion_tokens":40"#) && asked.body.hasSuffix("data: [DONE]\n\n"))
                let unasked = try await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("s-unasked", maxTokens: 30, stream: true))
                #expect(unasked.status == 200 && !unasked.body.contains("usage") && unasked.body.contains("tok "))
                let claude = try await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("claude-x", maxTokens: 70, stream: true), anthropic: true)
                #expect(claude.status == 200 && claude.body.contains("message_stop"))
                let cached = try await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("s-cached", maxTokens: 50), headers: [("x-test-cached", "15")])
                #expect(cached.status == 200)
                // What it cost, on the answer: 5 uncached at 1.0, 15 cached at 0.1, 50 output at 10, per million.
                #expect(cached.headers.first(name: "x-tokenwatt-tokens") == "input=20, cached=15, output=50")
                #expect(cached.headers.first(name: "x-tokenwatt-cost") == "0.0005065 USD")
                // A stream's usage chunk (asked for) carries it too, last before [DONE]; Anthropic's in a ping; one without a usage chunk, none.
                #expect(asked.body.contains(#""tokenwatt":{"cost":0.00042"#) && asked.body.contains(#""currency":"USD","estimated":false,"tokens":{"cached_input":0,"input":20,"output":40}}"#),
                        "\(asked.body)")
                #expect(!unasked.body.contains("tokenwatt") && claude.body.contains("event: ping") && claude.body.contains(#""tokenwatt":{"cost":0.0011"#))
                // Trailers, where the client asks for them.
                let raw = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--raw", "-H", "TE: trailers", "-H", "Authorization: Bearer sk-test", "-H", "Content-Type: application/json",
                                                                       "--data", #"{"model": "s-trailers", "max_tokens": 30, "stream": true}"#, gateway + "/v1/chat/completions"],
                                                     directory: setup.directory)
                #expect(raw.status == 0 && raw.output.contains("x-tokenwatt-tokens: input=20, cached=0, output=30") && raw.output.contains("x-tokenwatt-cost: 0.00032 USD"),
                        "\(raw.output)")
                let silent = try await GatewayTests.post(gateway, key: "sk-test", GatewayTests.chat("s-silent", maxTokens: 50, stream: true),
                                                         headers: [("x-test-no-usage", "1"), ("x-test-chunks", "8")])
                #expect(silent.status == 200)

                // A client that leaves after the first chunk of a 10-chunk, 3-second stream.
                var request = HTTPClientRequest(url: gateway + "/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer sk-test")
                request.headers.add(name: "x-test-chunks", value: "10")
                request.headers.add(name: "x-test-chunk-delay-ms", value: "300")
                request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: GatewayTests.chat("s-abandoned", maxTokens: 60, stream: true))))
                let leaving = HTTPClient(eventLoopGroupProvider: .singleton)
                let response = try await leaving.execute(request, timeout: .seconds(30))
                for try await _ in response.body { break }
                try await leaving.shutdown()
                #expect(upstream.tally("s-abandoned").finished == 0)
                _ = try await HTTP.waitFor("the gateway to read the abandoned stream to its end") { upstream.tally("s-abandoned").finished == 1 ? true : nil }

                let exposition = try await HTTP.waitFor("the gateway to count the abandoned stream") { () -> String? in
                    let text = try await replica.metrics()
                    return GatewayTests.sum(text, "tokenwatt_tokens_total", ["model=\"s-abandoned\"", "type=\"output\""]) == 60 ? text : nil
                }
                func counted(_ model: String, _ type: String) -> Double {
                    GatewayTests.sum(exposition, "tokenwatt_tokens_total", ["model=\"\(model)\"", "type=\"\(type)\"", "team=\"research\""])
                }
                #expect(counted("s-asked", "output") == 40 && counted("s-unasked", "output") == 30 && counted("s-unasked", "input") == 20)
                #expect(counted("claude-x", "input") == 20 && counted("claude-x", "output") == 70)
                #expect(counted("s-cached", "cached_input") == 15)
                // No usage: input from the body's bytes / 4, output from 8 chunks of "tok " (32 bytes) / 4.
                #expect(GatewayTests.sum(exposition, "tokenwatt_tokens_total", ["model=\"s-silent\"", "type=\"output\"", "usage=\"estimated\""]) == 8)
                #expect(GatewayTests.sum(exposition, "tokenwatt_gateway_abandoned_streams_total", []) == 1)
                #expect(GatewayTests.sum(exposition, "tokenwatt_gateway_estimated_usage_total", []) == 1)
                // Cached input at its own price: 5 uncached at 1.0, 15 cached at 0.1, 50 output at 10, per million.
                let costs = try await HTTP.waitFor("the ledger to price the cached request") { () -> [String: [String: Any]]? in
                    let groups = try await GatewayTests.costs(aggregator, by: "model", from: started - 3_600)
                    return groups["s-cached"] != nil && groups["s-abandoned"] != nil ? groups : nil
                }
                let spend = (costs["s-cached"]?["cloud_spend"] as? NSNumber)?.doubleValue ?? 0
                #expect(abs(spend - (5 * 1.0 + 15 * 0.1 + 50 * 10) / 1e6) < 1e-12, "\(spend)")
                // The cap spent what the ledger priced, to the last cent's fraction: each request settled in the
                // gateway's slice at the aggregator's prices, the abandoned stream's too.
                _ = try await HTTP.waitFor("the cap to have spent what the ledger priced") { () -> Bool? in
                    let groups = try await GatewayTests.costs(aggregator, by: "model", from: started - 3_600)
                    let ledger = groups.values.reduce(0) { $0 + ((($1["cloud_spend"]) as? NSNumber)?.doubleValue ?? 0) }
                    let metrics = try await HTTP.get(aggregator.url + "/metrics").body
                    let spent = GatewayTests.sum(metrics, "tokenwatt_budget_cap_spent", ["budget=\"cap\""])
                    return groups.count == 7 && ledger > 0 && abs(spent - ledger) < 1e-12 ? true : nil
                }
            }
        }
    }

    /// Two teams' keys through two gateway replicas, one local model behind a stand-in vLLM a
    /// node's agent scrapes and one cloud model: `tokenwatt report --by team` shows each team's
    /// tokens exactly, the server's tokens counted once (shared out to the teams, whichever
    /// replica sent them), and a team's cap stops that team only.
    @Test func teamsAreAttributedEndToEndAndATeamCapStopsOnlyThatTeam() async throws {
        let upstream = StandInUpstream(localModels: ["local-llama"])
        try await upstream.run {
            try await GatewayTests.withGateway("gateway-teams", replicas: 2, aggregatorConfig: """
                electricity: {price_per_kwh: 0.10, pue: 1.0}
                cloud_prices: [{match: gpt-4o-mini, input: 0.15, output: 0.60}]
                budgets: [{name: ops-tokens, match: {team: ops}, measure: tokens, limit: 300, action: block}]
                """, agentConfig: """
                inference: {servers: [{url: "\(upstream.url)", kind: vllm}]}
                """, routes: ["{match: \"local-.*\", upstream: \"\(upstream.url)\", local: true}", "{match: \"gpt-.*\", upstream: \"\(upstream.url)\"}"]) { setup in
                let started = Date().timeIntervalSince1970
                let agent = try #require(setup.agent)
                _ = try await HTTP.waitFor("the agent to scrape the stand-in vLLM") { () -> Bool? in
                    let text = try await HTTP.get(agent.url + "/metrics").body
                    return text.contains("source=\"vllm\"") && text.contains("local-llama") ? true : nil
                }
                // Each request to the next replica.
                let sent = Mutex(0)
                func send(_ key: String, _ model: String) async throws -> Answer {
                    let replica = sent.withLock { count in
                        defer { count += 1 }
                        return setup.replicas[count % setup.replicas.count]
                    }
                    return try await GatewayTests.post(replica.url, key: key, GatewayTests.chat(model))
                }
                for model in ["local-llama", "local-llama", "local-llama", "gpt-4o-mini", "gpt-4o-mini"] { #expect(try await send("sk-test", model).status == 200) }
                // ops: 131 tokens at worst, 120 used; the third would pass 300.
                #expect(try await send("sk-ops", "local-llama").status == 200)
                #expect(try await send("sk-ops", "gpt-4o-mini").status == 200)
                // The third, at either replica, finds 60 tokens left: the other replica's slice gives back what it does not use.
                let refused = try await send("sk-ops", "gpt-4o-mini")
                #expect(refused.status == 429 && refused.errorType == "budget_exceeded" && refused.body.contains("budget ops-tokens: ")
                        && refused.body.contains(" of 300.00 tokens used"), "\(refused.body)")
                #expect(try await send("sk-test", "gpt-4o-mini").status == 200)

                // The ledger (the hours that start in the last hour, so the one in progress): research 6 × 120 tokens, ops 2 × 120, none left unattributed (the server's 480 are the gateway's 4 local requests).
                let expected = ["research": 720.0, "ops": 240.0]
                let report = try await HTTP.waitFor("the report to show each team's tokens", seconds: 60) { () -> [String: Double]? in
                    let (status, output) = try await ChildProcess.run(CLITests.cliPath, ["report", "--url", setup.aggregator.url, "--by", "team", "--format", "csv",
                                                                                         "--from", String(Int(started) - 3_600)], directory: setup.directory)
                    guard status == 0 else { return nil }
                    let lines = output.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                    guard let header = lines.first, let team = header.firstIndex(of: "team"), let tokens = header.firstIndex(of: "tokens") else { return nil }
                    var byTeam: [String: Double] = [:]
                    for line in lines.dropFirst() where line.count == header.count { byTeam[line[team], default: 0] += Double(line[tokens]) ?? 0 }
                    return byTeam.filter { $0.value != 0 } == expected ? byTeam : nil
                }
                #expect(report.filter { $0.value != 0 } == expected)
                let groups = try await GatewayTests.costs(setup.aggregator, by: "team,source", from: started - 3_600)
                #expect(GatewayTests.tokens(groups["research/gateway_local"], "input") == 60 && GatewayTests.tokens(groups["ops/gateway_local"], "output") == 100)
                #expect(((groups["research/gateway"]?["cloud_spend"]) as? NSNumber)?.doubleValue ?? 0 > 0)
                // Once the ledger has measured the local model, its answers say what they cost, drew and emitted (no carbon: configured, no grams).
                let local = try await HTTP.waitFor("a local answer costed from the ledger") { () -> Answer? in
                    let answer = try await send("sk-test", "local-llama")
                    return answer.headers.first(name: "x-tokenwatt-energy-joules") != nil ? answer : nil
                }
                let joules = Double(local.headers.first(name: "x-tokenwatt-energy-joules")?.split(separator: ";").first ?? "") ?? 0
                #expect(joules > 0 && local.headers.first(name: "x-tokenwatt-cost")?.contains(" USD") == true && local.headers.first(name: "x-tokenwatt-gco2e") == nil,
                        "\(local.headers)")
            }
        }
    }

    /// A request over a cap on a route with a fallback goes to the fallback model, reserved
    /// there, and the answer says so.
    @Test func aRequestOverACapFallsBackToTheRoutesFallbackModel() async throws {
        let upstream = StandInUpstream()
        try await upstream.run {
            try await GatewayTests.withGateway("gateway-fallback", aggregatorConfig: """
                cloud_prices: [{match: gpt-4o, input: 2.5, output: 10}, {match: gpt-4o-mini, input: 0.15, output: 0.6}]
                budgets: [{name: big-model, match: {model: gpt-4o}, measure: tokens, limit: 200, action: block}]
                """, routes: ["{match: gpt-4o, upstream: \"\(upstream.url)\", fallback: gpt-4o-mini}", "{match: gpt-4o-mini, upstream: \"\(upstream.url)\"}"]) { setup in
                let first = try await GatewayTests.post(setup.gateway, key: "sk-test", GatewayTests.chat("gpt-4o"))
                #expect(first.status == 200 && first.headers.first(name: "x-tokenwatt-fallback") == nil)
                // 120 used and 131 at worst would pass 200: sent to gpt-4o-mini instead.
                let second = try await GatewayTests.post(setup.gateway, key: "sk-test", GatewayTests.chat("gpt-4o"))
                #expect(second.status == 200 && second.headers.first(name: "x-tokenwatt-fallback") == "gpt-4o -> gpt-4o-mini")
                #expect(upstream.tally("gpt-4o").received == 1 && upstream.tally("gpt-4o-mini").received == 1)
                let exposition = try await HTTP.waitFor("the gateway to count both") { () -> String? in
                    let text = try await setup.replicas[0].metrics()
                    return GatewayTests.sum(text, "tokenwatt_requests_total", ["model=\"gpt-4o-mini\""]) == 1 ? text : nil
                }
                #expect(GatewayTests.sum(exposition, "tokenwatt_gateway_fallbacks_total", ["route=\"gpt-4o\""]) == 1)
            }
        }
    }
}
