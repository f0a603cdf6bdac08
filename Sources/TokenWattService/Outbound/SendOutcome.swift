/// What an answer to an outbound request (or the lack of one) means for what was sent: one
/// table for every sender (the agent's pusher, the aggregator's forwarder, alert delivery).
/// Only an answer that blames the payload lets a sender drop it; every other fault is the
/// network's, the receiver's or the configuration's, and the payload waits for it to be fixed.
public enum SendOutcome: Equatable, Sendable {
    /// 2xx.
    case accepted
    /// 400 or 413: the receiver refuses this payload and would refuse it again. A request of
    /// several batches is split, and what is refused alone is dropped, counted.
    case refused(String)
    /// Anything else: kept, and sent again after a backoff.
    case failed(SendFailure)

    /// Classifies an answer's status; `body` is the first line of what the receiver said.
    public static func classify(status: Int, body: String, retryAfter: Duration?, context: SendContext) -> SendOutcome {
        let said = body.isEmpty ? "" : " (\"\(body)\")"
        let answered = "\(status) from \(context.url)\(said)"
        func failed(_ reason: SendFailure.Reason, _ fix: String, retry: String = SendFailure.keptAndRetried) -> SendOutcome {
            .failed(SendFailure(reason: reason, status: status, cause: "\(answered): \(fix)", retry: retry, retryAfter: retryAfter))
        }
        switch status {
        case 200..<300:
            return .accepted
        case 400, 413:
            return .refused(answered)
        case 401, 403:
            return failed(.unauthorized, "the receiver refuses \(context.credential)",
                          retry: "kept and retried until a credential it accepts is configured")
        case 407:
            return failed(.unauthorized, "a proxy between here and the receiver wants credentials")
        case 404, 405, 421:
            return failed(.wrongURL, "nothing takes \(context.purpose) at this URL; \(context.urlHint)")
        case 408:
            return failed(.timeout, "the receiver timed out reading the request")
        case 409:
            return failed(.conflict, "the receiver reports a conflict")
        case 410:
            return failed(.gone, "the receiver says it is gone for good")
        case 429:
            return failed(.throttled, "the receiver asks to slow down", retry: "retried after the backoff")
        case 500..<600:
            return failed(.serverError, "the receiver failed")
        default:
            return failed(.unexpected, "an answer not understood")
        }
    }
}

/// Why a request failed without blaming its payload, with a message that names the URL, the
/// cause and the fix.
public struct SendFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// Counted in `..._errors_total{reason}`.
    public enum Reason: String, CaseIterable, Sendable {
        case network, timeout, unauthorized, wrongURL = "wrong_url", conflict, gone, throttled, serverError = "server_error", unexpected
    }

    public var reason: Reason
    /// The HTTP status; nil when no answer came.
    public var status: Int?
    /// What happened and how to fix it (`401 from URL: the receiver refuses the token in ...`).
    public var cause: String
    /// What a sender that keeps its payload does about it (`kept and retried`).
    public var retry: String
    /// How long the receiver asked the sender to wait (`Retry-After`), capped by the sender.
    public var retryAfter: Duration?

    public static let keptAndRetried = "kept and retried"

    public init(reason: Reason, status: Int?, cause: String, retry: String = SendFailure.keptAndRetried, retryAfter: Duration? = nil) {
        self.reason = reason
        self.status = status
        self.cause = cause
        self.retry = retry
        self.retryAfter = retryAfter
    }

    /// The cause and what the sender does: what its log and `/-/ready` say.
    public var message: String { "\(cause); \(retry)" }

    public var description: String { message }
}

/// What a sender tells the classification so that its messages say how to fix a fault.
public struct SendContext: Sendable {
    public var url: String
    /// What is sent, e.g. "remote write", "alerts".
    public var purpose: String
    /// Where the credential comes from, e.g. "the token in --token-file (aggregator.token_file)".
    public var credential: String
    /// How to point the sender at the right place.
    public var urlHint: String

    public init(url: String, purpose: String, credential: String, urlHint: String) {
        self.url = url
        self.purpose = purpose
        self.credential = credential
        self.urlHint = urlHint
    }
}
