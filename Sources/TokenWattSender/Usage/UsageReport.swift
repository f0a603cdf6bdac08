import Foundation
import TokenWattCore

/// One application's report of the tokens one request spent (`POST /v1/usage`).
///
/// A report names the model and carries either TokenWatt's own fields or the `usage` object
/// of OpenAI Chat Completions, OpenAI Responses or Anthropic Messages as the API returned it.
/// Input counts every prompt token, cached ones included; output every generated token,
/// reasoning included (`TokenType`).
package struct UsageReport: Equatable, Sendable {
    var model: String
    package var provider: String
    package var inputTokens = 0
    package var outputTokens = 0
    package var cachedInputTokens = 0
    package var reasoningTokens = 0
    /// The requests it stands for: one for a report, a count of calls for OTLP usage.
    package var requests = 1
    package var attributes: [String: String] = [:]
    /// When the request was made (seconds since the epoch), if the report says.
    var timestamp: Double?
    /// The client's idempotency key: a report sent again with the same id (a retry) counts once.
    var id: String?
    /// Where the tokens were counted: `usage_api` for reports, `gateway` or `gateway_local`
    /// for the metering gateway's requests (never taken from a report's body).
    package var source = UsageCollector.source
    /// Counted by the gateway from the text, for want of a reported usage.
    package var estimated = false

    /// Why a request body was refused (HTTP 400); names the field.
    package struct Invalid: Error, Equatable, CustomStringConvertible {
        let field: String
        let reason: String
        package var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
    }

    /// How far in the future a report's timestamp may be (clocks differ a little).
    static let maxClockSkew: Double = 300
    static let maxNameLength = 256
    static let tokenFields = ["input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"]
    static let fields = Set(["id", "timestamp", "model", "provider", "attributes", "usage"] + tokenFields)

    /// The reports of a body: one object or an array of them, all valid or none taken.
    static func parse(_ body: [UInt8], now: Double) throws(Invalid) -> [UsageReport] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            throw Invalid(field: "", reason: "not valid JSON: \(UsageReport.describe(error))")
        }
        switch document {
        case .object(let object):
            return [try UsageReport(object, path: "", now: now)]
        case .array(let items):
            guard !items.isEmpty else { throw Invalid(field: "", reason: "an empty array holds no report") }
            return try items.enumerated().map { index, item throws(Invalid) in
                guard case .object(let object) = item else { throw Invalid(field: "[\(index)]", reason: "expected an object") }
                return try UsageReport(object, path: "[\(index)].", now: now)
            }
        default:
            throw Invalid(field: "", reason: "expected a report object or an array of them")
        }
    }

    package init(model: String, provider: String) {
        self.model = model
        self.provider = provider
    }

    private init(_ object: [String: JSONValue], path: String, now: Double) throws(Invalid) {
        func field(_ name: String) -> String { path + name }
        for key in object.keys.sorted() where !UsageReport.fields.contains(key) {
            throw Invalid(field: field(key), reason: "unknown field (known: \(UsageReport.fields.sorted().joined(separator: ", ")))")
        }
        guard let model = try UsageReport.name(object["model"], field: field("model")) else {
            throw Invalid(field: field("model"), reason: "required")
        }
        self.model = model
        provider = try UsageReport.name(object["provider"], field: field("provider")) ?? "unknown"
        id = try UsageReport.name(object["id"], field: field("id"))
        timestamp = try UsageReport.timestamp(object["timestamp"], field: field("timestamp"), now: now)
        if let attributes = object["attributes"], attributes != .null {
            guard case .object(let pairs) = attributes else { throw Invalid(field: field("attributes"), reason: "expected an object of strings") }
            for (name, value) in pairs {
                guard case .string(let text) = value else { throw Invalid(field: field("attributes.\(name)"), reason: "expected a string") }
                guard text.utf8.count <= UsageReport.maxNameLength else {
                    throw Invalid(field: field("attributes.\(name)"), reason: "longer than \(UsageReport.maxNameLength) bytes")
                }
                if !text.isEmpty { self.attributes[name] = text }
            }
        }
        let flat = UsageReport.tokenFields.filter { object[$0] != nil }
        if let usage = object["usage"] {
            if let first = flat.first { throw Invalid(field: field(first), reason: "give either usage or the token fields, not both") }
            try read(usage: usage, field: field("usage"))
        } else {
            inputTokens = try UsageReport.count(object["input_tokens"], field: field("input_tokens"))
            outputTokens = try UsageReport.count(object["output_tokens"], field: field("output_tokens"))
            cachedInputTokens = try UsageReport.count(object["cached_input_tokens"], field: field("cached_input_tokens"))
            reasoningTokens = try UsageReport.count(object["reasoning_tokens"], field: field("reasoning_tokens"))
        }
        guard cachedInputTokens <= inputTokens else {
            throw Invalid(field: field("cached_input_tokens"), reason: "\(cachedInputTokens) cached is more than the \(inputTokens) input tokens it is part of")
        }
        guard reasoningTokens <= outputTokens else {
            throw Invalid(field: field("reasoning_tokens"), reason: "\(reasoningTokens) reasoning is more than the \(outputTokens) output tokens it is part of")
        }
    }

    /// A `usage` object as OpenAI Chat Completions, OpenAI Responses or Anthropic Messages
    /// return it. Fields they add later are ignored; the ones read must be counts.
    package mutating func read(usage: JSONValue, field: String) throws(Invalid) {
        guard case .object(let usage) = usage else {
            throw Invalid(field: field, reason: "expected the usage object of OpenAI Chat Completions, OpenAI Responses or Anthropic Messages")
        }
        func count(_ name: String, in object: [String: JSONValue] = usage, at prefix: String = field) throws(Invalid) -> Int {
            try UsageReport.count(object[name], field: "\(prefix).\(name)")
        }
        func details(_ name: String) throws(Invalid) -> [String: JSONValue] {
            switch usage[name] {
            case nil, .null?: return [:]
            case .object(let object)?: return object
            default: throw Invalid(field: "\(field).\(name)", reason: "expected an object")
            }
        }
        if usage["prompt_tokens"] != nil || usage["completion_tokens"] != nil {
            // Chat Completions: cached and reasoning tokens are already in the two totals.
            inputTokens = try count("prompt_tokens")
            outputTokens = try count("completion_tokens")
            cachedInputTokens = try count("cached_tokens", in: try details("prompt_tokens_details"), at: "\(field).prompt_tokens_details")
            reasoningTokens = try count("reasoning_tokens", in: try details("completion_tokens_details"), at: "\(field).completion_tokens_details")
        } else if usage["cache_read_input_tokens"] != nil || usage["cache_creation_input_tokens"] != nil {
            // Anthropic: input_tokens leaves out the tokens written to and read from the cache.
            let cacheRead = try count("cache_read_input_tokens")
            inputTokens = try count("input_tokens") + (try count("cache_creation_input_tokens")) + cacheRead
            outputTokens = try count("output_tokens")
            cachedInputTokens = cacheRead
        } else if usage["input_tokens"] != nil || usage["output_tokens"] != nil {
            // OpenAI Responses (and Anthropic without cache fields, which reads the same).
            inputTokens = try count("input_tokens")
            outputTokens = try count("output_tokens")
            cachedInputTokens = try count("cached_tokens", in: try details("input_tokens_details"), at: "\(field).input_tokens_details")
            reasoningTokens = try count("reasoning_tokens", in: try details("output_tokens_details"), at: "\(field).output_tokens_details")
        } else {
            throw Invalid(field: field, reason: "no token counts: expected prompt_tokens/completion_tokens (OpenAI Chat Completions) or input_tokens/output_tokens (OpenAI Responses, Anthropic Messages)")
        }
    }

    /// A token count: absent or null is 0, else a whole number from 0 to 2^53.
    private static func count(_ value: JSONValue?, field: String) throws(Invalid) -> Int {
        switch value {
        case nil, .null?:
            return 0
        case .number(let number)?:
            guard number >= 0, number <= 9_007_199_254_740_992, number.rounded() == number else {
                throw Invalid(field: field, reason: "expected a whole number of tokens from 0 to 2^53, got \(number)")
            }
            return Int(number)
        default:
            throw Invalid(field: field, reason: "expected a number of tokens")
        }
    }

    private static func name(_ value: JSONValue?, field: String) throws(Invalid) -> String? {
        switch value {
        case nil, .null?:
            return nil
        case .string(let text)?:
            guard !text.isEmpty else { throw Invalid(field: field, reason: "must not be empty") }
            guard text.utf8.count <= maxNameLength else { throw Invalid(field: field, reason: "longer than \(maxNameLength) bytes") }
            return text
        default:
            throw Invalid(field: field, reason: "expected a string")
        }
    }

    /// Seconds since the epoch, or an RFC 3339 time; not more than a few minutes ahead.
    private static func timestamp(_ value: JSONValue?, field: String, now: Double) throws(Invalid) -> Double? {
        let seconds: Double
        switch value {
        case nil, .null?:
            return nil
        case .number(let number)?:
            seconds = number
        case .string(let text)?:
            guard let milliseconds = TimeBounds.milliseconds(fromRFC3339: text) else {
                throw Invalid(field: field, reason: "expected an RFC 3339 time such as 2026-11-29T10:00:00Z, got \"\(text)\"")
            }
            seconds = Double(milliseconds) / 1000
        default:
            throw Invalid(field: field, reason: "expected seconds since the epoch or an RFC 3339 time")
        }
        guard seconds.isFinite, seconds > 0 else { throw Invalid(field: field, reason: "expected a time after 1970") }
        // Compared as Double first: converting a huge one to Int would trap.
        guard seconds <= now + maxClockSkew, TimeBounds.milliseconds(fromSeconds: seconds) != nil else {
            throw Invalid(field: field, reason: "\(seconds) is more than \(Int(maxClockSkew)) s in the future (check the clocks)")
        }
        return seconds
    }

    /// JSONSerialization's reason, which says where ("Invalid value around character 6.").
    private static func describe(_ error: Error) -> String {
        (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
    }
}

/// `POST /v1/usage`'s parsing, for the fuzzer in fuzz/ only.
@_spi(Fuzzing) public enum UsageReportParsing {
    /// The number of reports in a body, or the reason it is refused.
    public static func reports(in body: [UInt8]) -> Result<Int, Error> {
        Result { try UsageReport.parse(body, now: 1_800_000_000).count }
    }
}
