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
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// POSTs `body` and classifies the answer; network errors and timeouts are `.failed`.
    public func post(_ body: [UInt8], headers: [(String, String)], timeout: Duration, context: SendContext) async -> SendOutcome {
        var request = HTTPClientRequest(url: context.url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let answer = try await OutboundClient.read(response.body, upTo: OutboundClient.maxAnswerBytes)
            let firstLine = String(decoding: answer.prefix(200), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Backoff.retryAfter).map { min($0, OutboundClient.maxRetryAfter) }
            return SendOutcome.classify(status: Int(response.status.code), body: firstLine, retryAfter: retryAfter, context: context)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failed(SendFailure(reason: .timeout, status: nil, message: "no answer from \(context.url) within \(timeout); kept and retried"))
        } catch {
            return .failed(SendFailure(reason: .network, status: nil, message: "cannot reach \(context.url): \(error); kept and retried"))
        }
    }

    /// Reads at most `limit` bytes of a body; what is past it is not read.
    public static func read(_ body: HTTPClientResponse.Body, upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in body {
            bytes.append(contentsOf: buffer.readableBytesView.prefix(limit - bytes.count))
            if bytes.count >= limit { break }
        }
        return bytes
    }
}
