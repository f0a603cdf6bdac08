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

/// A tmpfs of a given size the test can grow, standing in for a disk that fills up and then
/// gets room again, mounted at `path` inside a temporary `directory`. The tests run as root
/// (CI does too), which may mount.
struct SmallDisk {
    let directory: String
    let path: String

    init(_ name: String, size: String) async throws {
        directory = try Environment.temporaryDirectory(name)
        path = directory + "/disk"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try await ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path], directory: "/tmp")
        guard mounted.status == 0 else { throw POSIXError(.EPERM) }
    }

    func resize(_ size: String) async throws {
        #expect(try await ChildProcess.run("/bin/mount", ["-o", "remount,size=\(size)", path], directory: "/tmp").status == 0)
    }

    /// Detaches the tmpfs (lazily, so files still open do not keep it) and removes the directory.
    func remove() {
        _ = umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct FaultTests {
    /// Pushes until the aggregator's disk is full: what it acknowledged stays, the push it
    /// cannot store gets a 5xx (the sender keeps it), it keeps serving, and once there is
    /// room again the same push is stored.
    @Test func aFullDiskUnderTheAggregatorLosesNothingAcknowledgedAndRecovers() async throws {
        let disk = try await SmallDisk("disk-full-aggregator", size: "3m")
        defer { disk.remove() }
        let port = Environment.freePort()
        let aggregator = try await RunningAggregator.start(directory: disk.path, port: port)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func batch(_ n: Int) -> [TimeSeries] {
            // New series each push, with long label values, so the database grows fast.
            (0..<40).map { i in
                TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "filler", "push": "\(n)", "i": "\(i)", "pad": String(repeating: "x", count: 1000)]),
                           samples: [Sample(timestamp: now - 60_000 + Int64(n), value: Double(n))])
            }
        }
        var acknowledged: [Int] = []
        var refused: (push: Int, status: UInt)?
        for n in 0..<2_000 {
            let status = try await aggregator.push(batch(n))
            if status == 204 { acknowledged.append(n) } else { refused = (n, status); break }
        }
        let failed = try #require(refused, "the disk never filled")
        #expect((500..<600).contains(failed.status), "a full disk answers 5xx, got \(failed.status)")
        #expect(acknowledged.count > 5)
        #expect(try await HTTP.get(aggregator.url + "/-/healthy").status == 200)
        // When there is room again, the refused push goes in
        try await disk.resize("64m")
        _ = try await HTTP.waitFor("the refused push to be stored") { try await aggregator.push(batch(failed.push)) == 204 ? true : nil }
        await aggregator.process.kill(signal: SIGTERM)
        #expect(await aggregator.process.exitStatus() == 0)
        // Then every acknowledged push and the late one are there
        var configuration = StorageConfiguration()
        configuration.directory = disk.path + "/data"
        let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        let store = stores.samples
        let stored = Set(store.series(matching: [try SeriesSelector(parsing: "filler")]).compactMap { $0.labels["push"].flatMap(Int.init) })
        try stores.close()
        #expect(stored == Set(acknowledged + [failed.push]))
    }

    /// The agent's spool on a disk that fills while the aggregator is away: rounds that cannot
    /// be written are counted, usage reports get 503 (the client keeps them), what the spool held
    /// is kept, and with room again and the aggregator back, it all arrives.
    @Test func aFullDiskUnderTheSpoolIsCountedAndRecovers() async throws {
        let disk = try await SmallDisk("disk-full-agent", size: "1m")
        defer { disk.remove() }
        let directory = disk.directory
        let aggregatorPort = Environment.freePort()
        let agentPort = Environment.freePort()
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        let agent = try await RunningAgent.start(directory: disk.path, port: agentPort, aggregatorPort: aggregatorPort, token: "token-1")
        _ = try await HTTP.waitFor("rounds in the spool") { try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 >= 3 ? true : nil } }
        let filling = Int64(Date().timeIntervalSince1970 * 1000)
        // Usage reports of many models make each round's batch large, and fill the disk.
        var unsaved = 0
        for round in 0..<200 where unsaved == 0 {
            let reports = (0..<100).map { #"{"model": "m-\#(round)-\#($0)", "output_tokens": 1}"# }.joined(separator: ",")
            let status = try await HTTP.post(agent.url + "/v1/usage", body: Array("[\(reports)]".utf8), headers: [("Content-Type", "application/json")]).status
            if status == 503 { unsaved += 1 } else { #expect(status == 200) }
        }
        #expect(unsaved == 1, "the disk never filled")
        _ = try await HTTP.waitFor("rounds not written to be counted") {
            try await agent.metric("tokenwatt_agent_spool_dropped_samples_total{reason=\"write_failed\"}").flatMap { $0 > 0 ? true : nil }
        }
        #expect(try await HTTP.get(agent.url + "/-/healthy").status == 200)
        // When the disk has room and the aggregator is back
        try await disk.resize("256m")
        let aggregator = try await RunningAggregator.start(directory: directory, port: aggregatorPort)
        _ = try await HTTP.waitFor("the spool to drain", seconds: 90) {
            try await agent.metric("tokenwatt_agent_spool_batches").flatMap { $0 <= 2 ? true : nil }
        }
        // Then the rounds spooled before the disk filled arrived
        await aggregator.process.kill(signal: SIGTERM)
        let stores = try RunningAggregator.stores(in: directory)
        let store = stores.samples
        let memory = try #require(store.series(matching: [try SeriesSelector(parsing: "tokenwatt_memory_total_bytes")]).first)
        let early = try await store.rawSamples(seriesID: memory.id, from: started, to: filling)
        try stores.close()
        #expect(early.count >= 3, "\(early.count) rounds from before the disk filled")
        let usage = try await HTTP.post(agent.url + "/v1/usage", body: Array(#"{"model": "after", "output_tokens": 1}"#.utf8), headers: [("Content-Type", "application/json")])
        #expect(usage.status == 200)
        await agent.process.kill(signal: SIGTERM)
    }

    /// A database file that is not one (or is damaged) stops the daemon with an error naming
    /// it, exit 1, and the file is left as it was for the operator.
    @Test(arguments: ["aggregator", "agent"])
    func aCorruptDatabaseIsNamedAndTheDaemonExits1(_ daemon: String) async throws {
        let directory = try Environment.temporaryDirectory("corrupt-\(daemon)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = daemon == "aggregator" ? directory + "/data/tokenwatt.sqlite" : directory + "/spool/spool.sqlite"
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let garbage = Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        try garbage.write(to: URL(fileURLWithPath: file))
        let port = Environment.freePort()
        let result: (status: Int32, output: String)
        if daemon == "aggregator" {
            result = try await ChildProcess.run(Environment.aggregatorPath, ["--listen", "127.0.0.1:\(port)", "--data-dir", directory + "/data"], directory: directory)
        } else {
            try "collectors: [cpu]\nspool: {directory: \(directory)/spool}\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
            result = try await ChildProcess.run(Environment.agentPath, ["--config", directory + "/agent.yml", "--listen", "127.0.0.1:\(port)", "--no-discovery"],
                                                directory: directory)
        }
        #expect(result.status == 1)
        #expect(result.output.contains("cannot open \(file)") && result.output.contains("not a database"), "\(result.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == garbage)
    }
}
