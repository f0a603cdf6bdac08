import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore
@testable import TokenWattConfiguration

/// The head and the disk answer as one store: random samples (out of order, resent with other
/// values, late into flushed windows, NaN and stale markers among them) are read back through
/// raw samples, 1-minute and 1-hour rollups and counter increases, and compared with a model
/// that keeps the first value of each timestamp, at every stage: all in the head, from a
/// checkpoint and the log after it, after a flush, after a restart, after late samples, from a
/// checkpoint of them, after another flush, and after another restart.
@Suite struct HeadDiskAgreementTests {
    static let hour: Int64 = Milliseconds.hour
    static let names = ["a_total", "b_total", "c_total", "gauge_a", "gauge_b", "gauge_c"]

    /// What the store should hold: per series, each timestamp's first value.
    struct Model {
        var samples: [String: [Int64: Double]] = [:]

        mutating func push(_ batch: [TimeSeries]) {
            for series in batch {
                for sample in series.samples where samples[series.labels.metricName!]?[sample.timestamp] == nil {
                    samples[series.labels.metricName!, default: [:]][sample.timestamp] = sample.value
                }
            }
        }

        func raw(_ name: String) -> [Sample] {
            (samples[name] ?? [:]).map { Sample(timestamp: $0.key, value: $0.value) }.sorted { $0.timestamp < $1.timestamp }
        }

        func minutes(_ name: String) -> [RollupBucket] {
            let raw = raw(name)
            var buckets: [RollupBucket] = []
            var previous: Double?
            var start = raw.startIndex
            while start < raw.endIndex {
                let bucket = TimeBucket.start(ofSampleAt: raw[start].timestamp, width: 60_000)
                let stop = raw[start...].firstIndex { $0.timestamp > bucket + 60_000 } ?? raw.endIndex
                let rollup = RollupBucket.aggregate(bucket: bucket, samples: Array(raw[start..<stop]), previous: previous,
                                                    cumulative: name.hasSuffix("_total"))
                previous = rollup.last ?? previous
                buckets.append(rollup)
                start = stop
            }
            return buckets
        }

        func hours(_ name: String) -> [RollupBucket] {
            Dictionary(grouping: minutes(name)) { $0.bucket - $0.bucket.modulo(HeadDiskAgreementTests.hour) }
                .map { RollupBucket.combine(bucket: $0.key, $0.value) }.sorted { $0.bucket < $1.bucket }
        }

        func increase(_ name: String, from: Int64, to: Int64) -> Double {
            var increase = 0.0
            var previous: Double?
            for sample in raw(name) where sample.timestamp <= to && sample.value.isFinite {
                if sample.timestamp > from, let previous { increase += CounterStep.increase(from: previous, to: sample.value) }
                previous = sample.value
            }
            return increase
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func headAndDiskAnswerAsOne(seed: UInt64) async throws {
        var generator = SeededGenerator(seed: seed)
        // 10 hours of each series, a sample every 5–40 s; counters climb and sometimes reset.
        var all: [(name: String, sample: Sample)] = []
        for name in HeadDiskAgreementTests.names {
            var timestamp: Int64 = 1_000 + Int64.random(in: 0..<10_000, using: &generator)
            var value = 0.0
            while timestamp < 10 * HeadDiskAgreementTests.hour {
                if name.hasSuffix("_total") {
                    value = Int.random(in: 0..<200, using: &generator) == 0 ? 0 : value + Double(Int.random(in: 0...50, using: &generator))
                } else {
                    value = Double(Int.random(in: -1000...1000, using: &generator)) / 8
                }
                let roll = Int.random(in: 0..<500, using: &generator)
                let stored = roll == 0 ? Double.nan : roll == 1 ? Sample.staleMarker : value
                all.append((name, Sample(timestamp: timestamp, value: stored)))
                timestamp += Int64.random(in: 5_000...40_000, using: &generator)
            }
        }
        all.sort { $0.sample.timestamp < $1.sample.timestamp }
        // Most in time order, shuffled a little, some resent with other values; a tenth held
        // back to come late, after the first flush.
        var late: [(name: String, sample: Sample)] = []
        var onTime: [(name: String, sample: Sample)] = []
        for entry in all {
            if Int.random(in: 0..<10, using: &generator) == 0 && entry.sample.timestamp < 6 * HeadDiskAgreementTests.hour {
                late.append(entry)
            } else {
                onTime.append(entry)
            }
        }
        func batches(_ entries: [(name: String, sample: Sample)]) -> [[TimeSeries]] {
            stride(from: 0, to: entries.count, by: 60).map { start in
                var part = Array(entries[start..<min(start + 60, entries.count)])
                part.shuffle(using: &generator)
                let resent = part.prefix(5).map { ($0.name, Sample(timestamp: $0.sample.timestamp, value: -7)) }
                return Dictionary(grouping: part + resent) { $0.name }.map { name, entries in
                    TimeSeries(labels: try! LabelSet(dictionary: ["__name__": name]), samples: entries.map(\.sample))
                }
            }
        }

        var configuration = StorageConfiguration()
        configuration.directory = Environment.temporaryPath("agree")
        defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
        var stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        var store: SampleStore { stores.samples }
        var model = Model()
        func push(_ entries: [(name: String, sample: Sample)]) async throws {
            for batch in batches(entries) {
                model.push(batch)
                _ = try await store.append([batch])
            }
        }
        func reopen() throws {
            try stores.close()
            stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
        }
        func check(_ stage: String) async throws {
            let ids = Dictionary(uniqueKeysWithValues: store.series(matching: [try SeriesSelector(parsing: "{__name__=~\".+\"}")])
                .map { ($0.labels.metricName!, $0.id) })
            for name in HeadDiskAgreementTests.names {
                let id = try #require(ids[name])
                let raw = try await store.rawSamples(seriesID: id, from: 0, to: .max)
                #expect(raw.map(\.timestamp) == model.raw(name).map(\.timestamp), "\(stage): \(name) raw timestamps")
                #expect(raw.map(\.value.bitPattern) == model.raw(name).map(\.value.bitPattern), "\(stage): \(name) raw values")
                let minutes = try await store.rollups(.minute, seriesID: id, from: 0, to: 11 * HeadDiskAgreementTests.hour)
                let expected = model.minutes(name)
                let differ = zip(minutes, expected).first { $0 != $1 }
                #expect(minutes.count == expected.count && differ == nil,
                        "\(stage): \(name) 1-minute rollups: \(minutes.count) of \(expected.count), first differing \(differ.map { "\($0)" } ?? "-")")
                #expect(try await store.rollups(.hour, seriesID: id, from: 0, to: 11 * HeadDiskAgreementTests.hour) == model.hours(name),
                        "\(stage): \(name) 1-hour rollups")
                if name.hasSuffix("_total") {
                    for (from, to) in [(0, 10 * HeadDiskAgreementTests.hour), (HeadDiskAgreementTests.hour + 7, 5 * HeadDiskAgreementTests.hour - 3)] as [(Int64, Int64)] {
                        let increase = try await store.counterIncrease(seriesID: id, from: from, to: to, now: 10 * HeadDiskAgreementTests.hour,
                                                                       baselineMs: 10 * HeadDiskAgreementTests.hour)
                        #expect(increase.increase == model.increase(name, from: from, to: to), "\(stage): \(name) increase over (\(from), \(to)]")
                    }
                }
            }
        }

        try await push(Array(onTime[..<(onTime.count / 2)]))
        try await store.checkpointHead()
        try await push(Array(onTime[(onTime.count / 2)...]))
        try await check("all in the head")
        try reopen()
        try await check("from a checkpoint and the log after it")
        #expect(try await store.compact(now: 11 * HeadDiskAgreementTests.hour) > 0)
        try await check("after a flush")
        try reopen()
        try await check("after a restart (the checkpoint holds flushed windows)")
        try await push(late)
        try await check("late samples in the head")
        try await store.checkpointHead()
        try reopen()
        try await check("late samples from a checkpoint")
        #expect(try await store.compact(now: 11 * HeadDiskAgreementTests.hour) > 0)
        try await check("late samples flushed")
        try reopen()
        try await check("after another restart")
        try stores.close()
    }
}
