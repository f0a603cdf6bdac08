import ArgumentParser
import Foundation
import AsyncHTTPClient
import TokenWattCore
import TokenWattService

/// A receiver's answers that ask a benchmark's push to come again: it waits `pause` and resends.
/// Any other answer but a 2xx ends the benchmark.
enum PushBack {
    static let pause: Duration = .milliseconds(100)

    static func asksToRetry(_ status: Int) -> Bool {
        status == 503 || status == 429
    }
}

/// Sends one remote-write request until it is accepted (`PushBack`), through the client the
/// agent uses. Returns the latency of each attempt in seconds (more than one when the receiver
/// pushed back). With `retryingFailures`, a push that got no answer (a connection the receiver
/// closed) is sent again after `PushBack.pause` as an agent would, up to that many times, and
/// counted in `failures`.
func pushUntilAccepted(_ body: [UInt8], to url: String, token: String?, client: HTTPClient, sender: String,
                       retryingFailures: Int = 0, failures: inout Int) async throws -> [Double] {
    let clock = ContinuousClock()
    let context = SendContext(url: url, purpose: "benchmark push", credential: "the benchmark's token", urlHint: "check the URL")
    var latencies: [Double] = [], unanswered = 0
    while true {
        let sent = clock.now
        let outcome = await OutboundClient(http: client).post(body, headers: RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-bench", token: token),
                                                               timeout: .seconds(60), context: context)
        latencies.append(sent.duration(to: clock.now).seconds)
        switch outcome {
        case .accepted:
            return latencies
        case .failed(let failure) where failure.status.map(PushBack.asksToRetry) ?? (unanswered < retryingFailures):
            if failure.status == nil {
                unanswered += 1
                failures += 1
            }
            try await Task.sleep(for: PushBack.pause)
        case .failed(let failure):
            throw ValidationError("\(sender): \(failure.message)")
        case .refused(let reason):
            throw ValidationError("\(sender): refused: \(reason)")
        }
    }
}

/// The same, ending at the first failure.
func pushUntilAccepted(_ body: [UInt8], to url: String, token: String?, client: HTTPClient, sender: String) async throws -> [Double] {
    var failures = 0
    return try await pushUntilAccepted(body, to: url, token: token, client: client, sender: sender, failures: &failures)
}

/// The same over a plain blocking connection, from an agent's own thread (`IngestBenchmark`).
func pushUntilAccepted(_ body: [UInt8], headers: [(String, String)], over connection: PlainHTTPConnection, sender: String) throws -> [Double] {
    let clock = ContinuousClock()
    var latencies: [Double] = []
    while true {
        let sent = clock.now
        let answer = try connection.post(body, headers: headers)
        latencies.append(sent.duration(to: clock.now).seconds)
        if (200..<300).contains(answer.status) { return latencies }
        guard PushBack.asksToRetry(answer.status) else { throw ValidationError("\(sender): \(answer.status) \(answer.body)") }
        Thread.sleep(forTimeInterval: PushBack.pause.seconds)
    }
}
