import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator

/// A node's series known by their place in its pushes (`PushedSeriesCache`): samples land in
/// the series they belong to when series stay, move, change or come from another node.
@Suite struct PushedSeriesTests {
    static func write(_ series: [TimeSeries], token: String = "secret-1", to client: some TestClientProtocol,
                      expect status: HTTPResponse.Status = .noContent) async throws -> String {
        var headers = remoteWriteHeaders
        headers[.authorization] = "Bearer \(token)"
        return try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: ByteBuffer(bytes: RemoteWriteCodec.encode(series))) { response in
            #expect(response.status == status)
            return String(buffer: response.body)
        }
    }

    /// Each stored series' samples (timestamp and value), by its text.
    static func stored(_ aggregator: Aggregator) async throws -> [String: [Double]] {
        var result: [String: [Double]] = [:]
        for (id, labels) in aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: "{__name__=~\".+\"}")]) {
            result["\(labels)"] = try await aggregator.stores.samples.rawSamples(seriesID: id, from: 0, to: .max).map(\.value)
        }
        return result
    }

    @Test func aNodesSeriesAreKnownByPlaceAndFollowedWhenTheyMoveOrChange() async throws {
        try await withAggregator { client, aggregator in
            let a = { (t: Int64, v: Double) in ts("m", ["gpu": "0"], [(t, v)]) }
            let b = { (t: Int64, v: Double) in ts("m", ["gpu": "1"], [(t, v)]) }
            let c = { (t: Int64, v: Double) in ts("m", ["gpu": "2"], [(t, v)]) }
            _ = try await Self.write([a(t0, 1), b(t0, 10)], to: client)
            // New series take their places once stored: at the next push that finds them.
            #expect(aggregator.pushedSeries.slots(of: "gpu-01").isEmpty)
            _ = try await Self.write([a(t0 + 10_000, 2), b(t0 + 10_000, 20)], to: client)
            let ids = aggregator.stores.samples.series(matching: [try SeriesSelector(parsing: "m")]).map(\.id)
            #expect(aggregator.pushedSeries.slots(of: "gpu-01").map { Int64($0.id) } == ids)
            _ = try await Self.write([b(t0 + 20_000, 30), a(t0 + 20_000, 3)], to: client)  // swapped
            _ = try await Self.write([a(t0 + 30_000, 4), c(t0 + 30_000, 100)], to: client)  // another at b's place
            _ = try await Self.write([a(t0 + 40_000, 5), c(t0 + 40_000, 200)], to: client)
            #expect(try await Self.stored(aggregator) == [
                "m{gpu=\"0\",node=\"gpu-01\"}": [1, 2, 3, 4, 5],
                "m{gpu=\"1\",node=\"gpu-01\"}": [10, 20, 30],
                "m{gpu=\"2\",node=\"gpu-01\"}": [100, 200],
            ])
        }
    }

    @Test func twoNodesPushingTheSameBytesKeepTheirOwnSeries() async throws {
        try await withAggregator { client, aggregator in
            for round in 0..<3 {
                let t = t0 + Int64(round) * 10_000
                _ = try await Self.write([ts("m", ["gpu": "0"], [(t, Double(round))])], token: "secret-1", to: client)
                _ = try await Self.write([ts("m", ["gpu": "0"], [(t, Double(round))])], token: "secret-2", to: client)
            }
            #expect(try await Self.stored(aggregator) == ["m{gpu=\"0\",node=\"gpu-01\"}": [0, 1, 2], "m{gpu=\"0\",node=\"gpu-02\"}": [0, 1, 2]])
        }
    }

    /// A known series is checked as any other: a timestamp in the future refuses the request,
    /// and the answer names the series.
    @Test func aKnownSeriesWithABadTimestampRefusesTheRequestByName() async throws {
        try await withAggregator { client, aggregator in
            for t in [t0, t0 + 10_000] {
                _ = try await Self.write([ts("m", ["gpu": "0"], [(t, 1)]), ts("n", [:], [(t, 1)])], to: client)
            }
            #expect(aggregator.pushedSeries.slots(of: "gpu-01").count == 2)
            let future: Int64 = 1_800_000_000_000 + Milliseconds.hour
            let answer = try await Self.write([ts("m", ["gpu": "0"], [(future, 2)]), ts("n", [:], [(t0 + 20_000, 2)])], to: client, expect: .badRequest)
            #expect(answer.contains("m{gpu=\"0\",node=\"gpu-01\"}: timestamp \(future)"))
            #expect(try await Self.stored(aggregator) == ["m{gpu=\"0\",node=\"gpu-01\"}": [1, 1], "n{node=\"gpu-01\"}": [1, 1]])
        }
    }

    /// A place costs 16 bytes a series; an id past 32 bits is not remembered (its series takes
    /// the labels path).
    @Test func aPlaceTakesSixteenBytes() {
        #expect(MemoryLayout<PushedSeriesCache.Slot>.stride == 16)
        #expect(PushedSeriesCache.Slot(key: .none, id: Int64(UInt32.max))?.id == UInt32.max)
        #expect(PushedSeriesCache.Slot(key: .none, id: Int64(UInt32.max) + 1) == nil)
    }
}
