import Foundation
import Hummingbird
import TokenWattAPI
import TokenWattCore

/// Responses in the shape of Prometheus's HTTP API: `{"status":"success","data":...}` or
/// `{"status":"error","errorType":"bad_data","error":"..."}`.
enum APIResponse {
    /// A typed answer in the success envelope, written as `APIJSON` writes it.
    static func answer(_ data: some Encodable & Sendable, status: HTTPResponse.Status = .ok) -> Response {
        encoded(APISuccess(data), status: status)
    }

    /// A typed error body, with its headers.
    static func refusal(_ body: some Encodable & Sendable, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var response = encoded(body, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    private static func encoded(_ body: some Encodable, status: HTTPResponse.Status) -> Response {
        do {
            return Response(status: status, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try APIJSON.encoder().encode(body))))
        } catch {
            return Response(status: .internalServerError, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"the answer could not be written as JSON","errorType":"internal","status":"error"}"#)))
        }
    }

    static func badData(_ message: String) -> Response {
        error("bad_data", message, status: .badRequest)
    }

    static func internalError(_ message: String) -> Response {
        error("internal", message, status: .internalServerError)
    }

    /// An error of another type and status, with its headers.
    static func error(_ type: String, _ message: String, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        refusal(APIFailure(errorType: type, error: message), status: status, headers: headers)
    }

    static func labelsObject(_ labels: LabelSet) -> [String: String] {
        Dictionary(uniqueKeysWithValues: labels.labels.map { ($0.name, $0.value) })
    }

    /// Prometheus writes sample values as strings so NaN and ±Inf survive JSON.
    static func valueString(_ value: Double) -> String {
        value.isNaN ? "NaN" : ExpositionWriter.formatValue(value)
    }
}

/// Query parameters as Prometheus takes them.
enum QueryParameters {
    /// A time as Unix seconds (possibly fractional) or RFC 3339, in milliseconds, within
    /// `TimeBounds` (so arithmetic on it cannot overflow).
    /// The window `[from, to)` of `from=` and `to=`: `to` defaults to now, `from` to `span`
    /// before `to`, and `from` must come first.
    static func window(_ parameters: QueryString, now: Int64, span: Int64) throws(QueryError) -> (from: Int64, to: Int64) {
        let to = try time(parameters["to"], name: "to", default: now)
        let from = try time(parameters["from"], name: "from", default: to - span)
        guard from < to else { throw QueryError("from must be before to") }
        return (from, to)
    }

    static func time(_ text: String?, name: String, default value: Int64? = nil) throws(QueryError) -> Int64 {
        guard let text, !text.isEmpty else {
            guard let value else { throw QueryError("missing parameter \(name)") }
            return value
        }
        if let milliseconds = TimeBounds.milliseconds(parsing: text) { return milliseconds }
        if Double(text) != nil {
            throw QueryError("invalid parameter \(name): \"\(text)\" is not a time between the years 1 and 9999")
        }
        throw QueryError("invalid parameter \(name): \"\(text)\" is neither Unix seconds nor an RFC 3339 time")
    }

    /// A step or window as seconds (`15`, `0.5`) or a duration (`15s`, `1m`), in milliseconds,
    /// at most `TimeBounds.longestMs`; `value` when absent, else required.
    static func duration(_ text: String?, name: String = "step", default value: Int64? = nil) throws(QueryError) -> Int64 {
        guard let text, !text.isEmpty else {
            guard let value else { throw QueryError("missing parameter \(name)") }
            return value
        }
        if let seconds = Double(text) {
            // Prometheus's words for a step.
            guard seconds > 0 else { throw QueryError(name == "step" ? "zero or negative query resolution step widths are not accepted" : "invalid parameter \(name): it must be positive") }
            guard let milliseconds = TimeBounds.durationMilliseconds(fromSeconds: seconds) else {
                throw QueryError("invalid parameter \(name): \"\(text)\" is longer than 10,000 years")
            }
            return max(1, milliseconds)
        }
        guard let milliseconds = ConfigDuration.milliseconds(text), milliseconds > 0 else {
            throw QueryError("invalid parameter \(name): \"\(text)\" is neither seconds nor a duration of at most 10,000 years")
        }
        return milliseconds
    }

    /// `by=node,model`: label names, comma-separated; `fallback` when absent.
    static func labelNames(_ text: String?, fallback: [String], excluding excluded: Set<String> = []) throws(QueryError) -> [String] {
        guard let text, !text.isEmpty else { return fallback }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for name in names {
            guard MetricName.isValidLabelName(name) else { throw QueryError("invalid label name \"\(name)\" in by") }
            guard !excluded.contains(name) else { throw QueryError("by must not name \(name)") }
        }
        return names
    }

    static func selector(_ text: String?, name: String) throws(QueryError) -> SeriesSelector {
        guard let text, !text.isEmpty else { throw QueryError("missing parameter \(name)") }
        do {
            return try SeriesSelector(parsing: text)
        } catch {
            let reason = if case .parse(_, let reason) = error { reason } else { error.description }
            throw QueryError("invalid selector \(name)=\(text): \(reason)")
        }
    }
}

/// A bad query: answered 400 with Prometheus's `bad_data` error.
struct QueryError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
