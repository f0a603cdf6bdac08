import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattAgent
@testable import TokenWattSender

@Suite struct UsageReportTests {
    static let now = 1_764_400_000.0

    func parse(_ json: String) throws(UsageReport.Invalid) -> [UsageReport] {
        try UsageReport.parse(Array(json.utf8), now: UsageReportTests.now)
    }

    func report(model: String, provider: String = "unknown", input: Int = 0, output: Int = 0, cached: Int = 0, reasoning: Int = 0,
                attributes: [String: String] = [:], timestamp: Double? = nil) -> UsageReport {
        var report = UsageReport(model: model, provider: provider)
        report.inputTokens = input
        report.outputTokens = output
        report.cachedInputTokens = cached
        report.reasoningTokens = reasoning
        report.attributes = attributes
        report.timestamp = timestamp
        return report
    }

    @Test func tokenWattsOwnFields() throws {
        let reports = try parse("""
            {"timestamp": "2025-11-29T07:06:40Z", "model": "gpt-5-mini", "provider": "openai", "input_tokens": 1200,
             "output_tokens": 300, "cached_input_tokens": 1000, "reasoning_tokens": 100, "attributes": {"team": "research", "agent": ""}}
            """)
        #expect(reports == [report(model: "gpt-5-mini", provider: "openai", input: 1_200, output: 300, cached: 1_000, reasoning: 100,
                                   attributes: ["team": "research"], timestamp: 1_764_400_000)])
    }

    @Test func openAIChatCompletionsUsageAsReturned() throws {
        let reports = try parse("""
            {"model": "gpt-4o-2024-08-06", "provider": "openai", "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
             "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}}
            """)
        #expect(reports == [report(model: "gpt-4o-2024-08-06", provider: "openai", input: 2_006, output: 300, cached: 1_920)])
        // Details may be null, and the streaming chunk's usage reads the same.
        let streamed = try parse(#"{"model": "m", "usage": {"prompt_tokens": 9, "completion_tokens": 12, "prompt_tokens_details": null}}"#)
        #expect(streamed == [report(model: "m", input: 9, output: 12)])
    }

    @Test func openAIResponsesUsageAsReturned() throws {
        let reports = try parse("""
            {"model": "o3", "provider": "openai", "usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 128},
             "output_tokens": 1090, "output_tokens_details": {"reasoning_tokens": 960}, "total_tokens": 1418}}
            """)
        #expect(reports == [report(model: "o3", provider: "openai", input: 328, output: 1_090, cached: 128, reasoning: 960)])
    }

    @Test func anthropicMessagesUsageCountsCacheReadsAndWritesAsInput() throws {
        let reports = try parse("""
            {"model": "claude-sonnet-4-5", "provider": "anthropic", "usage": {"input_tokens": 50, "cache_creation_input_tokens": 2000,
             "cache_read_input_tokens": 8000, "output_tokens": 500, "service_tier": "standard"}}
            """)
        // input = 50 uncached + 2000 written to the cache + 8000 read from it; cached = 8000.
        #expect(reports == [report(model: "claude-sonnet-4-5", provider: "anthropic", input: 10_050, output: 500, cached: 8_000)])
    }

    @Test func anArrayIsTakenWhole() throws {
        let reports = try parse(#"[{"model": "a", "input_tokens": 1}, {"model": "b", "output_tokens": 2}]"#)
        #expect(reports.map(\.model) == ["a", "b"])
    }

    static let invalid: [(body: String, field: String)] = [
        ("{", ""),
        ("42", ""),
        ("[]", ""),
        (#"[{"model": "a"}, 7]"#, "[1]"),
        (#"[{"model": "a"}, {"input_tokens": 1}]"#, "[1].model"),
        (#"{"model": 5}"#, "model"),
        (#"{"model": ""}"#, "model"),
        (#"{"model": "m", "provider": ["x"]}"#, "provider"),
        (#"{"model": "m", "input_tokens": -1}"#, "input_tokens"),
        (#"{"model": "m", "output_tokens": 1.5}"#, "output_tokens"),
        (#"{"model": "m", "output_tokens": "12"}"#, "output_tokens"),
        (#"{"model": "m", "input_tokens": true}"#, "input_tokens"),
        (#"{"model": "m", "input_tokens": 1e300}"#, "input_tokens"),
        (#"{"model": "m", "input_tokens": 5, "cached_input_tokens": 6}"#, "cached_input_tokens"),
        (#"{"model": "m", "output_tokens": 5, "reasoning_tokens": 6}"#, "reasoning_tokens"),
        (#"{"model": "m", "input_token": 5}"#, "input_token"),
        (#"{"model": "m", "input_tokens": 5, "usage": {"prompt_tokens": 5}}"#, "input_tokens"),
        (#"{"model": "m", "usage": null}"#, "usage"),
        (#"{"model": "m", "usage": {"total_tokens": 5}}"#, "usage"),
        (#"{"model": "m", "usage": {"prompt_tokens": "5"}}"#, "usage.prompt_tokens"),
        (#"{"model": "m", "usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": -2}}}"#, "usage.prompt_tokens_details.cached_tokens"),
        (#"{"model": "m", "usage": {"input_tokens": 5, "input_tokens_details": 3}}"#, "usage.input_tokens_details"),
        (#"{"model": "m", "attributes": ["team"]}"#, "attributes"),
        (#"{"model": "m", "attributes": {"team": 7}}"#, "attributes.team"),
        (#"{"model": "m", "timestamp": "yesterday"}"#, "timestamp"),
        (#"{"model": "m", "timestamp": 1764490000}"#, "timestamp"),
        (#"{"model": "m", "timestamp": 1e19}"#, "timestamp"),
        (#"{"model": "m", "timestamp": 1e300}"#, "timestamp"),
        (#"{"model": "m", "timestamp": -1e300}"#, "timestamp"),
        (#"{"model": "m", "timestamp": "9999-12-31T23:59:59Z"}"#, "timestamp"),
        (#"{"model": "m", "output_tokens": 1e300}"#, "output_tokens"),
        (#"{"model": "m", "output_tokens": -1}"#, "output_tokens"),
        (#"{"model": "m", "id": 42}"#, "id"),
    ]

    @Test(arguments: invalid)
    func invalidInputNamesTheField(_ body: String, _ field: String) {
        #expect { try parse(body) } throws: { error in
            guard let invalid = error as? UsageReport.Invalid else { return false }
            return invalid.field == field && !invalid.reason.isEmpty
        }
    }
}

@Suite struct UsageCollectorTests {
    static func tokens(_ samples: [ExpositionSample], _ labels: [String: String]) -> Double? {
        total(samples, "tokenwatt_tokens_total", labels)
    }

    @Test func aNewSeriesIsFirstReportedAtZeroThenItsTotal() async throws {
        let collector = try UsageCollector(store: nil, attributes: ["team"], maxValuesPerAttribute: 10)
        var report = UsageReport(model: "gpt-5-mini", provider: "openai")
        report.inputTokens = 1_000
        report.outputTokens = 200
        report.attributes = ["team": "research"]
        _ = try collector.record([report])
        let identity = ["model": "gpt-5-mini", "provider": "openai", "source": "usage_api", "team": "research"]
        let first = try await collector.collect()
        #expect(UsageCollectorTests.tokens(first, identity.merging(["type": "input"]) { $1 }) == 0)
        let second = try await collector.collect()
        #expect(UsageCollectorTests.tokens(second, identity.merging(["type": "input"]) { $1 }) == 1_000)
        #expect(UsageCollectorTests.tokens(second, identity.merging(["type": "output"]) { $1 }) == 200)
        // No cached or reasoning series for tokens that were never reported.
        #expect(UsageCollectorTests.tokens(second, ["type": "cached_input"]) == nil)
        #expect(total(second, "tokenwatt_requests_total", identity) == 1)
        #expect(total(second, "tokenwatt_usage_reports_total", ["outcome": "accepted"]) == 1)
    }

    @Test func theNodesAttributionFillsWhatAReportLeavesOut() async throws {
        let collector = try UsageCollector(store: nil, attributes: ["team", "project"], defaults: ["team": "platform", "project": "batch"],
                                           maxValuesPerAttribute: 10)
        var own = UsageReport(model: "m", provider: "p")
        own.outputTokens = 10
        own.attributes = ["team": "research"]
        var bare = UsageReport(model: "m", provider: "p")
        bare.outputTokens = 5
        _ = try collector.record([own, bare])
        _ = try await collector.collect()
        let samples = try await collector.collect()
        #expect(UsageCollectorTests.tokens(samples, ["team": "research", "project": "batch"]) == 10)
        #expect(UsageCollectorTests.tokens(samples, ["team": "platform", "project": "batch"]) == 5)
    }

    @Test func attributesOutsideTheAllowListAreDroppedAndValuesPastTheCapAreOther() async throws {
        let directory = try Environment.temporaryDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try CounterStore(path: directory + "/counters.sqlite")
        let collector = try UsageCollector(store: store, attributes: ["team"], maxValuesPerAttribute: 2)
        func report(team: String) -> UsageReport {
            var report = UsageReport(model: "m", provider: "p")
            report.outputTokens = 10
            report.attributes = ["team": team, "user_id": "u-\(team)"]
            return report
        }
        let outcome = try collector.record([report(team: "a"), report(team: "b"), report(team: "c"), report(team: "a")])
        #expect(outcome == UsageCollector.Outcome(accepted: 4, droppedAttributes: ["user_id"], overflowedAttributes: ["team"]))
        _ = try await collector.collect()
        let samples = try await collector.collect()
        #expect(UsageCollectorTests.tokens(samples, ["team": "a"]) == 20)
        #expect(UsageCollectorTests.tokens(samples, ["team": "b"]) == 10)
        #expect(UsageCollectorTests.tokens(samples, ["team": "other"]) == 10)
        #expect(samples.allSatisfy { !$0.labels.contains { $0.name == "user_id" } })
        #expect(total(samples, "tokenwatt_usage_attribute_overflow_total", ["attribute": "team"]) == 1)
        #expect(total(samples, "tokenwatt_usage_dropped_attributes_total") == 4)

        // After a restart the cap remembers the values it let in, and the counters go on.
        let restarted = try UsageCollector(store: store, attributes: ["team"], maxValuesPerAttribute: 2)
        _ = try restarted.record([report(team: "d"), report(team: "b")])
        let after = try await restarted.collect()
        #expect(UsageCollectorTests.tokens(after, ["team": "b"]) == 20)
        #expect(UsageCollectorTests.tokens(after, ["team": "other"]) == 20)
        #expect(UsageCollectorTests.tokens(after, ["team": "d"]) == nil)
    }

    /// A saved counter whose labels do not read back stops the collector's start with the row
    /// named, instead of counting on under no labels (another series' tokens); the row stays.
    @Test func aSavedCounterWithUnreadableLabelsStopsTheStartAndStays() async throws {
        let directory = try Environment.temporaryDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try CounterStore(path: directory + "/counters.sqlite")
        var report = UsageReport(model: "m", provider: "p")
        report.outputTokens = 10
        report.attributes = ["team": "a"]
        _ = try UsageCollector(store: store, attributes: ["team"], maxValuesPerAttribute: 2).record([report])
        #expect(try store.load(scope: "usage_api").count == 2)

        let queue = try DatabaseQueue(path: directory + "/counters.sqlite")
        for broken in [#"[["team"]]"#, #"[["team", "a""#] {
            try await queue.write { db in try db.execute(sql: "UPDATE counters SET labels = ?", arguments: [broken]) }
            #expect { try UsageCollector(store: store, attributes: ["team"], maxValuesPerAttribute: 2) } throws: { error in
                "\(error)".contains("has labels that are not a JSON list of [name, value] pairs: \(broken)")
            }
            #expect(try await queue.read { db in try String.fetchAll(db, sql: "SELECT labels FROM counters") } == [broken, broken])
        }
    }

    @Test func newModelsPastTheSeriesCapCountAsOtherAndTheirTokensStillAddUp() async throws {
        let collector = try UsageCollector(store: nil, attributes: [], maxValuesPerAttribute: 10, maxSeries: 10)
        let reports = (0..<40_000).map { index in
            var report = UsageReport(model: "model-\(index)", provider: "p")
            report.outputTokens = 7
            return report
        }
        let outcome = try collector.record(reports)
        #expect(outcome.accepted == 40_000)
        #expect(outcome.overflowedAttributes == ["model"])
        _ = try await collector.collect()
        let samples = try await collector.collect()
        // Three models fit under the cap (each makes an output and a requests series).
        #expect(samples.filter { $0.name == "tokenwatt_tokens_total" }.count == 4)
        #expect(UsageCollectorTests.tokens(samples, ["model": "other", "provider": "other"]) == Double(39_997 * 7))
        #expect(UsageCollectorTests.tokens(samples, [:]) == Double(40_000 * 7))
        #expect(total(samples, "tokenwatt_usage_attribute_overflow_total", ["attribute": "model"]) == 39_997)
    }

    @Test func aReportSentAgainWithItsIdCountsOnceAcrossRequestsAndRestarts() async throws {
        let directory = try Environment.temporaryDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try CounterStore(path: directory + "/counters.sqlite")
        func report(_ id: String) -> UsageReport {
            var report = UsageReport(model: "m", provider: "p")
            report.outputTokens = 100
            report.id = id
            return report
        }
        let collector = try UsageCollector(store: store, attributes: [], maxValuesPerAttribute: 1)
        #expect(try collector.record([report("req-1"), report("req-2"), report("req-1")]) == UsageCollector.Outcome(accepted: 2, duplicates: 1))
        #expect(try collector.record([report("req-2"), report("req-3")]) == UsageCollector.Outcome(accepted: 1, duplicates: 1))
        let restarted = try UsageCollector(store: store, attributes: [], maxValuesPerAttribute: 1)
        #expect(try restarted.record([report("req-3"), report("req-4")]) == UsageCollector.Outcome(accepted: 1, duplicates: 1))
        _ = try await restarted.collect()
        let samples = try await restarted.collect()
        #expect(UsageCollectorTests.tokens(samples, ["type": "output"]) == 400)
        #expect(total(samples, "tokenwatt_usage_reports_total", ["outcome": "duplicate"]) == 1)
        // Ids are kept a day.
        try store.save(scope: "other", [:], reportIDs: ["old"], now: Int64(Date().timeIntervalSince1970 * 1000) - 25 * Milliseconds.hour)
        try store.save(scope: "other", [:], reportIDs: ["new"])
        #expect(try store.seenReportIDs(["old", "new", "req-1"]) == ["new", "req-1"])
    }

    @Test func reportsSurviveARestartBeforeTheyArePushedAndAreAnnouncedOnce() async throws {
        let directory = try Environment.temporaryDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try CounterStore(path: directory + "/counters.sqlite")
        var report = UsageReport(model: "m", provider: "p")
        report.inputTokens = 7
        let collector = try UsageCollector(store: store, attributes: [], maxValuesPerAttribute: 1)
        _ = try collector.record([report])
        // Gone before collecting: the next agent announces the series, then counts it.
        let second = try UsageCollector(store: store, attributes: [], maxValuesPerAttribute: 1)
        #expect(UsageCollectorTests.tokens(try await second.collect(), ["type": "input"]) == 0)
        #expect(UsageCollectorTests.tokens(try await second.collect(), ["type": "input"]) == 7)
        // Announced and saved: a third agent does not go back to 0.
        let third = try UsageCollector(store: store, attributes: [], maxValuesPerAttribute: 1)
        #expect(UsageCollectorTests.tokens(try await third.collect(), ["type": "input"]) == 7)
    }
}

@Suite struct UsageHandlerTests {
    static func application(token: String?) throws -> (some ApplicationProtocol, UsageCollector) {
        let collector = try UsageCollector(store: nil, attributes: ["team"], maxValuesPerAttribute: 10)
        let router = Router()
        router.post("/v1/usage", use: UsageHandler(collector: collector, token: token, logger: Logger(label: "test")).handle)
        return (Application(router: router), collector)
    }

    @Test func answersWhatWasTakenAndRefusesWithReasons() async throws {
        let (app, collector) = try UsageHandlerTests.application(token: "s3cret")
        try await app.test(.router) { client in
            let json: HTTPFields = [.contentType: "application/json", .authorization: "Bearer s3cret"]
            try await client.execute(uri: "/v1/usage", method: .post, headers: json,
                                     body: ByteBuffer(string: #"[{"model": "m", "input_tokens": 5, "attributes": {"team": "x", "user": "y"}}]"#)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"accepted":1,"dropped_attributes":["user"],"duplicates":0,"overflowed_attributes":[]}"#)
            }
            try await client.execute(uri: "/v1/usage", method: .post, headers: json,
                                     body: ByteBuffer(string: #"[{"model": "m", "input_tokens": 5}, {"model": "m", "input_tokens": -5}]"#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("[1].input_tokens"))
            }
            try await client.execute(uri: "/v1/usage", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"model": "m"}"#)) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/usage", method: .post, headers: [.contentType: "text/plain", .authorization: "Bearer s3cret"],
                                     body: ByteBuffer(string: #"{"model": "m"}"#)) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            let huge = "[" + Array(repeating: #"{"model": "m", "input_tokens": 1}"#, count: 200_000).joined(separator: ",") + "]"
            try await client.execute(uri: "/v1/usage", method: .post, headers: json, body: ByteBuffer(string: huge)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
        // The refused array took nothing: 5 tokens from the first request only.
        _ = try await collector.collect()
        let samples = try await collector.collect()
        #expect(total(samples, "tokenwatt_tokens_total", ["type": "input"]) == 5)
        #expect(total(samples, "tokenwatt_usage_reports_total", ["outcome": "rejected"]) == 3)
    }
}
