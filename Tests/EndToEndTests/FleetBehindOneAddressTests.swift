import Foundation
import Testing
import TokenWattTestSupport

/// A fleet behind one address (a NAT, a site gateway, a proxy), through the real aggregator and
/// `tokenwatt-bench fleet`: 2,000 simulated nodes, each with a token of its own, push 10 series
/// every 5 s for 20 s from 127.0.0.1, while 2,000 idle and slow sockets from the same address
/// are held against the aggregator (each opened again a second after the aggregator closes it).
/// At least 99 % of the rounds' pushes are accepted at their first try, what was acknowledged
/// reads back, and every acknowledged sample is stored exactly once: the aggregator's count of
/// stored samples is the warm-up's and the rounds' together. Over plain HTTP and over TLS.
@Suite(.serialized) struct FleetBehindOneAddressTests {
    static let nodes = 2_000, series = 10

    @Test(arguments: [false, true])
    func twoThousandNodesBehindOneAddressPushThroughAFlood(tls: Bool) async throws {
        let directory = try Environment.temporaryDirectory("one-address")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Environment.freePort()
        var config = "listen: 127.0.0.1:\(port)\ndata_dir: \(directory)/data\n"
        var curl = ["-sf"], bench: [String] = []
        if tls {
            let made = try await ChildProcess.run("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(directory)/key.pem", "-out", "\(directory)/cert.pem",
            ], directory: directory)
            try #require(made.status == 0, "\(made.output)")
            config += "web:\n  tls_server_config: {cert_file: \(directory)/cert.pem, key_file: \(directory)/key.pem}\n"
            curl += ["--cacert", "\(directory)/cert.pem"]
            bench += ["--ca-file", "\(directory)/cert.pem"]
        }
        config += "nodes:\n" + (0..<FleetBehindOneAddressTests.nodes).map { "  - {name: node-\($0), token_env: CROWD_TOKEN_\($0)}\n" }.joined()
        try config.write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let tokens = Dictionary(uniqueKeysWithValues: (0..<FleetBehindOneAddressTests.nodes).map { ("CROWD_TOKEN_\($0)", "crowd-secret-\($0)") })
        let aggregator = try ChildProcess(Environment.aggregatorPath, ["--config", "\(directory)/aggregator.yml"], logPath: "\(directory)/aggregator.log",
                                          environment: tokens)
        let url = "\(tls ? "https" : "http")://127.0.0.1:\(port)"
        func get(_ path: String) async throws -> String? {
            let answer = try await ChildProcess.run("/usr/bin/curl", curl + [url + path], directory: directory)
            return answer.status == 0 ? answer.output : nil
        }
        _ = try await HTTP.waitFor("the aggregator to be ready") { try await get("/-/ready") }

        let run = try await ChildProcess.run(Environment.binDirectory + "/tokenwatt-bench", [
            "fleet", "--url", url + "/api/v1/write", "--nodes", "\(FleetBehindOneAddressTests.nodes)", "--series", "\(FleetBehindOneAddressTests.series)",
            "--interval", "5", "--duration", "20", "--connections", "\(FleetBehindOneAddressTests.nodes)", "--flood", "2000",
            "--token", "crowd-secret-{node}",
        ] + bench, directory: directory)
        try #require(run.status == 0, "\(run.output)\n\(aggregator.log.suffix(3_000))")
        print(run.output)
        /// The number printed right after `marker`.
        func number(after marker: String) -> Double? {
            for line in run.output.split(separator: "\n") {
                guard let range = line.range(of: marker) else { continue }
                return line[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "," }).first.flatMap { Double($0) }
            }
            return nil
        }
        let firstTry = try #require(number(after: "first-try pushes: "))
        let rounds = FleetBehindOneAddressTests.nodes * 4
        #expect(run.output.contains("of \(rounds) accepted"))
        #expect(firstTry >= 0.99 * Double(rounds), "\(run.output)")
        #expect(run.output.contains("read back: 200 series, 0 acknowledged samples missing"))
        let acknowledged = try #require(number(after: "samples acknowledged: "))
        #expect(acknowledged == Double(rounds * FleetBehindOneAddressTests.series))
        // The flood was there: the aggregator closed thousands of its sockets.
        #expect((number(after: "sockets from this address, ") ?? 0) > 2_000)

        let metrics = try #require(try await get("/metrics"))
        let stored = metrics.split(separator: "\n").first { $0.hasPrefix("tokenwatt_aggregator_samples_total ") }.flatMap { Double($0.split(separator: " ")[1]) }
        #expect(stored == acknowledged + Double(FleetBehindOneAddressTests.nodes * FleetBehindOneAddressTests.series), "\(metrics.prefix(2_000))")
        await aggregator.kill(signal: SIGTERM)
    }
}
