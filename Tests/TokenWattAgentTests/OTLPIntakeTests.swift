import AsyncHTTPClient
import Foundation
import Logging
import Testing
import TokenWattCore
import TokenWattService
import TokenWattTestSupport
@testable import TokenWattSender

/// The agent's OTLP intake: GenAI usage counted once across exports, retries and restarts;
/// other metrics relayed through the spool.
@Suite struct OTLPIntakeTests {
    static let t: Int64 = TimeBounds.nowMilliseconds() - 60_000
    static let sources: GenAIUsage.AttributeSources = ["agent": ["agent", "service.name"], "team": ["team"]]

    /// A `gen_ai.client.token.usage` histogram of one call kind: its input and output points.
    static func tokenUsage(input: Double, output: Double, calls: UInt64, at milliseconds: Int64, start: Int64, delta: Bool = false,
                           model: String = "gpt-4o-mini", system: String = "openai") -> OTLP_Metric {
        func point(_ type: String, _ sum: Double) -> OTLP_HistogramDataPoint {
            var point = OTLPRequests.histogramPoint(at: milliseconds, bounds: [1_000], counts: [calls, 0], sum: sum, [
                "gen_ai.token.type": type, "gen_ai.request.model": model, "gen_ai.system": system, "gen_ai.operation.name": "chat"])
            point.startTimeUnixNano = UInt64(start) * 1_000_000
            return point
        }
        var metric = OTLPRequests.histogram("gen_ai.client.token.usage", unit: "{token}", delta: delta, point("input", input), point("output", output))
        metric.histogram.dataPoints[0].count = calls
        metric.histogram.dataPoints[1].count = calls
        return metric
    }

    static func export(_ metrics: OTLP_Metric..., resource: [String: String] = ["service.name": "support-bot", "team": "research"]) throws -> OTLPExport {
        try OTLPWireDecoder.decode(OTLPRequests.protobuf(OTLPRequests.request(OTLPRequests.resource(resource, metrics: metrics))))
    }

    /// An intake over a fresh or reopened folder; the pusher is never run (it only needs waking).
    static func withIntake(_ directory: String, _ body: (OTLPIntake, UsageCollector, Spool) async throws -> Void) async throws {
        let store = try CounterStore(path: directory + "/counters.sqlite")
        let spool = try Spool(path: directory + "/spool.sqlite", maxBytes: 1 << 20, maxAgeMs: Milliseconds.hour)
        let collector = try UsageCollector(store: store, attributes: ["team", "agent"], maxValuesPerAttribute: 10)
        try await withClient { client in
            let pusher = Pusher(spool: spool, settings: .init(url: "http://127.0.0.1:1/api/v1/write", token: nil), client: OutboundClient(http: client),
                                logger: Logger(label: "test"))
            try await body(try OTLPIntake(usage: collector, spool: spool, pusher: pusher, store: store, sources: sources), collector, spool)
        }
    }

    static func counted(_ collector: UsageCollector, type: String) async throws -> Double? {
        _ = try await collector.collect()
        return UsageCollectorTests.tokens(try await collector.collect(), ["model": "gpt-4o-mini", "provider": "openai", "agent": "support-bot",
                                                                           "team": "research", "type": type])
    }

    @Test func cumulativeExportsCountTheirIncreaseOnceThroughRetriesRestartsAndResets() async throws {
        let directory = try Environment.temporaryDirectory("otlp-intake")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let start = OTLPIntakeTests.t - 600_000
        try await OTLPIntakeTests.withIntake(directory) { intake, collector, _ in
            _ = try intake.take(try OTLPIntakeTests.export(OTLPIntakeTests.tokenUsage(input: 1_200, output: 300, calls: 1, at: OTLPIntakeTests.t, start: start)),
                                now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            let next = try OTLPIntakeTests.export(OTLPIntakeTests.tokenUsage(input: 3_000, output: 1_000, calls: 3, at: OTLPIntakeTests.t + 10_000, start: start))
            _ = try intake.take(next, now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            // The exporter retries the same export: the same cumulative value adds nothing.
            _ = try intake.take(next, now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(try await OTLPIntakeTests.counted(collector, type: "input") == 3_000)
            #expect(try await OTLPIntakeTests.counted(collector, type: "output") == 1_000)
        }
        // A restarted agent knows where each stream stood; the application restarted too (a new
        // start time), so its first export counts from zero.
        try await OTLPIntakeTests.withIntake(directory) { intake, collector, _ in
            _ = try intake.take(try OTLPIntakeTests.export(OTLPIntakeTests.tokenUsage(input: 3_500, output: 1_100, calls: 4, at: OTLPIntakeTests.t + 20_000, start: start)),
                                now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            _ = try intake.take(try OTLPIntakeTests.export(OTLPIntakeTests.tokenUsage(input: 100, output: 10, calls: 1, at: OTLPIntakeTests.t + 30_000, start: OTLPIntakeTests.t + 25_000)),
                                now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(try await OTLPIntakeTests.counted(collector, type: "input") == 3_600)
            #expect(try await OTLPIntakeTests.counted(collector, type: "output") == 1_110)
            _ = try await collector.collect()
            let requests = total(try await collector.collect(), "tokenwatt_requests_total", ["model": "gpt-4o-mini", "agent": "support-bot"])
            #expect(requests == 5)
        }
    }

    @Test func deltasCountAsTheyComeAndTheNewCountersAndTheirSpellingsAreRead() async throws {
        let directory = try Environment.temporaryDirectory("otlp-intake")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await OTLPIntakeTests.withIntake(directory) { intake, collector, _ in
            let delta = OTLPIntakeTests.tokenUsage(input: 500, output: 50, calls: 2, at: OTLPIntakeTests.t, start: OTLPIntakeTests.t - 10_000, delta: true)
            _ = try intake.take(try OTLPIntakeTests.export(delta), now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            _ = try intake.take(try OTLPIntakeTests.export(delta), now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(try await OTLPIntakeTests.counted(collector, type: "input") == 1_000)
            // The conventions' newer counters, with gen_ai.provider.name and a response model.
            func counter(_ name: String, _ value: Double) -> OTLP_Metric {
                OTLPRequests.sum(name, unit: "{token}", OTLPRequests.point(value, at: OTLPIntakeTests.t, [
                    "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o-mini", "gen_ai.request.model": "gpt-4o"], start: OTLPIntakeTests.t - 5_000))
            }
            _ = try intake.take(try OTLPIntakeTests.export(counter("gen_ai.client.inference.usage.input_tokens", 70),
                                                           counter("gen_ai.client.inference.usage.cache_read.input_tokens", 40),
                                                           counter("gen_ai.client.inference.usage.reasoning.output_tokens", 9)),
                                now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(try await OTLPIntakeTests.counted(collector, type: "input") == 1_070)
            #expect(try await OTLPIntakeTests.counted(collector, type: "cached_input") == 40)
            #expect(try await OTLPIntakeTests.counted(collector, type: "reasoning") == 9)
        }
    }

    @Test func pointsThatAreNotCountsAreRejectedAndNothingElseIsLost() async throws {
        let directory = try Environment.temporaryDirectory("otlp-intake")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await OTLPIntakeTests.withIntake(directory) { intake, collector, _ in
            var bad = OTLPIntakeTests.tokenUsage(input: .nan, output: -5, calls: 1, at: OTLPIntakeTests.t, start: OTLPIntakeTests.t - 1_000, delta: true)
            var unknown = bad.histogram.dataPoints[0]
            unknown.attributes = OTLPRequests.keyValues(["gen_ai.token.type": "audio", "gen_ai.request.model": "gpt-4o-mini"])
            bad.histogram.dataPoints.append(unknown)
            let good = OTLPIntakeTests.tokenUsage(input: 10, output: 2, calls: 1, at: OTLPIntakeTests.t, start: OTLPIntakeTests.t - 1_000, delta: true, model: "gpt-4o-mini")
            let gauge = OTLPRequests.gauge("gen_ai.client.token.usage", OTLPRequests.point(1, at: OTLPIntakeTests.t))
            let outcome = try intake.take(try OTLPIntakeTests.export(bad), now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(outcome.rejections.count == 3)
            #expect(outcome.rejections.message.contains("nan is not a count of tokens or requests"))
            #expect(outcome.rejections.message.contains("-5.0 is not a count"))
            #expect(outcome.rejections.message.contains("\"audio\" is not a token type"))
            let second = try intake.take(try OTLPIntakeTests.export(good, gauge), now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
            #expect(second.rejections.count == 1 && second.rejections.message.contains("not of the kind the GenAI conventions define"))
            #expect(try await OTLPIntakeTests.counted(collector, type: "input") == 10)
            #expect(total(try await collector.collect(), "tokenwatt_usage_otlp_rejected_points_total") == 4)
        }
    }

    @Test func otherMetricsAreRelayedThroughTheSpoolDeltasAsCounters() async throws {
        let directory = try Environment.temporaryDirectory("otlp-intake")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await OTLPIntakeTests.withIntake(directory) { intake, _, spool in
            let queue = OTLPRequests.gauge("app.queue.depth", unit: "{item}", OTLPRequests.point(4, at: OTLPIntakeTests.t))
            for offset in [0, 10_000] as [Int64] {
                let served = OTLPRequests.sum("app.requests", delta: true, OTLPRequests.point(5, at: OTLPIntakeTests.t + offset, ["route": "/a"]))
                let outcome = try intake.take(try OTLPIntakeTests.export(queue, served, OTLPIntakeTests.tokenUsage(input: 1, output: 1, calls: 1, at: OTLPIntakeTests.t, start: 1, delta: true)),
                                              now: OTLPIntakeTests.t, maxFutureSkewMs: 600_000)
                #expect(outcome.relayedSamples == 3)  // the gauge, the counter, target_info
            }
            let relayed = try spool.nextBatches(maxBytes: 1 << 20).flatMap { try RemoteWriteCodec.decode(Snappy.compress($0.body)) }
            // The spool hands the newest batch first: in time order, the running total.
            let counters = relayed.filter { $0.labels.metricName == "app_requests_total" }.flatMap(\.samples).sorted { $0.timestamp < $1.timestamp }.map(\.value)
            #expect(counters == [5, 10])
            #expect(relayed.contains { $0.labels.metricName == "app_queue_depth" && $0.labels["job"] == "support-bot" })
            #expect(!relayed.contains { $0.labels.metricName?.hasPrefix("gen_ai") == true })
        }
    }

    /// The README's table of names read is the reader's: every metric name and token type it
    /// takes is listed (current and older spellings side by side).
    @Test func theREADMEListsEveryNameTheReaderTakes() throws {
        let readme = try String(contentsOf: DocsPage.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## OpenTelemetry and remote write").dropFirst().first)
        let names = GenAIUsage.readNames.map { name in
            // Counters that share a prefix are written once, then by their suffix.
            name.hasPrefix("gen_ai.client.inference.usage.") && name != "gen_ai.client.inference.usage.input_tokens" && name != "gen_ai.client.inference.usage.cache_write.input_tokens"
                ? "." + name.dropFirst("gen_ai.client.inference.usage.".count) : name
        }
        for name in names + GenAIUsage.tokenTypes.keys.sorted() + GenAIUsage.modelKeys + GenAIUsage.providerKeys {
            #expect(section.contains("`\(name)`"), "the README does not name \(name)")
        }
    }
}
