import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import NIOCore
import NIOPosix
import Synchronization
import TokenWattAPI
import TokenWattCore
import TokenWattSender
import TokenWattService

/// Reports the gateway's slices (`LeaseBook`) to the aggregator (`POST /api/v1/leases`, with the
/// gateway's token) every report interval, and at once when a request waits for room or a
/// price; one report at a time, whatever the request rate.
final class LeaseSyncer: Service, Sendable {
    static let timeout: Duration = .seconds(5)

    private struct Rounds {
        var started = 0
        var finished = 0
        var lastSucceeded = false
        var lastError = ""
        /// Requests waiting for a round that starts after they asked.
        var waiters: [(round: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        /// No round comes any more: the gateway stopped.
        var stopped = false
    }

    let book: LeaseBook
    private let url: String
    private let token: String?
    private let client: OutboundClient
    private let logger: Logger
    private let rounds = Mutex(Rounds())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let syncs = Mutex<[String: Int]>(["ok": 0, "failed": 0])

    init(book: LeaseBook, writeURL: String, token: String?, client: OutboundClient, logger: Logger) {
        self.book = book
        let base = writeURL.hasSuffix(RemoteWriteCodec.writePath) ? String(writeURL.dropLast(RemoteWriteCodec.writePath.count)) : writeURL
        url = base + LeaseAPI.path
        self.token = token
        self.client = client
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Reports every interval and whenever woken until a graceful shutdown; a last report on
    /// the way out returns every slice nothing is in flight on (the server has stopped first).
    func run() async throws {
        let interval = Duration.milliseconds(book.settings.reportIntervalMs)
        let ticker = Task { [wake] in
            while !Task.isCancelled {
                wake.yield()
                try? await Task.sleep(for: interval)
            }
        }
        defer { ticker.cancel() }
        await withGracefulShutdownHandler {
            for await _ in self.wakes {
                if Task.isCancelled { break }
                await self.round()
            }
        } onGracefulShutdown: { [wake] in
            wake.finish()
        }
        book.close()
        await round()
        let waiting = rounds.withLock { rounds in
            defer { rounds.waiters = [] }
            rounds.stopped = true
            return rounds.waiters.map(\.continuation)
        }
        for continuation in waiting { continuation.resume(returning: false) }
    }

    /// Waits for a report that starts after this call (the caller's need or model in it);
    /// whether it was answered.
    func syncNow() async -> Bool {
        await withCheckedContinuation { continuation in
            let stopped = rounds.withLock { rounds in
                if !rounds.stopped { rounds.waiters.append((rounds.started + 1, continuation)) }
                return rounds.stopped
            }
            if stopped { continuation.resume(returning: false) } else { wake.yield() }
        }
    }

    /// Reports and counts, ok or failed: the gateway's `/metrics`.
    var counts: [String: Int] { syncs.withLock { $0 } }

    private func round() async {
        let number = rounds.withLock { rounds -> Int in
            rounds.started += 1
            return rounds.started
        }
        let sentMs = Monotonic.milliseconds()
        let report = book.report(nowMs: sentMs)
        let succeeded: Bool
        do {
            let answer = try await post(report)
            if book.apply(answer, to: report, sentMs: sentMs) { wake.yield() }
            succeeded = true
        } catch {
            let refused = LeaseSyncer.refusedConnection(error)
            book.failed(refused: refused, nowMs: Monotonic.milliseconds())
            let text = "\(error)"
            if rounds.withLock({ $0.lastSucceeded || $0.lastError != text }) {
                logger.warning("leases not reported to the aggregator", metadata: ["error": "\(text)", "aggregator_down": "\(refused)"])
            }
            rounds.withLock { $0.lastError = text }
            succeeded = false
        }
        syncs.withLock { $0[succeeded ? "ok" : "failed", default: 0] += 1 }
        let ready = rounds.withLock { rounds -> [CheckedContinuation<Bool, Never>] in
            rounds.finished = number
            rounds.lastSucceeded = succeeded
            let ready = rounds.waiters.filter { $0.round <= number }.map(\.continuation)
            rounds.waiters.removeAll { $0.round <= number }
            return ready
        }
        for continuation in ready { continuation.resume(returning: succeeded) }
    }

    /// A report that got no answer it could read.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func post(_ report: LeaseReport) async throws -> LeaseAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: SenderProgram.gateway.rawValue)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: try APIJSON.encoder().encode(report)))
        let answer = try await client.exchange(request, timeout: LeaseSyncer.timeout, maxAnswerBytes: 16 << 20)
        let body = Data(answer.body)
        guard answer.status == 200 else {
            let message = (try? APIJSON.decoder().decode(APIFailure.self, from: body))?.error ?? String(decoding: answer.body.prefix(200), as: UTF8.self)
            throw Failure(description: "HTTP \(answer.status): \(message)")
        }
        do {
            return try APIJSON.decoder().decode(APISuccess<LeaseAnswer>.self, from: body).data
        } catch {
            throw Failure(description: "an answer this gateway cannot read: \(error)")
        }
    }

    /// Whether the aggregator's port refused the connection: the aggregator is down, not slow
    /// or cut off, so it applies nothing while the gateway admits on from its slices.
    static func refusedConnection(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty && error.connectionErrors.allSatisfy { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
        }
        return false
    }
}

/// Milliseconds on the monotonic clock: what slices' local expiry and rates go by.
enum Monotonic {
    private static let origin = ContinuousClock.now

    static func milliseconds() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
