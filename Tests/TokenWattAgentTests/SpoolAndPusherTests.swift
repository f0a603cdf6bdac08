import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattSender
import TokenWattService
import TokenWattTestSupport

func temporarySpool(maxBytes: Int = 1 << 20, maxAgeMs: Int64 = Milliseconds.hour) throws -> (Spool, String) {
    let directory = Environment.temporaryPath("spool")
    return (try Spool(path: directory + "/spool.sqlite", maxBytes: maxBytes, maxAgeMs: maxAgeMs), directory)
}

func batch(_ name: String, at timestamp: Int64, value: Double = 1) -> [UInt8] {
    RemoteWriteCodec.serialize([TimeSeries(labels: try! LabelSet(dictionary: ["__name__": name]), samples: [Sample(timestamp: timestamp, value: value)])])
}

/// Batch number `n` (1–9): the same size for every n.
func numbered(_ n: Int) -> [UInt8] {
    batch("s\(n)", at: 10_000_000 + Int64(n) * 1_000)
}

@Suite struct SpoolTests {
    @Test func boundsDropTheOldestAndCountThem() throws {
        let one = numbered(1).count
        let (spool, directory) = try temporarySpool(maxBytes: 3 * one, maxAgeMs: 60_000)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for n in 1...3 { #expect(try spool.append(body: numbered(n), samples: 1, now: Int64(n) * 1_000).isEmpty) }
        // A fourth batch is over the size bound: the oldest goes
        #expect(try spool.append(body: numbered(4), samples: 1, now: 4_000) == [.size: 1])
        // A minute later, what is older than a minute goes
        #expect(try spool.append(body: numbered(5), samples: 1, now: 63_500) == [.age: 2])
        #expect(spool.depth == Spool.Depth(batches: 2, samples: 2, bytes: 2 * one))
        #expect(spool.droppedSamples == [.size: 1, .age: 2])
    }

    @Test func aPushCarriesTheNewestThenTheOldestAndDecodesAsOneRequest() throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let one = numbered(1).count
        for n in 1...5 { try spool.append(body: numbered(n), samples: 1, now: Int64(n) * 1_000) }
        let next = try spool.nextBatches(maxBytes: 3 * one)
        #expect(next.map(\.createdMs) == [5_000, 1_000, 2_000])
        let decoded = try RemoteWriteCodec.decode(Snappy.compress(next.flatMap(\.body)))
        #expect(decoded.map { $0.labels.metricName } == ["s5", "s1", "s2"])
        try spool.remove(next)
        #expect(try spool.nextBatches(maxBytes: 3 * one).map(\.createdMs) == [4_000, 3_000])
    }

    @Test func survivesReopening() throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.append(body: numbered(1), samples: 1, now: 1_000)
        let reopened = try Spool(path: directory + "/spool.sqlite", maxBytes: 1 << 20, maxAgeMs: Milliseconds.hour)
        #expect(try reopened.nextBatches(maxBytes: 1 << 20).count == 1)
    }
}

/// A stand-in aggregator on a loopback port that answers each push from a script and records
/// the series names it was sent.
final class ScriptedReceiver: Sendable {
    let answers: Mutex<[(status: HTTPResponse.Status, retryAfter: String?)]>
    let received = Mutex<[[String]]>([])

    init(_ answers: [(HTTPResponse.Status, String?)]) {
        self.answers = Mutex(answers.map { (status: $0.0, retryAfter: $0.1) })
    }

    /// Runs the receiver while `body` runs, with the push URL.
    func serve(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/api/v1/write") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let series = (try? RemoteWriteCodec.decode(Array(buffer: bytes))) ?? []
            self.received.withLock { $0.append(series.compactMap { $0.labels.metricName }) }
            let answer = self.answers.withLock { $0.isEmpty ? (status: HTTPResponse.Status.noContent, retryAfter: nil) : $0.removeFirst() }
            // A batch named "poison" is refused whenever it is in a request.
            if series.contains(where: { $0.labels.metricName == "poison" }) { return Response(status: .badRequest) }
            var headers = HTTPFields()
            if let retryAfter = answer.retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: answer.status, headers: headers)
        }
        let port = BoundPort()
        try await whileRunning(Application(router: router, configuration: .loopback, onServerRunning: port.onServerRunning)) {
            try await body("http://127.0.0.1:\(try await port.wait())/api/v1/write")
        }
    }
}

@Suite struct PusherTests {
    func pusher(_ spool: Spool, url: String, token: String? = nil) -> (Pusher, HTTPClient) {
        let client = OutboundClient.makeHTTPClient()
        return (Pusher(spool: spool, settings: .init(url: url, token: token), client: OutboundClient(http: client), logger: Logger(label: "test")), client)
    }

    @Test func aRefusedRequestIsSplitSoOnlyTheBadBatchIsDropped() async throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.append(body: batch("good_one", at: 1_000), samples: 1, now: 1_000)
        try spool.append(body: batch("poison", at: 2_000), samples: 1, now: 2_000)
        try spool.append(body: batch("good_two", at: 3_000), samples: 1, now: 3_000)
        let receiver = ScriptedReceiver([])
        try await receiver.serve { url in
            let (pusher, client) = pusher(spool, url: url)
            let outcome = await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20))
            #expect(outcome == .refused("400 from \(url)"))
            try await client.shutdown()
        }
        #expect(spool.depth.batches == 0)
        #expect(spool.droppedSamples == [.rejected: 1])
        #expect(receiver.received.withLock { $0 } == [["good_two", "good_one", "poison"], ["good_two"], ["good_one"], ["poison"]])
    }

    @Test func aSplitStoppedByAFailureReturnsTheFailureSoThePusherBacksOff() async throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.append(body: batch("poison", at: 1_000), samples: 1, now: 1_000)
        try spool.append(body: batch("good_one", at: 2_000), samples: 1, now: 2_000)
        // The whole request is refused (poison); the newest batch, sent alone first, meets a 503.
        let receiver = ScriptedReceiver([(.noContent, nil), (.serviceUnavailable, "3")])
        try await receiver.serve { url in
            let (pusher, client) = pusher(spool, url: url)
            guard case .failed(let failure) = await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20)) else {
                Issue.record("a split stopped by a 503 must return the failure")
                return
            }
            #expect(failure.reason == .serverError)
            #expect(failure.retryAfter == .seconds(3))
            try await client.shutdown()
        }
        #expect(spool.depth.batches == 2)
        #expect(spool.droppedSamples.isEmpty)
    }

    @Test func overloadAndErrorsAreRetriedAndKeepTheBatches() async throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.append(body: batch("kept", at: 1_000), samples: 1, now: 1_000)
        let receiver = ScriptedReceiver([(.serviceUnavailable, "7"), (.tooManyRequests, nil), (.unauthorized, nil), (.notFound, nil)])
        try await receiver.serve { url in
            let (pusher, client) = pusher(spool, url: url, token: "t")
            func failure() async throws -> SendFailure? {
                if case .failed(let failure) = await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20)) { return failure }
                return nil
            }
            let unavailable = try await failure()
            #expect(unavailable?.reason == .serverError)
            #expect(unavailable?.retryAfter == .seconds(7))
            #expect(try await failure()?.reason == .throttled)
            let unauthorized = try #require(try await failure())
            #expect(unauthorized.reason == .unauthorized)
            #expect(unauthorized.message.contains("token_file") && unauthorized.message.contains(url))
            let wrongURL = try #require(try await failure())
            #expect(wrongURL.reason == .wrongURL)
            #expect(wrongURL.message.contains("base URL"))
            #expect(spool.depth.batches == 1)
            #expect(pusher.status.failing?.reason == .wrongURL)
            #expect(await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20)) == .accepted)
            #expect(spool.depth.batches == 0)
            #expect(spool.droppedSamples.isEmpty)
            #expect(pusher.status.requests == ["retry": 4, "success": 1])
            #expect(pusher.status.errors == [.serverError: 1, .throttled: 1, .unauthorized: 1, .wrongURL: 1])
            #expect(pusher.status.failing == nil)
            try await client.shutdown()
        }
    }

    @Test func anUnreachableAggregatorKeepsTheBatches() async throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.append(body: batch("kept", at: 1_000), samples: 1, now: 1_000)
        // Port 1 (tcpmux): nothing listens there on a test machine, so the connection is refused.
        let (pusher, client) = pusher(spool, url: "http://127.0.0.1:1/api/v1/write")
        guard case .failed(let failure) = await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20)) else {
            Issue.record("a refused connection must fail the push")
            return
        }
        #expect(failure.reason == .network)
        #expect(spool.depth.batches == 1)
        try await client.shutdown()
    }

    @Test func backoffDoublesWithJitterAndHonoursRetryAfter() {
        let settings = Pusher.Settings(url: "http://x", token: nil)
        for failures in 1...12 {
            let delay = Backoff.delay(failures: failures, minimum: settings.minBackoff, maximum: settings.maxBackoff)
            let ceiling = min(settings.minBackoff * (1 << (failures - 1)), settings.maxBackoff)
            #expect(delay >= ceiling * 0.5 && delay <= ceiling)
        }
        #expect(Backoff.delay(failures: 1, minimum: settings.minBackoff, maximum: settings.maxBackoff, retryAfter: .seconds(30)) == .seconds(30))
        #expect(Backoff.retryAfter("120") == .seconds(120))
        #expect(Backoff.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .zero)
        #expect(Backoff.retryAfter("soon") == nil)
        #expect(Backoff.retryAfter("99999999999999999999") == nil)
        #expect(Backoff.retryAfter("9223372036854775807") == .seconds(Int.max))
    }

    @Test func aBaseURLGetsTheWritePath() {
        #expect(RemoteWriteCodec.writeURL("http://host:9470") == "http://host:9470/api/v1/write")
        #expect(RemoteWriteCodec.writeURL("http://host:9470/") == "http://host:9470/api/v1/write")
        #expect(RemoteWriteCodec.writeURL("https://host/api/v1/write") == "https://host/api/v1/write")
        #expect(RemoteWriteCodec.writeURL("https://proxy/tokenwatt/api/v1/write") == "https://proxy/tokenwatt/api/v1/write")
        #expect(RemoteWriteCodec.writeURL("http://host:9009/api/v1/push") == "http://host:9009/api/v1/push")
    }
}

/// A round that finds the spool empty waits in memory while its first push is tried: taken at
/// once, it never touches the file; refused by a failure, it is in the file before the retry;
/// behind a backlog, it goes to the file at once.
@Suite struct HeldRoundTests {
    @Test func aRoundTakenAtOnceNeverTouchesTheFile() throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.enqueue(body: numbered(1), samples: 1, now: 1_000)
        #expect(spool.depth.batches == 1)
        #expect(try Spool(path: directory + "/spool.sqlite", maxBytes: 1 << 20, maxAgeMs: Milliseconds.hour).depth.batches == 0, "not in the file")
        let next = try spool.nextBatches(maxBytes: 1 << 20)
        #expect(next.map(\.body) == [numbered(1)])
        try spool.remove(next)
        #expect(spool.depth == Spool.Depth())
        #expect(try spool.nextBatches(maxBytes: 1 << 20).isEmpty)
    }

    @Test func aFailedPushWritesTheHeldRoundToTheFileAndABacklogTakesRoundsAtOnce() throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.enqueue(body: numbered(1), samples: 1, now: 1_000)
        try spool.persistHeld()
        let reopened = { try Spool(path: directory + "/spool.sqlite", maxBytes: 1 << 20, maxAgeMs: Milliseconds.hour) }
        #expect(try reopened().depth == Spool.Depth(batches: 1, samples: 1, bytes: numbered(1).count))
        #expect(spool.depth.batches == 1)
        // With a backlog in the file, the next round goes to the file too.
        try spool.enqueue(body: numbered(2), samples: 1, now: 2_000)
        #expect(try reopened().depth.batches == 2)
        #expect(try spool.nextBatches(maxBytes: 1 << 20).map(\.createdMs) == [2_000, 1_000])
    }

    @Test func aPusherThatFailsKeepsTheHeldRoundInTheFile() async throws {
        let (spool, directory) = try temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try spool.enqueue(body: numbered(1), samples: 1, now: 1_000)
        try await withClient { client in
            let pusher = Pusher(spool: spool, settings: .init(url: "http://127.0.0.1:1/api/v1/write", token: nil), client: OutboundClient(http: client),
                                logger: Logger(label: "test"))
            guard case .failed = await pusher.shipper.ship(try spool.nextBatches(maxBytes: 1 << 20)) else {
                Issue.record("a push to a closed port should fail")
                return
            }
        }
        // The failed request wrote the held round to the file.
        #expect(try Spool(path: directory + "/spool.sqlite", maxBytes: 1 << 20, maxAgeMs: Milliseconds.hour).depth.batches == 1)
    }
}
