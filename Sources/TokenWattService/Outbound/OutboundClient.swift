import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TokenWattCore

/// The one HTTP client everything outbound goes through (pushes, forwarding, alert delivery,
/// scrapes of inference servers): a request is built the same way, bounded in time, its answer
/// read up to a limit and classified by `SendOutcome.classify`.
public struct OutboundClient: Sendable {
    /// Most bytes of an answer read; the rest is left unread (a receiver cannot fill our memory).
    public static let maxAnswerBytes = 64 << 10
    /// The longest `Retry-After` honoured: a receiver cannot park a sender for days.
    public static let maxRetryAfter: Duration = .seconds(3600)

    public let http: HTTPClient

    public init(http: HTTPClient) {
        self.http = http
    }

    /// An HTTP client whose refused connections fail at once (senders back off themselves)
    /// instead of being retried inside the client until the request's deadline.
    /// `connectionsPerHost` bounds the requests in flight to one host (AsyncHTTPClient's default 8
    /// suits pushes; a proxy needs one per concurrent request).
    public static func makeHTTPClient(connectionsPerHost: Int = 8) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(connectionsPerHost: connectionsPerHost))
    }

    /// The same, checking servers against `tls`'s CA and showing its certificate.
    public static func makeHTTPClient(tls: TLSClientConfiguration) throws -> HTTPClient {
        var configuration = configuration(connectionsPerHost: 8)
        configuration.tlsConfiguration = try tls.tlsConfiguration()
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    private static func configuration(connectionsPerHost: Int) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
        // Idle connections are dropped before the servers' own idle timeout (ours close at 30 s):
        // a request sent on a connection the server is closing meets a reset, and a POST is not
        // retried (the gateway race test met one in CI).
        configuration.connectionPool.idleTimeout = .seconds(20)
        return configuration
    }

    /// An answer: its status, headers and at most the bytes asked for of its body.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        /// The body went on past what was read.
        public var truncated: Bool
    }

    /// No whole answer within the time allowed (head and body together).
    public struct TimedOut: Error {}

    /// Sends a request and reads its answer, head and body together within `timeout` (a peer
    /// dripping its body byte by byte is cut off), keeping at most `maxAnswerBytes` of the body.
    public func exchange(_ request: HTTPClientRequest, timeout: Duration, maxAnswerBytes: Int) async throws -> Answer {
        try await withThrowingTaskGroup(of: Answer?.self) { group in
            group.addTask {
                let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
                var body: [UInt8] = []
                var truncated = false
                for try await buffer in response.body {
                    let room = maxAnswerBytes - body.count
                    body.append(contentsOf: buffer.readableBytesView.prefix(room))
                    if buffer.readableBytes > room {
                        truncated = true
                        break
                    }
                }
                return Answer(status: Int(response.status.code), headers: response.headers, body: body, truncated: truncated)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw TimedOut() }
            return answer
        }
    }

    /// POSTs `body` and classifies the answer; network errors and timeouts are `.failed`.
    public func post(_ body: [UInt8], headers: [(String, String)], timeout: Duration, context: SendContext) async -> SendOutcome {
        var request = HTTPClientRequest(url: context.url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let answer = try await exchange(request, timeout: timeout, maxAnswerBytes: OutboundClient.maxAnswerBytes)
            let firstLine = String(decoding: answer.body.prefix(200), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            let retryAfter = answer.headers.first(name: "Retry-After").flatMap(Backoff.retryAfter).map { min($0, OutboundClient.maxRetryAfter) }
            return SendOutcome.classify(status: answer.status, body: firstLine, retryAfter: retryAfter, context: context)
        } catch where error is TimedOut || [.deadlineExceeded, .readTimeout].contains(error as? HTTPClientError) {
            return .failed(SendFailure(reason: .timeout, status: nil, cause: "no answer from \(context.url) within \(timeout)"))
        } catch {
            return .failed(SendFailure(reason: .network, status: nil, cause: "cannot reach \(context.url): \(error)"))
        }
    }
}
