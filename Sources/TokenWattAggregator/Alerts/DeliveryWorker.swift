import Crypto
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattService
import TokenWattStore

/// Delivers the outbox: each message to its receiver, until it is delivered (2xx only), the
/// receiver is gone (410: disabled, logged, its pending messages with it) or the give-up
/// horizon passes. Every other answer (`SendOutcome`, the table all senders share) is retried
/// with exponential backoff and jitter, honouring `Retry-After`, a refusal of the payload
/// included: an alert is worth more than a receiver's passing mood. Everything is in SQLite, so
/// a restart resumes where it stopped.
public final class DeliveryWorker: Service, Sendable {
    /// Outcomes counted in `tokenwatt_alert_deliveries_total{receiver, outcome}`.
    enum Outcome: String, CaseIterable {
        case delivered, failed, expired, disabled
    }

    let outbox: any OutboxStore
    private let receivers: [String: Receiver]
    private let settings: DeliverySettings
    private let client: OutboundClient
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let counts = Mutex<[String: [Outcome: Int]]>([:])
    private let wake: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)

    init(outbox: any OutboxStore, receivers: [Receiver], settings: DeliverySettings, client: OutboundClient, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.outbox = outbox
        self.receivers = Dictionary(uniqueKeysWithValues: receivers.map { ($0.name, $0) })
        self.settings = settings
        self.client = client
        self.logger = logger
        self.now = now
        wake = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// New messages are in the outbox.
    func wakeUp() {
        wake.continuation.yield()
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            var wakeUps = wake.stream.makeAsyncIterator()
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    try await deliverDue()
                } catch {
                    logger.error("alert delivery failed", metadata: ["error": "\(error)"])
                }
                // Sleep until the next message is due (at most a minute), or new ones arrive.
                var next: Int64?
                do {
                    next = try await outbox.nextDueMs()
                } catch {
                    logger.error("cannot read when the next alert is due; looking again within a minute", metadata: ["error": "\(error)"])
                }
                let pause = max(10, min(60_000, (next ?? .max) - now()))
                let timer = Task { [wake] in
                    try? await Task.sleep(for: .milliseconds(pause))
                    wake.continuation.yield()
                }
                _ = await wakeUps.next()
                timer.cancel()
            }
        } onGracefulShutdown: {
            self.wake.continuation.finish()
        }
    }

    /// Attempts every message that is due.
    func deliverDue() async throws {
        while true {
            let due = try await outbox.dueMessages(now: now())
            if due.isEmpty { return }
            for message in due { try await attempt(message) }
        }
    }

    /// How a receiver is known in `receiver_state`: its name and a digest of where it points,
    /// so that giving a gone receiver a new URL enables it again.
    static func identity(of receiver: Receiver) -> String {
        let target = switch receiver.kind {
        case .webhook(let url, _), .slack(let url), .alertmanager(let url): url
        }
        return receiver.name + " " + SHA256.hash(data: Array(target.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Ends a message without an attempt.
    private func finish(_ original: OutboxMessage, as status: OutboxMessage.Status, outcome: Outcome, because reason: String) async throws {
        var message = original
        message.status = status
        message.lastError = reason
        message.finishedMs = now()
        try await outbox.update(message)
        count(message.receiver, outcome)
    }

    private func attempt(_ original: OutboxMessage) async throws {
        var message = original
        guard let receiver = receivers[message.receiver] else {
            // The receiver left the config: nobody to deliver to.
            return try await finish(message, as: .expired, outcome: .expired, because: "no receiver \(message.receiver) in the configuration")
        }
        if let gone = try await outbox.disabledReceivers()[DeliveryWorker.identity(of: receiver)] {
            // Answered 410 before: not tried again.
            return try await finish(message, as: .disabled, outcome: .disabled, because: "receiver disabled: \(gone.reason)")
        }
        let event: AlertEvent
        do {
            event = try AlertEvent.decoder.decode(AlertEvent.self, from: Data(message.event.utf8))
        } catch {
            // This message only: its receiver stays enabled, and the row keeps the text.
            logger.error("alert not delivered: its stored event does not read", metadata: ["receiver": "\(receiver.name)", "event": "\(message.eventID)",
                                                                                       "error": "\(error)"])
            return try await finish(message, as: .expired, outcome: .expired, because: "the stored event does not read as an alert event: \(error)")
        }
        let result = await send(event, message, to: receiver)
        message.attempts += 1
        let now = now()
        switch result {
        case .success:
            message.status = .delivered
            message.lastError = nil
            message.finishedMs = now
            try await outbox.update(message)
            count(receiver.name, .delivered)
        case .gone(let reason):
            logger.error("alert receiver answered 410 Gone: disabled", metadata: ["receiver": "\(receiver.name)", "reason": "\(reason)"])
            message.status = .disabled
            message.lastError = reason
            message.finishedMs = now
            try await outbox.update(message)
            try await outbox.disable(receiver: receiver.name, identity: DeliveryWorker.identity(of: receiver), at: now, reason: reason)
            count(receiver.name, .disabled)
        case .failure(let reason, let retryAfter):
            message.lastError = reason
            if now - message.createdMs >= settings.giveUpAfterMs {
                message.status = .expired
                message.finishedMs = now
                logger.error("alert not delivered: gave up", metadata: ["receiver": "\(receiver.name)", "event": "\(message.eventID)",
                                                                         "attempts": "\(message.attempts)", "error": "\(reason)"])
                count(receiver.name, .expired)
            } else {
                let delay = Backoff.delay(failures: message.attempts, minimum: .milliseconds(settings.minBackoffMs),
                                          maximum: .milliseconds(settings.maxBackoffMs), retryAfter: retryAfter)
                message.nextAttemptMs = now + Int64(delay.seconds * 1000)
                logger.warning("alert delivery failed; will retry", metadata: ["receiver": "\(receiver.name)", "event": "\(message.eventID)",
                                                                                "attempts": "\(message.attempts)", "error": "\(reason)"])
                count(receiver.name, .failed)
            }
            try await outbox.update(message)
        }
    }

    private enum Result {
        case success
        case gone(String)
        case failure(String, retryAfter: Duration?)
    }

    private func send(_ event: AlertEvent, _ message: OutboxMessage, to receiver: Receiver) async -> Result {
        let (url, body, headers) = AlertRendering.request(for: event, message: message, receiver: receiver, now: now())
        let context = SendContext(url: url, purpose: "alerts", credential: "the receiver's configured credentials",
                                  urlHint: "check the url of receiver \(receiver.name)")
        let outcome = await client.post(body, headers: [("Content-Type", "application/json"), ("User-Agent", "tokenwatt-aggregator")] + headers,
                                        timeout: .milliseconds(settings.timeoutMs), context: context)
        switch outcome {
        case .accepted: return .success
        case .failed(let failure) where failure.reason == .gone: return .gone(failure.message)
        case .failed(let failure): return .failure(failure.message, retryAfter: failure.retryAfter)
        case .refused(let reason): return .failure(reason, retryAfter: nil)
        }
    }

    private func count(_ receiver: String, _ outcome: Outcome) {
        counts.withLock { $0[receiver, default: [:]][outcome, default: 0] += 1 }
    }

    /// Deliveries by receiver and outcome since start.
    var deliveries: [String: [Outcome: Int]] {
        counts.withLock { counts in
            var all = counts
            for name in receivers.keys where all[name] == nil { all[name] = [:] }
            return all
        }
    }
}
