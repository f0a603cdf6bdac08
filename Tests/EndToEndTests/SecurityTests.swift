import AsyncHTTPClient
import Foundation
import Testing
import TokenWattCore
import TokenWattService
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Nobody in where they do not belong: TLS with certificates made by openssl, readers for every
/// read, and no listener beyond loopback that takes writes without a credential.
@Suite(.serialized) struct SecurityTests {
    /// A CA, a server certificate for 127.0.0.1 signed by it, another CA nobody trusts, and a
    /// server certificate that expired in 2020, all made with openssl.
    struct Certificates {
        let directory: String
        var ca: String { directory + "/ca.crt" }
        var otherCA: String { directory + "/other-ca.crt" }

        static func make(in directory: String) async throws -> Certificates {
            let script = #"""
                set -e
                cd "$1"
                key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
                key ca.key; openssl req -x509 -new -key ca.key -out ca.crt -days 30 -subj "/CN=TokenWatt test CA"
                key other-ca.key; openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 30 -subj "/CN=Someone else's CA"
                printf 'subjectAltName=IP:127.0.0.1\n' > san.cnf
                issue() { # name serial [startdate enddate]
                    key "$1.key"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=127.0.0.1"
                    if [ -n "${3:-}" ]; then
                        touch index.txt; printf '%s\n' "$2" > serial
                        printf '[ca]\ndefault_ca=t\n[t]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
                        openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -startdate "$3" -enddate "$4" -extfile san.cnf -in "$1.csr" -out "$1.crt" 2>/dev/null
                    else
                        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "$2" -days 30 -extfile san.cnf -out "$1.crt" 2>/dev/null
                    fi
                }
                issue server 4096
                issue renewed 8192
                issue expired 1234 20200101000000Z 20200102000000Z
                client() { # name common-name ca
                    key "$1.key"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
                    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -set_serial 77 -days 30 -out "$1.crt" 2>/dev/null
                }
                client gpu-02 gpu-02 ca
                client gpu-03 gpu-03 ca
                client forged gpu-02 other-ca
                key expired-client.key; openssl req -new -key expired-client.key -out expired-client.csr -subj "/CN=gpu-02"
                openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -startdate 20200101000000Z -enddate 20200102000000Z \
                    -in expired-client.csr -out expired-client.crt 2>/dev/null
                """#
            try script.write(toFile: "\(directory)/make-certificates.sh", atomically: true, encoding: .utf8)
            let result = try await ChildProcess.run("/bin/sh", ["\(directory)/make-certificates.sh", directory], directory: directory)
            #expect(result.status == 0, "\(result.output)")
            return Certificates(directory: directory)
        }

        /// The serial number of the certificate a TLS server at `port` shows now, as openssl reads it.
        func servedSerial(port: Int) async throws -> String {
            let result = try await ChildProcess.run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial"],
                                                    directory: directory)
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A temporary folder with the certificates, and a client that trusts their CA, for `body`.
    static func withCertificates(_ name: String, _ body: (String, Certificates, HTTPClient) async throws -> Void) async throws {
        let directory = try Environment.temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try await Certificates.make(in: directory)
        let trusting = try SecurityTests.client(ca: certificates.ca)
        defer { _ = trusting.shutdown() }
        try await body(directory, certificates, trusting)
    }

    /// A remote-write body with one sample of `name`, and the headers a push sends with it.
    static func write(_ name: String) throws -> [UInt8] {
        RemoteWriteCodec.encode([TimeSeries(labels: try LabelSet(dictionary: ["__name__": name]), samples: [Sample(timestamp: TimeBounds.nowMilliseconds(), value: 1)])])
    }

    static let writeHeaders = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"), ("X-Prometheus-Remote-Write-Version", "0.1.0")]

    static func client(ca: String) throws -> HTTPClient {
        try OutboundClient.makeHTTPClient(tls: TLSClientConfiguration(caFile: ca))
    }

    /// The aggregator with `web:` as given, nodes gpu-01 (token push-token), on a free port.
    static func startAggregator(directory: String, web: String, scheme: String = "http", client: HTTPClient = .shared,
                                nodes: String = "", remoteWrite: String = "") async throws -> (ChildProcess, String, Int) {
        let port = Environment.freePort()
        try "push-token".write(toFile: "\(directory)/gpu-01.token", atomically: true, encoding: .utf8)
        try """
            listen: 127.0.0.1:\(port)
            data_dir: \(directory)/data
            nodes:
              - {name: gpu-01, token_file: \(directory)/gpu-01.token}
            \(nodes)\(remoteWrite)web:
            \(web)
            """.write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(Environment.aggregatorPath, ["--config", "\(directory)/aggregator.yml"], logPath: "\(directory)/aggregator.log")
        let url = "\(scheme)://127.0.0.1:\(port)"
        _ = try await HTTP.waitFor("the aggregator to be healthy") { try await HTTP.get(url + "/-/healthy", client: client).status == 200 ? true : nil }
        return (process, url, port)
    }

    @Test func pushesGoOverTLSAndAWrongCAOrAnExpiredCertificateIsRefused() async throws {
        let directory = try Environment.temporaryDirectory("tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try await Certificates.make(in: directory)
        let trusting = try SecurityTests.client(ca: certificates.ca)
        let distrusting = try SecurityTests.client(ca: certificates.otherCA)
        defer {
            _ = trusting.shutdown()
            _ = distrusting.shutdown()
        }
        try "reader-token".write(toFile: "\(directory)/reader.token", atomically: true, encoding: .utf8)
        let (aggregator, url, port) = try await SecurityTests.startAggregator(directory: directory, web: """
              tls_server_config: {cert_file: \(directory)/server.crt, key_file: \(directory)/server.key}
              readers: [{name: ops, token_file: \(directory)/reader.token}]
            """, scheme: "https", client: trusting)
        defer { _ = aggregator }

        // The agent pushes over TLS, checking the aggregator against the CA.
        let agentPort = Environment.freePort()
        let agent = try await RunningAgent.start(directory: directory, port: agentPort, aggregatorPort: port, token: "push-token",
                                                 aggregatorURL: "\(url)/api/v1/write",
                                                 config: "aggregator: {tls_config: {ca_file: \(certificates.ca)}}\n")
        let reader = [("Authorization", "Bearer reader-token")]
        let series = try await HTTP.waitFor("the agent's samples over TLS") {
            let answer = try await HTTP.get(url + "/api/v1/series?match[]=tokenwatt_cpu_seconds_total", headers: reader, client: trusting)
            return answer.status == 200 && answer.body.contains("gpu-01") ? answer.body : nil
        }
        #expect(series.contains("\"node\":\"gpu-01\""))
        _ = try await HTTP.waitFor("the agent to count its pushes") {
            try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}").flatMap { $0 > 0 ? $0 : nil }
        }

        // The CLI reads with the CA and a reader's token, and is refused without the token.
        let cli = Environment.binDirectory + "/tokenwatt"
        let withToken = try await ChildProcess.run(cli, ["budgets", "--url", url, "--ca-file", certificates.ca, "--token-file", "\(directory)/reader.token"],
                                                   directory: directory)
        #expect(withToken.status == 0, "\(withToken.output)")
        let withoutToken = try await ChildProcess.run(cli, ["budgets", "--url", url, "--ca-file", certificates.ca], directory: directory)
        #expect(withoutToken.status == 1)
        let withoutCA = try await ChildProcess.run(cli, ["budgets", "--url", url, "--token-file", "\(directory)/reader.token"], directory: directory)
        #expect(withoutCA.status == 1 && withoutCA.output.contains("cannot reach"), "\(withoutCA.output)")

        // A client that trusts another CA, and a plain-HTTP client, get nowhere.
        await #expect(throws: (any Error).self) { try await HTTP.get(url + "/-/healthy", client: distrusting) }
        await #expect(throws: (any Error).self) { try await HTTP.get("http://127.0.0.1:\(port)/-/healthy") }

        // An aggregator serving an expired certificate: the agent's pushes are refused by the
        // agent itself (the certificate is checked), and the samples wait in its spool.
        let expiredDirectory = try Environment.temporaryDirectory("tls-expired")
        defer { try? FileManager.default.removeItem(atPath: expiredDirectory) }
        let expiredPort = Environment.freePort()
        try """
            listen: 127.0.0.1:\(expiredPort)
            data_dir: \(expiredDirectory)/data
            nodes: [{name: gpu-01, token_file: \(directory)/gpu-01.token}]
            web: {tls_server_config: {cert_file: \(directory)/expired.crt, key_file: \(directory)/expired.key}}
            """.write(toFile: "\(expiredDirectory)/aggregator.yml", atomically: true, encoding: .utf8)
        let expired = try ChildProcess(Environment.aggregatorPath, ["--config", "\(expiredDirectory)/aggregator.yml"], logPath: "\(expiredDirectory)/aggregator.log")
        defer { _ = expired }
        try await Task.sleep(for: .seconds(1))
        await #expect(throws: (any Error).self) { try await HTTP.get("https://127.0.0.1:\(expiredPort)/-/healthy", client: trusting) }
        #expect(expired.isRunning)
        let second = try await RunningAgent.start(directory: expiredDirectory, port: Environment.freePort(), aggregatorPort: expiredPort, token: "push-token",
                                                  aggregatorURL: "https://127.0.0.1:\(expiredPort)/api/v1/write",
                                                  config: "aggregator: {tls_config: {ca_file: \(certificates.ca)}}\n")
        let failures = try await HTTP.waitFor("the agent to refuse the expired certificate") {
            try await second.metric("tokenwatt_agent_pushes_total{result=\"retry\"}").flatMap { $0 > 0 ? $0 : nil }
        }
        #expect(failures > 0)
        #expect(try await second.metric("tokenwatt_agent_pushes_total{result=\"success\"}") ?? 0 == 0)
        #expect(try await second.metric("tokenwatt_agent_spool_samples") ?? 0 > 0)
    }

    /// A renewed certificate is served after SIGHUP, to new connections, while the agent keeps
    /// pushing: no push fails across the reload.
    @Test func sighupServesARenewedCertificateWithoutDroppingPushes() async throws {
        try await SecurityTests.withCertificates("tls-reload") { directory, certificates, trusting in
            for name in ["crt", "key"] { try FileManager.default.copyItem(atPath: "\(directory)/server.\(name)", toPath: "\(directory)/live.\(name)") }
            let (aggregator, url, port) = try await SecurityTests.startAggregator(directory: directory, web: """
                  tls_server_config: {cert_file: \(directory)/live.crt, key_file: \(directory)/live.key}
                """, scheme: "https", client: trusting)
            defer { _ = aggregator }
            #expect(try await certificates.servedSerial(port: port) == "serial=1000")  // 4096
            let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: port, token: "push-token",
                                                     aggregatorURL: "\(url)/api/v1/write",
                                                     config: "aggregator: {tls_config: {ca_file: \(certificates.ca)}}\n")
            _ = try await HTTP.waitFor("a first push") {
                try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}").flatMap { $0 > 0 ? $0 : nil }
            }
            // Renewed as certbot does: each file replaced whole (rename), then the signal.
            for name in ["crt", "key"] { #expect(rename("\(directory)/renewed.\(name)", "\(directory)/live.\(name)") == 0) }
            kill(aggregator.pid, SIGHUP)
            _ = try await HTTP.waitFor("the renewed certificate to be served") {
                try await certificates.servedSerial(port: port) == "serial=2000" ? true : nil  // 8192
            }
            #expect(aggregator.isRunning)
            #expect(aggregator.log.contains("TLS certificate reloaded"))
            let before = try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}") ?? 0
            _ = try await HTTP.waitFor("pushes after the reload") {
                try await agent.metric("tokenwatt_agent_pushes_total{result=\"success\"}").flatMap { $0 >= before + 3 ? $0 : nil }
            }
            #expect(try await agent.metric("tokenwatt_agent_pushes_total{result=\"retry\"}") ?? 0 == 0)
            #expect(try await agent.metric("tokenwatt_agent_pushes_total{result=\"rejected\"}") ?? 0 == 0)
        }
    }

    /// Every read without, with a wrong and with a right credential; a push token cannot read
    /// and a reader cannot push. The bcrypt hash is made by Python's `bcrypt`, not by us.
    @Test func everyReadNeedsAReaderAndNoCredentialDoesAnothersWork() async throws {
        let directory = try Environment.temporaryDirectory("readers")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hash = try await ChildProcess.run(Environment.python, ["-c", "import bcrypt; print(bcrypt.hashpw(b'grafana-pass', bcrypt.gensalt(10)).decode())"],
                                              directory: directory).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$2b$10$"))
        try "reader-token".write(toFile: "\(directory)/reader.token", atomically: true, encoding: .utf8)
        let (aggregator, url, _) = try await SecurityTests.startAggregator(directory: directory, web: """
              readers: [{name: ops, token_file: \(directory)/reader.token}]
              basic_auth_users: {grafana: "\(hash)"}
            """)
        defer { _ = aggregator }
        let basic = { (user: String, password: String) in ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()) }
        let reads = ["/metrics", "/-/ready", "/api/v1/series?match[]=up", "/api/v1/query_range?query=up&start=0&end=60&step=15",
                     "/api/v1/tokens", "/api/v1/costs", "/api/v1/budgets", "/api/v1/alerts", "/api/v1/advice", "/api/v1/fleet",
                     "/api/v1/whatif?set=electricity.pue%3D1.2", "/", "/costs", "/budgets", "/advice", "/gateway"]
        for path in reads {
            for refused in [[], [("Authorization", "Bearer wrong")], [("Authorization", "Bearer push-token")], [basic("grafana", "wrong")], [basic("nobody", "grafana-pass")]] {
                #expect(try await HTTP.get(url + path, headers: refused).status == 401, "\(path) with \(refused)")
            }
            for allowed in [[("Authorization", "Bearer reader-token")], [basic("grafana", "grafana-pass")]] {
                let status = try await HTTP.get(url + path, headers: allowed).status
                #expect(status != 401 && status < 500, "\(path) with \(allowed): \(status)")
            }
        }
        #expect(try await HTTP.get(url + "/-/healthy").status == 200)
        let write = try SecurityTests.write("up")
        let headers = SecurityTests.writeHeaders
        #expect(try await HTTP.post(url + "/api/v1/write", body: write, headers: headers + [("Authorization", "Bearer reader-token")]).status == 401)
        #expect(try await HTTP.post(url + "/api/v1/write", body: write, headers: headers + [("Authorization", "Bearer push-token")]).status == 204)
        // `unauthenticated_metrics: true` opens /metrics alone.
        let openDirectory = directory + "/open-metrics"
        try FileManager.default.createDirectory(atPath: openDirectory, withIntermediateDirectories: true)
        let (open, openURL, _) = try await SecurityTests.startAggregator(directory: openDirectory, web: """
              readers: [{name: ops, token_file: \(directory)/reader.token}]
              unauthenticated_metrics: true
            """)
        defer { _ = open }
        #expect(try await HTTP.get(openURL + "/metrics").status == 200)
        #expect(try await HTTP.get(openURL + "/api/v1/tokens").status == 401)
        // `systemctl reload` without TLS: SIGHUP is trapped, not the end of the daemon.
        kill(aggregator.pid, SIGHUP)
        _ = try await HTTP.waitFor("the SIGHUP to be logged") { aggregator.log.contains("SIGHUP: no TLS certificate to reload") ? true : nil }
        #expect(aggregator.isRunning)
        #expect(try await HTTP.get(url + "/-/healthy").status == 200)
    }

    /// A node that pushes with a client certificate: its common name names the node; a
    /// certificate from another CA fails the handshake, and one no node claims gets 401.
    @Test func aClientCertificateNamesItsNode() async throws {
        try await SecurityTests.withCertificates("mtls") { directory, certificates, trusting in
            let (aggregator, url, port) = try await SecurityTests.startAggregator(directory: directory, web: """
                  tls_server_config: {cert_file: \(directory)/server.crt, key_file: \(directory)/server.key,
                                      client_ca_file: \(certificates.ca), client_auth_type: VerifyClientCertIfGiven}
                """, scheme: "https", client: trusting, nodes: "  - {name: gpu-02, client_cert_cn: gpu-02}\n")
            defer { _ = aggregator }
            let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: port, token: nil,
                                                     aggregatorURL: "\(url)/api/v1/write", config: """
                                                         aggregator: {tls_config: {ca_file: \(certificates.ca), cert_file: \(directory)/gpu-02.crt,
                                                                                   key_file: \(directory)/gpu-02.key}}

                                                         """)
            let series = try await HTTP.waitFor("the agent's samples over mTLS") {
                let answer = try await HTTP.get(url + "/api/v1/series?match[]=tokenwatt_cpu_seconds_total", client: trusting)
                return answer.body.contains("gpu-02") ? answer.body : nil
            }
            #expect(series.contains("\"node\":\"gpu-02\""))
            #expect(try await agent.metric("tokenwatt_agent_pushes_total{result=\"rejected\"}") ?? 0 == 0)

            let write = try SecurityTests.write("up")
            let headers = SecurityTests.writeHeaders
            for (name, expected) in [("gpu-03", UInt(401)), ("gpu-02", 204)] {
                let client = try OutboundClient.makeHTTPClient(tls: TLSClientConfiguration(caFile: certificates.ca, certFile: "\(directory)/\(name).crt",
                                                                                           keyFile: "\(directory)/\(name).key"))
                defer { _ = client.shutdown() }
                #expect(try await HTTP.post(url + "/api/v1/write", body: write, headers: headers, client: client).status == expected, "\(name)")
                // A certificate and another node's token disagree: refused.
                if name == "gpu-02" {
                    #expect(try await HTTP.post(url + "/api/v1/write", body: write, headers: headers + [("Authorization", "Bearer push-token")],
                                                client: client).status == 401)
                }
            }
            // A certificate from another CA, and one of ours that has expired, fail the handshake.
            for name in ["forged", "expired-client"] {
                let client = try OutboundClient.makeHTTPClient(tls: TLSClientConfiguration(caFile: certificates.ca, certFile: "\(directory)/\(name).crt",
                                                                                           keyFile: "\(directory)/\(name).key"))
                defer { _ = client.shutdown() }
                await #expect(throws: (any Error).self, "\(name)") { try await HTTP.post(url + "/api/v1/write", body: write, headers: headers, client: client) }
            }
            // Without any certificate or token: refused, not the anonymous node.
            #expect(try await HTTP.post(url + "/api/v1/write", body: write, headers: headers, client: trusting).status == 401)
        }
    }

    /// The agent's own reads and its usage intake, the gateway's reads and its callers: each
    /// takes its own credential only.
    @Test func theAgentsAndTheGatewaysReadsIntakeAndCallersTakeTheirOwnCredentialsOnly() async throws {
        let directory = try Environment.temporaryDirectory("agent-readers")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, secret) in [("reader", "agent-reader"), ("usage", "usage-token"), ("caller", "sk-caller-key")] {
            try secret.write(toFile: "\(directory)/\(name).token", atomically: true, encoding: .utf8)
        }
        let agent = try await RunningAgent.start(directory: directory, port: Environment.freePort(), aggregatorPort: Environment.freePort(), token: nil, config: """
            web: {readers: [{name: prometheus, token_file: \(directory)/reader.token}]}
            usage: {token_file: \(directory)/usage.token}
            """)
        let gateway = try await RunningGateway.start(directory: directory, port: Environment.freePort(), aggregatorPort: Environment.freePort(), token: "gw", config: """
            web: {readers: [{name: prometheus, token_file: \(directory)/reader.token}]}
            callers: [{key_file: \(directory)/caller.token, labels: {team: research}}]
            routes: [{match: ".*", upstream: "http://127.0.0.1:1", capped: false}]
            """)
        for url in [agent.url, gateway.url] {
            for path in ["/metrics", "/-/ready"] {
                #expect(try await HTTP.get(url + path).status == 401)
                for other in ["usage-token", "sk-caller-key"] {
                    #expect(try await HTTP.get(url + path, headers: [("Authorization", "Bearer \(other)")]).status == 401)
                }
                #expect(try await HTTP.get(url + path, headers: [("Authorization", "Bearer agent-reader")]).status != 401)
            }
            #expect(try await HTTP.get(url + "/-/healthy").status == 200)
        }
        let report = Array(#"{"model": "m", "input_tokens": 1}"#.utf8)
        #expect(try await HTTP.post(agent.url + "/v1/usage", body: report, headers: [("Authorization", "Bearer agent-reader")]).status == 401)
        #expect(try await HTTP.post(agent.url + "/v1/usage", body: report, headers: [("Authorization", "Bearer usage-token")]).status == 200)
        let chat = Array(#"{"model": "m", "messages": []}"#.utf8)
        for key in ["agent-reader", "usage-token"] {
            #expect(try await HTTP.post(gateway.url + "/v1/chat/completions", body: chat, headers: [("Authorization", "Bearer \(key)")]).status == 401)
        }
        // The caller's key gets past the gateway's door (the upstream is down: 502).
        #expect(try await HTTP.post(gateway.url + "/v1/chat/completions", body: chat, headers: [("Authorization", "Bearer sk-caller-key")]).status == 502)
    }

    /// One credential, one right, at the aggregator: a gateway's token reserves and pushes the
    /// gateway's series, never a node's samples; a node's token pushes but cannot reserve.
    @Test func aGatewaysTokenReservesAndANodesPushes() async throws {
        let directory = try Environment.temporaryDirectory("sender-rights")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let aggregator = try await RunningAggregator.start(directory: directory, port: Environment.freePort(), gateways: ["gw-0": "gateway-token"], config: """
            budgets: [{name: cap, match: {team: research}, measure: tokens, limit: 1000, action: block}]
            """)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func series(_ name: String, source: String = "gateway") -> TimeSeries {
            TimeSeries(labels: try! LabelSet(validating: [Label("__name__", name), Label("source", source), Label("team", "research")]),
                       samples: [Sample(timestamp: now, value: 1)])
        }
        #expect(try await aggregator.push([series(MetricDescriptor.tokens.seriesName), series(MetricDescriptor.tokens.seriesName, source: "gateway_local"),
                                           series(MetricDescriptor.gatewayRequests.seriesName)], token: "gateway-token") == 204)
        // A node's samples, or an inference server's tokens, with a gateway's token: refused whole.
        for forged in [series(MetricDescriptor.gpuPowerWatts.seriesName), series(MetricDescriptor.cpuSeconds.seriesName), series("my_own_metric"),
                       series(MetricDescriptor.tokens.seriesName, source: "vllm")] {
            #expect(try await aggregator.push([series(MetricDescriptor.tokens.seriesName), forged], token: "gateway-token") == 403, "\(forged.labels)")
        }
        #expect(try await aggregator.push([series(MetricDescriptor.gpuPowerWatts.seriesName)], token: "token-1") == 204)
        let reservation = Array(#"{"labels": {"team": "research", "model": "m"}, "input_tokens": 10, "max_output_tokens": 10}"#.utf8)
        let asNode = try await HTTP.post(aggregator.url + "/api/v1/reservations", body: reservation, headers: [("Authorization", "Bearer token-1")])
        #expect(asNode.status == 403 && asNode.body.contains("gateways:"), "\(asNode)")
        #expect(try await HTTP.post(aggregator.url + "/api/v1/reservations", body: reservation, headers: [("Authorization", "Bearer gateway-token")]).status == 201)
        let metrics = try await HTTP.get(aggregator.url + "/metrics").body
        #expect(metrics.contains("tokenwatt_aggregator_rejected_requests_total{reason=\"forbidden\"} 4"), "\(metrics.prefix(3_000))")
    }

    /// The agent's listener and the gateway's speak TLS as the aggregator's do.
    @Test func theAgentsAndTheGatewaysListenersSpeakTLS() async throws {
        try await SecurityTests.withCertificates("agent-tls") { directory, certificates, trusting in
            try "sk-caller-key".write(toFile: "\(directory)/caller.token", atomically: true, encoding: .utf8)
            let (port, gatewayPort) = (Environment.freePort(), Environment.freePort())
            let tls = "{cert_file: \(directory)/server.crt, key_file: \(directory)/server.key}"
            try """
                collectors: [cpu]
                spool: {directory: \(directory)/spool}
                web: {tls_server_config: \(tls)}
                """.write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
            try """
                listen: 127.0.0.1:\(gatewayPort)
                spool: {directory: \(directory)/gateway-spool}
                aggregator: {url: "http://127.0.0.1:1"}
                web: {tls_server_config: \(tls)}
                callers: [{key_file: \(directory)/caller.token}]
                routes: [{match: ".*", upstream: "http://127.0.0.1:1", capped: false}]
                """.write(toFile: "\(directory)/gateway.yml", atomically: true, encoding: .utf8)
            let agent = try ChildProcess(Environment.agentPath, ["--config", "\(directory)/agent.yml", "--listen", "127.0.0.1:\(port)", "--no-discovery",
                                                                 "--aggregator", "http://127.0.0.1:1/api/v1/write"], logPath: "\(directory)/agent.log")
            let gateway = try ChildProcess(Environment.gatewayPath, ["--config", "\(directory)/gateway.yml"], logPath: "\(directory)/gateway.log")
            defer { _ = (agent, gateway) }
            _ = try await HTTP.waitFor("the agent over TLS") { try await HTTP.get("https://127.0.0.1:\(port)/-/healthy", client: trusting).status == 200 ? true : nil }
            #expect(try await HTTP.get("https://127.0.0.1:\(port)/metrics", client: trusting).body.contains("tokenwatt_agent_spool_batches"))
            await #expect(throws: (any Error).self) { try await HTTP.get("http://127.0.0.1:\(port)/-/healthy") }
            _ = try await HTTP.waitFor("the gateway over TLS") { try await HTTP.get("https://127.0.0.1:\(gatewayPort)/-/healthy", client: trusting).status == 200 ? true : nil }
            let chat = Array(#"{"model": "m", "messages": []}"#.utf8)
            #expect(try await HTTP.post("https://127.0.0.1:\(gatewayPort)/v1/chat/completions", body: chat, headers: [("Authorization", "Bearer sk-caller-key")],
                                        client: trusting).status == 502)
            await #expect(throws: (any Error).self) { try await HTTP.get("http://127.0.0.1:\(gatewayPort)/-/healthy") }
        }
    }

    /// The aggregator forwards with remote write to a receiver it checks against a CA file.
    @Test func forwardingChecksTheReceiversCertificate() async throws {
        try await SecurityTests.withCertificates("tls-forward") { directory, certificates, trusting in
            let receiverDirectory = directory + "/receiver"
            try FileManager.default.createDirectory(atPath: receiverDirectory, withIntermediateDirectories: true)
            let (receiver, receiverURL, _) = try await SecurityTests.startAggregator(directory: receiverDirectory, web: """
                  tls_server_config: {cert_file: \(directory)/server.crt, key_file: \(directory)/server.key}
                """, scheme: "https", client: trusting)
            defer { _ = receiver }
            let senderDirectory = directory + "/sender"
            try FileManager.default.createDirectory(atPath: senderDirectory, withIntermediateDirectories: true)
            let (sender, senderURL, _) = try await SecurityTests.startAggregator(directory: senderDirectory, web: "  {}\n", nodes: "", remoteWrite: """
                remote_write:
                  - {name: central, url: "\(receiverURL)/api/v1/write", token_file: \(receiverDirectory)/gpu-01.token, tls_config: {ca_file: \(certificates.ca)}}
                  - {name: distrusted, url: "\(receiverURL)/api/v1/write", token_file: \(receiverDirectory)/gpu-01.token, tls_config: {ca_file: \(certificates.otherCA)}}

                """)
            defer { _ = sender }
            let write = try SecurityTests.write("forwarded_over_tls")
            let headers = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"), ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                           ("Authorization", "Bearer push-token")]
            #expect(try await HTTP.post(senderURL + "/api/v1/write", body: write, headers: headers).status == 204)
            _ = try await HTTP.waitFor("the sample forwarded over TLS") {
                try await HTTP.get(receiverURL + "/api/v1/series?match[]=forwarded_over_tls", client: trusting).body.contains("forwarded_over_tls") ? true : nil
            }
            // The target whose CA does not match keeps failing, and says so in the sender's metrics.
            let failing = try await HTTP.waitFor("the distrusted target's failures") {
                let metrics = try await HTTP.get(senderURL + "/metrics").body
                return metrics.split(separator: "\n").first { $0.contains("target=\"distrusted\"") && $0.contains("network") && !$0.hasSuffix(" 0") }
            }
            #expect(!failing.isEmpty)
        }
    }

    /// `tokenwatt hash-password` makes a hash that Python's bcrypt accepts for the password
    /// (and refuses for another), which the aggregator then takes in web.basic_auth_users.
    @Test func hashPasswordMakesAHashOthersAccept() async throws {
        let directory = try Environment.temporaryDirectory("hash-password")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cli = Environment.binDirectory + "/tokenwatt"
        let hash = try await ChildProcess.run("/bin/sh", ["-c", "printf 'correct horse\\n' | '\(cli)' hash-password --cost 10"], directory: directory)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$2b$10$") && hash.count == 60, "\(hash)")
        let check = "import bcrypt, sys; h = sys.argv[1].encode(); print(bcrypt.checkpw(b'correct horse', h), bcrypt.checkpw(b'correct horse\\n', h))"
        #expect(try await ChildProcess.run(Environment.python, ["-c", check, hash], directory: directory).output.contains("True False"))
    }

    @Test func anAggregatorBeyondLoopbackWithoutNodesRefusesToStart() async throws {
        let directory = try Environment.temporaryDirectory("exposed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await ChildProcess.run(Environment.aggregatorPath, ["--listen", "0.0.0.0:\(Environment.freePort())", "--data-dir", "\(directory)/data"],
                                                directory: directory)
        #expect(result.status == 2)
        #expect(result.output.contains("nodes: nodes with push tokens when listening on 0.0.0.0"), "\(result.output)")
    }

    /// Nothing readable by strangers by default: beyond loopback, an aggregator with nodes but
    /// no readers, an agent with a usage token but no readers, and a gateway with callers but no
    /// readers refuse to start (exit 2), naming the key that opens reads on purpose;
    /// `tokenwatt check-config` says the same; with the key, they start.
    @Test func daemonsBeyondLoopbackWithoutReadersRefuseToStartUnlessReadsAreOpenOnPurpose() async throws {
        let directory = try Environment.temporaryDirectory("open-reads")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "secret-token-1\n".write(toFile: "\(directory)/node.token", atomically: true, encoding: .utf8)
        let aggregatorPort = Environment.freePort()
        let aggregatorYAML = "listen: 0.0.0.0:\(aggregatorPort)\nnodes: [{name: gpu-01, token_file: \(directory)/node.token}]\n"
        try aggregatorYAML.write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let agentYAML = "listen: 0.0.0.0:\(Environment.freePort())\nusage: {token_file: \(directory)/node.token}\nspool: {directory: \(directory)/spool}\n"
        try agentYAML.write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        let gatewayYAML = "listen: 0.0.0.0:\(Environment.freePort())\ncallers: [{key_file: \(directory)/node.token}]\nspool: {directory: \(directory)/gateway-spool}\n"
        try gatewayYAML.write(toFile: "\(directory)/gateway.yml", atomically: true, encoding: .utf8)
        let refusal = "web.readers: readers (web.readers or web.basic_auth_users) when listening on 0.0.0.0"

        let aggregator = try await ChildProcess.run(Environment.aggregatorPath, ["--config", "\(directory)/aggregator.yml", "--data-dir", "\(directory)/data"],
                                                    directory: directory)
        #expect(aggregator.status == 2)
        #expect(aggregator.output.contains("\(directory)/aggregator.yml: \(refusal)") && aggregator.output.contains("web.unauthenticated_reads: true"),
                "\(aggregator.output)")
        let agent = try await AgentOnceTests.once(["--config", "\(directory)/agent.yml"], directory: directory, unprivileged: false)
        #expect(agent.status == 2)
        #expect(agent.stderr.contains("\(directory)/agent.yml: \(refusal)"), "\(agent.stderr)")
        let gateway = try await ChildProcess.run(Environment.gatewayPath, ["--config", "\(directory)/gateway.yml"], directory: directory)
        #expect(gateway.status == 2 && gateway.output.contains("\(directory)/gateway.yml: \(refusal)"), "\(gateway.output)")
        for file in ["aggregator.yml", "agent.yml", "gateway.yml"] {
            let check = try await ChildProcess.run(Environment.binDirectory + "/tokenwatt", ["check-config", "\(directory)/\(file)"], directory: directory)
            #expect(check.status == 2 && check.output.contains(refusal), "\(file): \(check.output)")
        }

        // Opened on purpose: both start (the agent's --once exits 0, the aggregator answers).
        try (aggregatorYAML + "web: {unauthenticated_reads: true}\n").write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        try (agentYAML + "web: {unauthenticated_reads: true}\n").write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        try (gatewayYAML + "web: {unauthenticated_reads: true}\n").write(toFile: "\(directory)/gateway.yml", atomically: true, encoding: .utf8)
        for file in ["aggregator.yml", "agent.yml", "gateway.yml"] {
            let check = try await ChildProcess.run(Environment.binDirectory + "/tokenwatt", ["check-config", "\(directory)/\(file)"], directory: directory)
            #expect(check.status == 0, "\(file): \(check.output)")
        }
        #expect(try await AgentOnceTests.once(["--config", "\(directory)/agent.yml"], directory: directory, unprivileged: false).status == 0)
        let running = try ChildProcess(Environment.aggregatorPath, ["--config", "\(directory)/aggregator.yml", "--data-dir", "\(directory)/data"],
                                       logPath: "\(directory)/aggregator.log", directory: directory)
        _ = try await HTTP.waitFor("the open aggregator", seconds: 30) { try await HTTP.get("http://127.0.0.1:\(aggregatorPort)/api/v1/fleet").status == 200 ? true : nil }
        await running.kill(signal: SIGTERM)
    }
}
