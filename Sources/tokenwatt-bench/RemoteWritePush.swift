import ArgumentParser
import AsyncHTTPClient
import TokenWattCore
import TokenWattService

/// Sends one remote-write request until it is accepted, through the client the agent uses:
/// 503 and 429 are retried after 100 ms, any other answer but a 2xx ends the benchmark.
/// Returns the latency of each attempt in seconds (more than one when the receiver pushed back).
func pushUntilAccepted(_ body: [UInt8], to url: String, token: String?, client: HTTPClient, sender: String) async throws -> [Double] {
    let clock = ContinuousClock()
    let context = SendContext(url: url, purpose: "benchmark push", credential: "the benchmark's token", urlHint: "check the URL")
    var latencies: [Double] = []
    while true {
        let sent = clock.now
        let outcome = await OutboundClient(http: client).post(body, headers: RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-bench", token: token),
                                                               timeout: .seconds(60), context: context)
        latencies.append(sent.duration(to: clock.now).seconds)
        switch outcome {
        case .accepted:
            return latencies
        case .failed(let failure) where failure.status == 503 || failure.status == 429:
            try await Task.sleep(for: .milliseconds(100))
        case .failed(let failure):
            throw ValidationError("\(sender): \(failure.message)")
        case .refused(let reason):
            throw ValidationError("\(sender): refused: \(reason)")
        }
    }
}
