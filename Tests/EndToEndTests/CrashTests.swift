import Foundation
import Logging
import Synchronization
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
@testable import TokenWattConfiguration
#endif

@Suite(.serialized) struct CrashTests {
    /// What the pushers sent and which pushes were answered 2xx.
    struct Ledger {
        var sent: [LabelSet: [Int64: Double]] = [:]
        var acknowledged: [LabelSet: [Int64: Double]] = [:]
    }

    /// What the pushers share.
    final class Pushers: Sendable {
        let ledger = Mutex(Ledger())
        let pushes = Atomic<Int>(0)
    }

    /// Kills the aggregator with SIGKILL at a random moment of a sustained push, 20 times:
    /// after each, every sample a 2xx acknowledged is there, once, with its value, and nothing
    /// is there that was never sent. The pushes span hours of sample time and the aggregator
    /// flushes its head every second, so kills land in appends, flushes and log truncations;
    /// one series gets late samples of windows already flushed.
    @Test func killedAtRandomMomentsItKeepsEveryAcknowledgedSampleOnce() async throws {
        let directory = try Environment.temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Environment.freePort()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let base = now - Milliseconds.day
        let pushers = Pushers()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let aggregator = try await RunningAggregator.start(directory: directory, port: port, config: "storage: {maintenance_interval: 1s}\n")
            let killAfter = Double.random(in: 0.2...1.2, using: &generator)
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        while !Task.isCancelled {
                            let n = pushers.pushes.add(1, ordering: .relaxed).newValue
                            let batch = CrashTests.batch(writer: writer, push: n, base: base)
                            pushers.ledger.withLock { state in
                                for series in batch { for sample in series.samples { state.sent[series.labels, default: [:]][sample.timestamp] = sample.value } }
                            }
                            guard let status = try? await aggregator.push(batch) else { return }
                            guard status == 204 else { continue }
                            pushers.ledger.withLock { state in
                                for series in batch { for sample in series.samples { state.acknowledged[series.labels, default: [:]][sample.timestamp] = sample.value } }
                            }
                        }
                    }
                }
                try? await Task.sleep(for: .seconds(killAfter))
                await aggregator.process.kill(signal: SIGKILL)
                group.cancelAll()
            }
            try await CrashTests.check(pushers.ledger.withLock { $0 }, directory: directory + "/data", round: round)
        }
        #expect(pushers.pushes.load(ordering: .relaxed) > 200, "the pushers kept the aggregator busy")
    }

    /// A push of 50 series 10 s of sample time after the last, and every tenth push a
    /// sample 6 hours older on a series of its own: late, once its window is flushed.
    static func batch(writer: Int, push n: Int, base: Int64) -> [TimeSeries] {
        let timestamp = base + Int64(n) * 10_000
        var batch = (0..<50).map { i in
            TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "crash_probe", "writer": "\(writer)", "i": "\(i)"]),
                       samples: [Sample(timestamp: timestamp, value: Double(n * 100 + i))])
        }
        if n % 10 == 0 {
            batch.append(TimeSeries(labels: try! LabelSet(dictionary: ["__name__": "crash_late", "writer": "\(writer)"]),
                                    samples: [Sample(timestamp: timestamp - 6 * Milliseconds.hour, value: Double(n))]))
        }
        return batch
    }

    /// Opens the store the killed aggregator left, as a restart does, and compares.
    static func check(_ ledger: Ledger, directory: String, round: Int) async throws {
        var configuration = StorageConfiguration()
        configuration.directory = directory
        let stores = try Stores(configuration: configuration, logger: Logger(label: "crash-check"))
        let store = stores.samples
        for (labels, sent) in ledger.sent {
            // The aggregator adds the pushing node's name.
            let stored = labels.setting("node", to: "gpu-01")
            let selector = try SeriesSelector(parsing: "{" + stored.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}")
            let id = store.series(matching: [selector]).first { $0.labels == stored }?.id
            let acknowledged = ledger.acknowledged[labels] ?? [:]
            guard let id else {
                #expect(acknowledged.isEmpty, "round \(round): \(labels) had acknowledged samples and is gone")
                continue
            }
            let samples = try await store.rawSamples(seriesID: id, from: .min, to: .max)
            let timestamps = samples.map(\.timestamp)
            #expect(zip(timestamps, timestamps.dropFirst()).allSatisfy { $0 < $1 }, "round \(round): \(labels) has a timestamp twice")
            let byTimestamp = Dictionary(samples.map { ($0.timestamp, $0.value) }, uniquingKeysWith: { first, _ in first })
            let missing = acknowledged.filter { byTimestamp[$0.key] != $0.value }
            #expect(missing.count == 0, "round \(round): \(labels) lost \(missing.count) acknowledged samples, such as \(missing.first.map { "\($0)" } ?? "")")
            let unsent = byTimestamp.filter { sent[$0.key] != $0.value }
            #expect(unsent.count == 0, "round \(round): \(labels) holds \(unsent.count) samples never sent")
        }
        try stores.close()
    }
}
