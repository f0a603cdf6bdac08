import HTTPTypes
import Hummingbird

/// Why a request failed, mapped to an HTTP status and a one-line plain-text reason at the edge.
enum AggregatorError: Error, HTTPResponseError {
    case unauthorized
    case unsupportedMediaType(String)
    case tooLarge(String)
    case invalid(String)
    /// A series past a per-series bound (labels, label length).
    case overLimit(String)
    /// The node would pass its distinct-series limit.
    case seriesLimit(String)
    /// The aggregator would pass its limit of series in all (`storage.max_series`).
    case totalSeriesLimit(String)
    /// The head's samples take their memory limit (`storage.max_head_bytes`): retry later.
    case headFull(String)
    /// A series named like one of the aggregator's own families.
    case reservedName(String)
    /// A credential without the right to it: a gateway's pushing a node's samples.
    case forbidden(String)
    /// The write queue is full: the sender should retry shortly.
    case saturated(String)
    /// The aggregator is stopping: the sender should retry (against the restarted one).
    case shuttingDown
    case storage(String)

    var status: HTTPResponse.Status {
        switch self {
        case .unauthorized: .unauthorized
        case .unsupportedMediaType: .unsupportedMediaType
        case .tooLarge: .contentTooLarge
        case .invalid, .overLimit, .seriesLimit, .reservedName: .badRequest
        case .forbidden: .forbidden
        case .totalSeriesLimit: .tooManyRequests
        case .saturated, .shuttingDown, .headFull: .serviceUnavailable
        case .storage: .internalServerError
        }
    }

    var message: String {
        switch self {
        case .unauthorized: "missing or unknown bearer token"
        case .unsupportedMediaType(let reason), .tooLarge(let reason), .invalid(let reason), .saturated(let reason),
             .storage(let reason), .overLimit(let reason), .seriesLimit(let reason), .reservedName(let reason), .forbidden(let reason),
             .totalSeriesLimit(let reason), .headFull(let reason): reason
        case .shuttingDown: "shutting down, retry later"
        }
    }

    /// What the answer says besides its body: the challenge, when to retry.
    var headers: HTTPFields {
        switch self {
        case .unauthorized: [.wwwAuthenticate: "Bearer realm=\"tokenwatt\""]
        case .saturated: [.retryAfter: "1"]
        case .headFull: [.retryAfter: "30"]
        case .shuttingDown: [.retryAfter: "5"]
        default: [:]
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
