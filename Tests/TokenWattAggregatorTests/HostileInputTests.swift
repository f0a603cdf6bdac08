import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator

/// Requests found to crash, freeze or bloat the aggregator, each answered 400 (or 413) now,
/// with the aggregator still serving afterwards.
@Suite struct HostileInputTests {
    static let attacks = [
        "/api/v1/query_range?query=up&start=1e300&end=1e300&step=15",
        "/api/v1/query_range?query=up&start=1&end=2&step=1e300",
        "/api/v1/query_range?query=up&start=-1e17&end=1e17&step=1e15",
        "/api/v1/query_range?query=up&start=0&end=9223372036854775&step=100",
        "/api/v1/query_range?query=up&start=0&end=100&step=106751990000d",
        "/api/v1/query_range?query=up&start=0&end=100&step=-5",
        "/api/v1/query_range?query=up&start=NaN&end=100&step=5",
        "/api/v1/query_range?query=up&start=0&end=inf&step=5",
        "/api/v1/query_range?query=up&start=0&end=100000000&step=0.001",
        "/api/v1/tokens?to=1e300",
        "/api/v1/tokens?to=-9223372036854775",
        "/api/v1/costs?from=1e300",
        "/api/v1/costs?to=-1e300",
        "/api/v1/series?match[]=%7B__name__%3D~%22(a%22%7D",
        "/api/v1/series?match[]=%7B__name__%3D~%22a%7B1001%7D%22%7D",
    ]

    @Test(arguments: attacks) func answers400AndKeepsServing(uri: String) async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest, "\(uri): \(String(buffer: response.body))")
            }
            try await client.execute(uri: "/-/healthy", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    /// The edges of the accepted range are answered as any other time.
    @Test(arguments: ["/api/v1/tokens?from=-62135596800&to=-62135596799.5", "/api/v1/tokens?to=-62135596800",
                      "/api/v1/costs?from=-62135596800&to=-62135596000", "/api/v1/costs?to=253402300799",
                      "/api/v1/query_range?query=up&start=-62135596800&end=253402300799&step=10000y"])
    func theEdgesOfTheRangeAreAnswered(uri: String) async throws {
        try await withAggregator { client, _ in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .ok, "\(uri): \(String(buffer: response.body))")
            }
        }
    }

    @Test func aBacktrackingPatternOverManySeriesAnswersAtOnce() async throws {
        try await withAggregator { client, _ in
            let series = (0..<200).map { ts("tokenwatt_metric_\($0)_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", [:], [(t0, 1)]) }
            let (headers, body) = push(series)
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                let pattern = "%7B__name__%3D~%22(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)Q%22%7D"
                try await client.execute(uri: "/api/v1/series?match[]=\(pattern)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("\"data\":[]"))
                }
            }
            #expect(elapsed < .seconds(5), "took \(elapsed)")
        }
    }

    @Test func infiniteAndNaNCountersAreAnsweredNotFatal() async throws {
        try await withAggregator { client, _ in
            let (headers, body) = push([
                ts("tokenwatt_tokens_total", ["model": "inf", "type": "input"], [(t0 - 60_000, 0), (t0, .infinity)]),
                // Two increases of 1e308 in one group add up to infinity.
                ts("tokenwatt_tokens_total", ["model": "big", "type": "input", "engine": "0"], [(t0 - 60_000, 0), (t0, 1e308)]),
                ts("tokenwatt_tokens_total", ["model": "big", "type": "input", "engine": "1"], [(t0 - 60_000, 0), (t0, 1e308)]),
                ts("tokenwatt_tokens_total", ["model": "nan", "type": "output"], [(t0 - 60_000, 0), (t0, .nan)]),
                ts("tokenwatt_requests_total", ["model": "inf"], [(t0 - 60_000, -.infinity), (t0, 1e308), (t0 + 1, -1e308)]),
            ])
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            for uri in ["/api/v1/tokens?from=\(t0 / 1000 - 3600)&to=\(t0 / 1000 + 1)", "/api/v1/costs", "/metrics", "/api/v1/budgets"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri): \(String(buffer: response.body))")
                    let text = String(buffer: response.body)
                    #expect(!text.contains("could not be written"), "\(uri)")
                    if uri.hasPrefix("/api/") { #expect(!text.contains("-1e+308"), "a negative counter counted: \(uri)") }
                    if uri.hasPrefix("/api/v1/tokens") { #expect(text.contains("\"+Inf\"")) }
                }
            }
        }
    }

    @Test func aQueryOfTooManyPointsIsRefusedBeforeItIsEvaluated() async throws {
        try await withAggregator { client, _ in
            let (headers, body) = push((0..<100).map { ts("m", ["i": "\($0)"], [(t0, 1)]) })
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            // 100 series × 10,001 steps.
            let uri = "/api/v1/query_range?query=m&start=\(t0 / 1000 - 10_000)&end=\(t0 / 1000)&step=1"
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("would return 1000100 points (100 series)"))
            }
        }
    }

    @Test func pushesOfTheAggregatorsOwnFamiliesAreRefused() async throws {
        try await withAggregator { client, aggregator in
            // Every family the aggregator describes as its own, by family and series name; none of the agent's.
            let described = MetricDescriptor.aggregatorFamilies(currency: "usd").flatMap { [$0.name, $0.seriesName] }
            #expect(MetricDescriptor.pushedFamilies.allSatisfy { !MetricDescriptor.reservedForTheAggregator.contains($0.seriesName) && !MetricDescriptor.reservedForTheAggregator.contains($0.name) })
            let names = Array(Set(["tokenwatt_cost_usd_total", "tokenwatt_budget_spent", "tokenwatt_aggregator_series", "tokenwatt_agent_up",
                                   "tokenwatt_savings_usd_total", "tokenwatt_forward_samples_total",
                                   // Whole subsystems, any currency, names to come.
                                   "tokenwatt_cost_eur_total", "tokenwatt_cloud_equivalent_eur_total", "tokenwatt_idle_cost_eur_total",
                                   "tokenwatt_advice_later", "tokenwatt_alert_later", "tokenwatt_break_even_later", "tokenwatt_unpriced_later",
                                   "tokenwatt_budget_later", "tokenwatt_aggregator_later"] + described)).sorted()
            for name in names {
                let (headers, body) = push([ts(name, ["node": "x"], [(t0, 1e12)])])
                try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("the aggregator computes this family itself"))
                }
            }
            #expect(aggregator.stores.samples.seriesCount == 0)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
                #expect(Set(types).count == types.count, "duplicate TYPE lines")
                #expect(text.contains("tokenwatt_aggregator_rejected_requests_total{reason=\"reserved_name\"} \(names.count)"))
            }
        }
    }

    @Test func boundsOnSeriesLabelsAndNodesAreCheckedBeforeStoring() async throws {
        try await withAggregator({ configuration in
            configuration.ingest.limits.maxSeries = 50
            configuration.ingest.maxSeriesPerNode = 30
        }) { client, aggregator in
            func status(_ series: [TimeSeries]) async throws -> (HTTPResponse.Status, String) {
                let (headers, body) = push(series)
                return try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { ($0.status, String(buffer: $0.body)) }
            }
            // 8 MiB label value, 100 labels: refused alone (400), never stored.
            let long = try await status([ts("m", ["model": String(repeating: "x", count: 8 << 20)], [(t0, 1)])])
            #expect(long.0 == .badRequest && long.1.contains("label value of 8388608 bytes"))
            let many = try await status([ts("m", Dictionary(uniqueKeysWithValues: (0..<100).map { ("l\($0)", "v") }), [(t0, 1)])])
            #expect(many.0 == .badRequest && many.1.contains("more than 64 labels"))
            // Too many series in one request: 413, so a sender splits it.
            let wide = try await status((0..<51).map { ts("m", ["i": "\($0)"], [(t0, 1)]) })
            #expect(wide.0 == .contentTooLarge)
            // The node's series limit: 25 fit, 10 more do not; known series still do.
            #expect(try await status((0..<25).map { ts("m", ["i": "\($0)"], [(t0, 1)]) }).0 == .noContent)
            let over = try await status((20..<35).map { ts("m", ["i": "\($0)"], [(t0 + 1000, 1)]) })
            #expect(over.0 == .badRequest && over.1.contains("ingest.max_series_per_node"))
            #expect(try await status((0..<25).map { ts("m", ["i": "\($0)"], [(t0 + 2000, 2)]) }).0 == .noContent)
            #expect(aggregator.stores.samples.seriesCount == 25)
        }
    }

    /// The aggregator's own bounds: series in all (429, the series kept; known series still
    /// welcome) and the head's memory (503 with Retry-After until a flush frees it), each
    /// counted by its reason.
    @Test func theSeriesAndHeadMemoryLimitsAnswerAsDocumentedAndRecover() async throws {
        try await withAggregator({ configuration in
            configuration.storage.maxSeries = 40
            configuration.storage.maxHeadBytes = 8 << 10
        }) { client, aggregator in
            func status(_ series: [TimeSeries]) async throws -> (HTTPResponse.Status, HTTPFields, String) {
                let (headers, body) = push(series)
                return try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) {
                    ($0.status, $0.headers, String(buffer: $0.body))
                }
            }
            // Series in all: 30 fit, 20 more do not, the known ones still do
            #expect(try await status((0..<30).map { ts("m", ["i": "\($0)"], [(t0, 1)]) }).0 == .noContent)
            let over = try await status((20..<50).map { ts("m", ["i": "\($0)"], [(t0 + 1_000, 1)]) })
            #expect(over.0 == .tooManyRequests && over.2.contains("storage.max_series"))
            #expect(try await status((0..<30).map { ts("m", ["i": "\($0)"], [(t0 + 2_000, 2)]) }).0 == .noContent)
            #expect(aggregator.stores.samples.seriesCount == 30)
            // Head memory: twelve hours of one series at 10 s take it past 8 KiB
            #expect(aggregator.stores.samples.headBytes < 8 << 10)
            let hours = (0..<4_320).map { (t0 - 12 * Milliseconds.hour + Int64($0) * 10_000, Double($0 % 7)) }
            #expect(try await status([ts("long", [:], hours)]).0 == .noContent)
            #expect(aggregator.stores.samples.headBytes >= 8 << 10)
            let full = try await status([ts("m", ["i": "0"], [(t0 + 3_000, 3)])])
            #expect(full.0 == .serviceUnavailable && full.1[.retryAfter] == "30" && full.2.contains("storage.max_head_bytes"))
            // and once the flush has written the old windows, pushes are taken again
            #expect(try await aggregator.stores.samples.compact(now: t0 + 10_000) > 0)
            #expect(aggregator.stores.samples.headBytes < 8 << 10)
            #expect(try await status([ts("m", ["i": "0"], [(t0 + 3_000, 3)])]).0 == .noContent)
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("tokenwatt_aggregator_rejected_requests_total{reason=\"total_series_limit\"} 1"))
            #expect(metrics.contains("tokenwatt_aggregator_rejected_requests_total{reason=\"head_memory\"} 1"))
        }
    }

    @Test func emptyLabelsThatWouldDecodeIntoGigabytesAreRefusedOnTheWire() throws {
        // One series of a million empty labels: 2 MB on the wire, a few hundred MB decoded.
        var series: [UInt8] = []
        for _ in 0..<1_000_000 { series += [0x0A, 0x00] }
        var request: [UInt8] = [0x0A]
        var length = series.count
        while length >= 0x80 { request.append(UInt8(length & 0x7F) | 0x80); length >>= 7 }
        request.append(UInt8(length))
        request += series
        #expect(throws: CoreError.limit("series 1 has more than 64 labels")) {
            try RemoteWriteCodec.decode(Snappy.compress(request))
        }
    }
}
