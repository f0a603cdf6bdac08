import ArgumentParser
import AsyncHTTPClient
import NIOCore
import TokenWattCore

/// Sends one remote-write request until it is accepted, as an agent does: 503 and 429 are
/// retried after 100 ms, any other answer but a 2xx ends the benchmark. Returns the latency
/// of each attempt in seconds (more than one when the receiver pushed back).
func pushUntilAccepted(_ body: [UInt8], to url: String, token: String?, client: HTTPClient, sender: String) async throws -> [Double] {
    let clock = ContinuousClock()
    var latencies: [Double] = []
    while true {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in RemoteWriteCodec.requestHeaders(userAgent: "tokenwatt-bench", token: token) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let sent = clock.now
        let response = try await client.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 1 << 20)
        latencies.append(sent.duration(to: clock.now).seconds)
        if (200..<300).contains(response.status.code) { return latencies }
        guard response.status.code == 503 || response.status.code == 429 else {
            throw ValidationError("receiver answered \(response.status.code) to \(sender)")
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}
