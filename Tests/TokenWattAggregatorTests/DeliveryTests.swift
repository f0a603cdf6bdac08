import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import TokenWattCore
import TokenWattStore
import TokenWattService
import TokenWattTestSupport
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The delivery worker against a receiver that answers from a script.
@Suite struct DeliveryTests {
    static let now: Int64 = 1_800_000_000_000

    static func event(_ id: String, type: AlertEvent.Kind = .threshold) -> AlertEvent {
        AlertEvent(id: id, type: type, budget: "b", scope: ["team": "=research"], periodStart: TimeText.exact(0), periodEnd: TimeText.exact(1),
                   measure: "usd", unit: "USD", spent: 850, limit: 1_000, usedRatio: 0.85, threshold: 0.8,
                   topContributors: ["team": [.init(name: "research", spent: 850)]], link: "http://x/api/v1/budgets?name=b", occurredAt: TimeText.exact(now))
    }

    /// Runs `body` with the stores, a worker delivering to `receiver` kinds at a local server that
    /// answers with `answers` in turn, and the bodies it received.
    static func withReceiver(_ answers: [(HTTPResponse.Status, String?)], kind: (String) -> Receiver.Kind,
                             _ body: @Sendable (Stores, DeliveryWorker, @Sendable () -> [String]) async throws -> Void) async throws {
        let received = Mutex<[String]>([])
        let script = Mutex(answers)
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            received.withLock { $0.append(text) }
            let (status, retryAfter) = script.withLock { $0.isEmpty ? (.ok, nil) : $0.removeFirst() }
            return Response(status: status, headers: retryAfter.map { [.retryAfter: $0] } ?? [:])
        }
        let port = BoundPort()
        let app = Application(router: router, configuration: .loopback, onServerRunning: port.onServerRunning)
        var storage = StorageConfiguration()
        storage.directory = Environment.temporaryPath("delivery")
        defer { try? FileManager.default.removeItem(atPath: storage.directory) }
        let stores = try Stores(configuration: storage, logger: Logger(label: "test"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        try await whileRunning(app) {
            let url = "http://127.0.0.1:\(try await port.wait())/hook"
            let worker = DeliveryWorker(outbox: stores.outbox, receivers: [Receiver(name: "r", kind: kind(url))], settings: .init(), client: OutboundClient(http: client),
                                        logger: Logger(label: "test"), now: { DeliveryTests.now })
            do {
                try await body(stores, worker, { received.withLock { $0 } })
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
        try await client.shutdown()
        try stores.close()
    }

    static func enqueue(_ stores: Stores, _ events: [AlertEvent], createdMs: Int64 = now) async throws {
        try await stores.budgetStates.save("b", state: "{}", messages: events.map { OutboxMessage(eventID: $0.id, receiver: "r", createdMs: createdMs, event: $0.json) })
    }

    @Test func goneDisablesTheReceiverAndItsPendingMessages() async throws {
        try await DeliveryTests.withReceiver([(.gone, nil)], kind: { .webhook(url: $0, secret: nil) }) { stores, worker, received in
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_1"), DeliveryTests.event("evt_2")])
            try await worker.deliverDue()
            #expect(received().count == 1)
            let messages = try await stores.outbox.recentMessages(limit: 10)
            #expect(messages.map(\.status) == [.disabled, .disabled])
            #expect(try await stores.outbox.disabledReceivers().values.allSatisfy { $0.reason.hasPrefix("410 from http://127.0.0.1:") })
            #expect(worker.deliveries["r"]?[.disabled] == 2)  // both messages, one attempt
            // A message for it later is not tried either.
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_3")])
            try await worker.deliverDue()
            #expect(received().count == 1)
            #expect(try await stores.outbox.recentMessages(limit: 10).allSatisfy { $0.status == .disabled })
        }
    }

    /// A stored event that does not read ends its own message, with the reason, and nothing
    /// else: the receiver stays enabled and the next message is delivered.
    @Test func anUnreadableStoredEventEndsOnlyItsMessage() async throws {
        try await DeliveryTests.withReceiver([], kind: { .webhook(url: $0, secret: nil) }) { stores, worker, received in
            try await stores.budgetStates.save("b", state: "{}", messages: [
                OutboxMessage(eventID: "evt_broken", receiver: "r", createdMs: DeliveryTests.now, event: #"{"id":"evt_broken","type":"#),
            ])
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_1")])
            try await worker.deliverDue()
            let messages = Dictionary(uniqueKeysWithValues: try await stores.outbox.recentMessages(limit: 10).map { ($0.eventID, $0) })
            #expect(messages["evt_broken"]?.status == .expired)
            #expect(messages["evt_broken"]?.lastError?.hasPrefix("the stored event does not read as an alert event") == true)
            #expect(messages["evt_broken"]?.event == #"{"id":"evt_broken","type":"#)
            #expect(messages["evt_1"]?.status == .delivered)
            #expect(received().count == 1)
            #expect(try await stores.outbox.disabledReceivers().isEmpty)
            #expect(worker.deliveries["r"]?[.expired] == 1 && worker.deliveries["r"]?[.delivered] == 1)
        }
    }

    @Test func retryAfterSetsTheNextAttemptAndOnly2xxDelivers() async throws {
        try await DeliveryTests.withReceiver([(.serviceUnavailable, "7"), (.found, nil)], kind: { .webhook(url: $0, secret: nil) }) { stores, worker, received in
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_1")])
            try await worker.deliverDue()
            var message = try #require(try await stores.outbox.recentMessages(limit: 1).first)
            #expect(message.status == .pending)
            #expect(message.nextAttemptMs == DeliveryTests.now + 7_000)
            #expect(message.lastError?.hasPrefix("503 from http://127.0.0.1:") == true)
            // Due again: a 302 is no success.
            message.nextAttemptMs = DeliveryTests.now
            try await stores.outbox.update(message)
            try await worker.deliverDue()
            message = try #require(try await stores.outbox.recentMessages(limit: 1).first)
            #expect(message.status == .pending)
            #expect(message.attempts == 2)
            #expect(message.nextAttemptMs > DeliveryTests.now && message.nextAttemptMs <= DeliveryTests.now + 2_000)
            #expect(received().count == 2)
        }
    }

    @Test func aHugeRetryAfterIsCappedInsteadOfOverflowing() async throws {
        try await DeliveryTests.withReceiver([(.serviceUnavailable, "9223372036854775807")], kind: { .webhook(url: $0, secret: nil) }) { stores, worker, _ in
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_1")])
            try await worker.deliverDue()
            let message = try #require(try await stores.outbox.recentMessages(limit: 1).first)
            #expect(message.status == .pending)
            #expect(message.nextAttemptMs == DeliveryTests.now + Milliseconds.hour)
        }
    }

    @Test func aMessageOlderThanTheHorizonExpiresAfterItsLastFailure() async throws {
        try await DeliveryTests.withReceiver([(.internalServerError, nil)], kind: { .webhook(url: $0, secret: nil) }) { stores, worker, _ in
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_old")], createdMs: DeliveryTests.now - 25 * Milliseconds.hour)
            try await worker.deliverDue()
            let message = try #require(try await stores.outbox.recentMessages(limit: 1).first)
            #expect(message.status == .expired)
            #expect(worker.deliveries["r"]?[.expired] == 1)
        }
    }

    @Test func slackGetsReadableTextWithTheSameFacts() async throws {
        try await DeliveryTests.withReceiver([], kind: { .slack(url: $0) }) { stores, worker, received in
            try await DeliveryTests.enqueue(stores, [DeliveryTests.event("evt_1")])
            try await worker.deliverDue()
            let body = try #require(received().first)
            let text = try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])?["text"])
            #expect(text.contains("Budget b: 80% threshold crossed, 850 of 1000 USD (85.0%) spent"))
            #expect(text.contains("Top teams: research 850"))
            #expect(text.contains("<http://x/api/v1/budgets?name=b|Budget details> · event evt_1"))
            #expect(try await stores.outbox.recentMessages(limit: 1).first?.status == .delivered)
        }
    }

    @Test func signaturesFollowStandardWebhooks() throws {
        // The key is the base64 after whsec_; the signed content is "id.timestamp.body".
        let key = try #require(Receiver.signingKey(fromSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        #expect(key.count == 24)
        let headers = StandardWebhooks.headers(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                               body: Array(#"{"test": 2432232314}"#.utf8), key: key)
        #expect(headers.first { $0.0 == "webhook-signature" }?.1 == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(Receiver.signingKey(fromSecret: "whsec_not base64!") == nil)
    }
}

@Suite struct OutboxRetentionTests {
    @Test func finishedMessagesOlderThanTheRawRetentionGoPendingOnesStay() async throws {
        var storage = StorageConfiguration()
        storage.directory = Environment.temporaryPath("outbox")
        storage.rawRetentionMs = 86_400_000
        defer { try? FileManager.default.removeItem(atPath: storage.directory) }
        let stores = try Stores(configuration: storage, logger: Logger(label: "test"))
        let now = DeliveryTests.now
        let old = now - 2 * 86_400_000
        try await stores.budgetStates.save("b", state: "{}", messages: ["old-delivered", "old-pending", "new-delivered"].map {
            OutboxMessage(eventID: $0, receiver: "r", createdMs: $0.hasPrefix("old") ? old : now, event: DeliveryTests.event($0).json)
        })
        for var message in try await stores.outbox.recentMessages(limit: 10) where message.eventID.hasSuffix("delivered") {
            message.status = .delivered
            message.finishedMs = message.createdMs
            try await stores.outbox.update(message)
        }
        try await stores.outbox.deleteFinished(before: now - storage.rawRetentionMs)
        #expect(Set(try await stores.outbox.recentMessages(limit: 10).map(\.eventID)) == ["old-pending", "new-delivered"])
        try stores.close()
    }
}
