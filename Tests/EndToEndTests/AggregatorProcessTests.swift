import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
@testable import TokenWattConfiguration
#endif

/// The real `tokenwatt-aggregator` binary, started on a free loopback port with a config file.
struct RunningAggregator {
    let process: ChildProcess
    let url: String

    /// `tokens` and `gateways`: each node's and gateway's name and token. `reader`: the
    /// credential reads need (an `Authorization` header), where the config names readers.
    static func start(directory: String, port: Int, tokens: [String: String] = ["gpu-01": "token-1"], gateways: [String: String] = [:],
                      config extra: String = "", reader: [(String, String)] = []) async throws -> RunningAggregator {
        var config = extra + "\nlisten: 127.0.0.1:\(port)\ndata_dir: \(directory)/data\n"
        for (key, senders) in [("nodes", tokens), ("gateways", gateways)] where !senders.isEmpty {
            config += "\(key):\n"
            for (name, token) in senders.sorted(by: { $0.key < $1.key }) {
                let tokenFile = "\(directory)/\(name).token"
                try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
                config += "  - {name: \(name), token_file: \(tokenFile)}\n"
            }
        }
        try config.write(toFile: "\(directory)/aggregator.yml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(Environment.aggregatorPath, ["--config", "\(directory)/aggregator.yml"],
                                       logPath: "\(directory)/aggregator-\(UUID().uuidString).log")
        let url = "http://127.0.0.1:\(port)"
        _ = try await HTTP.waitFor("the aggregator to be ready") { try await HTTP.get(url + "/-/ready", headers: reader).status == 200 ? true : nil }
        return RunningAggregator(process: process, url: url)
    }

    /// The stores of a stopped aggregator that ran in `directory`, opened to read what it kept.
    static func stores(in directory: String) throws -> Stores {
        var configuration = StorageConfiguration()
        configuration.directory = directory + "/data"
        return try Stores(configuration: configuration, logger: Logger(label: "test"))
    }

    func push(_ series: [TimeSeries], token: String = "token-1") async throws -> UInt {
        try await HTTP.post(url + "/api/v1/write", body: RemoteWriteCodec.encode(series), headers: [
            ("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"), ("Authorization", "Bearer \(token)"),
        ]).status
    }
}

@Suite(.serialized) struct AggregatorProcessTests {
    @Test(arguments: ["tokenwatt-aggregator", "tokenwatt-agent"])
    func aDaemonWhosePortIsTakenExitsWithStatus1(_ daemon: String) async throws {
        let directory = try Environment.temporaryDirectory("port-taken")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Something else listens on the port.
        let port = Environment.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(holder, 1) == 0)
        try "spool: {directory: \(directory)/spool}\n".write(toFile: "\(directory)/agent.yml", atomically: true, encoding: .utf8)
        let arguments = daemon == "tokenwatt-agent"
            ? ["--config", "\(directory)/agent.yml", "--listen", "127.0.0.1:\(port)", "--no-discovery", "--aggregator", "http://127.0.0.1:1/api/v1/write"]
            : ["--listen", "127.0.0.1:\(port)", "--data-dir", "\(directory)/data"]
        let child = try ChildProcess(Environment.binDirectory + "/" + daemon, arguments, logPath: "\(directory)/\(daemon).log")
        // Every service stops when the listener fails: the process ends, it does not hang or spin.
        _ = try await HTTP.waitFor("\(daemon) to exit", seconds: 20) { child.isRunning ? nil : true }
        #expect(child.terminationStatus == 1)
        #expect(child.log.contains("Address already in use"))
    }

    @Test func everyAcknowledgedSampleSurvivesSIGKILLAndACleanStopCheckpointsTheHead() async throws {
        let directory = try Environment.temporaryDirectory("durability")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Environment.freePort()
        let base = Int64(Date().timeIntervalSince1970) * 1000 - 120_000
        // Given 40 pushes, each acknowledged with 204
        var aggregator = try await RunningAggregator.start(directory: directory, port: port)
        for i in 0..<40 {
            let series = TimeSeries(labels: try LabelSet(dictionary: ["__name__": "durable_total", "i": "\(i % 4)"]),
                                    samples: [Sample(timestamp: base + Int64(i) * 1000, value: Double(i))])
            #expect(try await aggregator.push([series]) == 204)
        }
        // When the process is killed without warning and started again
        await aggregator.process.kill(signal: SIGKILL)
        aggregator = try await RunningAggregator.start(directory: directory, port: port)
        // Then every acknowledged sample is there
        for shard in 0..<4 {
            // Samples of this shard were pushed every 4 s from base + shard seconds.
            let start = Double(base) / 1000 + Double(shard)
            let response = try await HTTP.get(aggregator.url + "/api/v1/query_range?query=durable_total%7Bi%3D%22\(shard)%22%7D&start=\(start)&end=\(start + 36)&step=4")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
            let result = try #require((json["data"] as? [String: Any])?["result"] as? [[String: Any]])
            let values = try #require(result.first?["values"] as? [[Any]]).compactMap { $0[1] as? String }
            #expect(values == stride(from: shard, to: 40, by: 4).map { String($0) }, "shard \(shard)")
        }
        let series = try await HTTP.get(aggregator.url + "/api/v1/series?match[]=durable_total")
        #expect(series.body.components(separatedBy: "\"durable_total\"").count - 1 == 4)
        await aggregator.process.kill(signal: SIGTERM)
        #expect(await aggregator.process.exitStatus() == 0, "a clean SIGTERM exits 0")
        // And a clean stop writes the head to disk packed: the next start reads its windows
        // back (four series, a window each, two where they cross a window's end) and has no log
        // row left to replay.
        aggregator = try await RunningAggregator.start(directory: directory, port: port)
        let windows = aggregator.process.log.split(separator: " ").last { $0.hasPrefix("checkpoint_windows=") }.flatMap { Int($0.dropFirst(19)) }
        #expect((4...8).contains(windows ?? 0), "\(aggregator.process.log.suffix(2_000))")
        #expect(aggregator.process.log.contains("log_rows_replayed=0"))
        let start = Double(base) / 1000
        let again = try await HTTP.get(aggregator.url + "/api/v1/query_range?query=durable_total%7Bi%3D%220%22%7D&start=\(start)&end=\(start + 36)&step=4")
        #expect(again.body.contains("\"36\""), "\(again.body)")
        await aggregator.process.kill(signal: SIGTERM)
        #expect(await aggregator.process.exitStatus() == 0)
    }

    @Test func invalidConfigExitsWithStatus2AndNamesTheKey() async throws {
        let directory = try Environment.temporaryDirectory("badconfig")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "storage: {raw_retention: forever}\n".write(toFile: "\(directory)/bad.yml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(Environment.aggregatorPath, ["--config", "\(directory)/bad.yml"], logPath: "\(directory)/log")
        #expect(await process.exitStatus() == 2)
        #expect(process.log.contains("\(directory)/bad.yml: storage.raw_retention: a duration"))
    }
}
