import Foundation
import TokenWattCore
import TokenWattSender

/// What the metering gateway learns of a request's tokens: from the request, its worst case
/// (for a reservation against hard caps); from the answer, the usage it settles and reports.
/// Answers are JSON or server-sent events, in OpenAI's (Chat Completions, Completions,
/// Responses, Embeddings) or Anthropic's (Messages) formats.
enum GatewayUsage {
    /// What a request says of itself.
    struct RequestShape: Equatable, Sendable {
        var model: String
        var stream: Bool
        /// Whether a streaming client asked for OpenAI's final usage chunk itself.
        var asksForUsage: Bool
        /// Whether the request has `stream_options` at all.
        var hasStreamOptions = false
        var maxOutputTokens: Int?
        /// An upper estimate of its input tokens: a token is rarely shorter than 3 bytes of
        /// the request (about 4 in English), so bytes ÷ 3, rounded up, over the whole body.
        var estimatedInputTokens: Int
    }

    struct Invalid: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// The output limits a request may carry, by API: Chat Completions' current and former
    /// name, and the Responses API's.
    static let outputLimitNames = ["max_completion_tokens", "max_tokens", "max_output_tokens"]

    static func shape(of body: [UInt8]) throws(Invalid) -> RequestShape {
        let members: JSONObjectMembers
        do {
            members = try JSONObjectMembers(body)
        } catch {
            throw Invalid(description: error.description)
        }
        guard let model = members.value("model") as? String, !model.isEmpty else { throw Invalid(description: "model: required") }
        // A limit the gateway cannot read would leave the reservation at the default while
        // the upstream (which may take "4096" or 4096.0) spends up to the limit: refused.
        var limit: Int?
        for name in outputLimitNames {
            guard let raw = members.value(name) else { continue }
            guard let tokens = JSONNumber.value(raw).flatMap({ Int(exactly: $0) }), (0...Int(Int32.max)).contains(tokens) else {
                throw Invalid(description: "\(name): must be a whole number of tokens from 0 to \(Int32.max)")
            }
            limit = limit ?? tokens
        }
        let options = members.value("stream_options") as? [String: Any]
        return RequestShape(model: model, stream: members.value("stream") as? Bool ?? false, asksForUsage: options?["include_usage"] as? Bool ?? false,
                            hasStreamOptions: options != nil, maxOutputTokens: limit, estimatedInputTokens: (body.count + 2) / 3)
    }

    /// The paths whose streams end with a usage chunk only when asked (`stream_options.include_usage`):
    /// Chat Completions and Completions; the Responses API and Anthropic's send usage anyway.
    static let usageOnRequestPaths: Set<String> = ["/v1/chat/completions", "/v1/completions"]

    /// The body to send upstream: a streaming Chat Completions or Completions request that does
    /// not ask for the final usage chunk gets `stream_options.include_usage` (the chunk is kept
    /// from the client).
    static func forwardedBody(_ body: [UInt8], shape: RequestShape, path: String) -> [UInt8] {
        guard shape.stream, usageOnRequestPaths.contains(path), !shape.asksForUsage else { return body }
        // Without stream_options (as SDKs send), the member goes in first, the rest untouched:
        // no second parse and serialisation on the request's way.
        if !shape.hasStreamOptions, let brace = body.firstIndex(of: UInt8(ascii: "{")) {
            return Array(body[...brace]) + Array(#""stream_options":{"include_usage":true},"#.utf8) + Array(body[body.index(after: brace)...])
        }
        return rewriting(body) { object in
            var options = object["stream_options"] as? [String: Any] ?? [:]
            options["include_usage"] = true
            object["stream_options"] = options
        }
    }

    /// The body with another model: a request over a cap sent to its route's fallback.
    static func replacingModel(in body: [UInt8], with model: String) -> [UInt8] {
        rewriting(body) { $0["model"] = model }
    }

    /// The JSON object of `body` changed by `change`; the body as it was if it is no object.
    private static func rewriting(_ body: [UInt8], _ change: (inout [String: Any]) -> Void) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return body }
        change(&object)
        return (try? JSONSerialization.data(withJSONObject: object)).map { [UInt8]($0) } ?? body
    }

    /// The usage of a whole JSON answer: as reported, else estimated from the request's and
    /// the answer's text.
    static func usage(inAnswer body: [UInt8], model: String, requestBytes: Int) -> UsageReport {
        // Only the usage member is decoded: answers (embeddings above all) can be megabytes.
        if let members = try? JSONObjectMembers(body), let usage = members["usage"], members.isObject("usage"),
           let reported = report(try? JSONValue.parse(usage), model: model) {
            return reported
        }
        guard let document = try? JSONValue.parse(body) else {
            return estimate(model: model, requestBytes: requestBytes, textBytes: body.count)
        }
        return estimate(model: model, requestBytes: requestBytes, textBytes: textBytes(in: document))
    }

    /// The documented estimate for an answer that reports no usage: a token per 4 bytes (the
    /// usual English ratio) of the whole request body as input, and of the answer's text as
    /// output; labelled `usage="estimated"`.
    static func estimate(model: String, requestBytes: Int, textBytes: Int) -> UsageReport {
        var report = UsageReport(model: model, provider: "")
        report.inputTokens = (requestBytes + 3) / 4
        report.outputTokens = (textBytes + 3) / 4
        report.estimated = true
        return report
    }

    /// Bytes of generated text in an answer or a stream event: the strings under `content`,
    /// `text`, `delta`, `thinking` and `arguments`, at any depth.
    static func textBytes(in value: JSONValue) -> Int {
        switch value {
        case .object(let object):
            return object.reduce(0) { total, entry in
                if case .string(let text) = entry.value, textKeys.contains(entry.key) {
                    return total + text.utf8.count
                }
                return total + textBytes(in: entry.value)
            }
        case .array(let items):
            return items.reduce(0) { $0 + textBytes(in: $1) }
        default:
            return 0
        }
    }

    static func report(_ usage: JSONValue?, model: String) -> UsageReport? {
        guard let usage, case .object = usage else { return nil }
        var report = UsageReport(model: model, provider: "")
        guard (try? report.read(usage: usage, field: "usage")) != nil else { return nil }
        return report
    }

    static let textKeys = ["content", "text", "delta", "thinking", "arguments"]

    /// Where `needle` first occurs in `bytes` at or after `from`. A plain loop over the bytes:
    /// the generic `firstRange(of:)` allocated on every call and led the gateway's profile
    /// under streamed load.
    static func firstRange(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Range<Int>? {
        guard !needle.isEmpty, bytes.count - from >= needle.count else { return nil }
        return bytes.withUnsafeBufferPointer { haystack in
            needle.withUnsafeBufferPointer { needle in
                let first = needle[0]
                var index = from
                let last = haystack.count - needle.count
                while index <= last {
                    if haystack[index] == first {
                        var matched = 1
                        while matched < needle.count && haystack[index + matched] == needle[matched] { matched += 1 }
                        if matched == needle.count { return index..<(index + needle.count) }
                    }
                    index += 1
                }
                return nil
            }
        }
    }

    /// Where the value of each `"name":` member starts in raw JSON (whitespace skipped).
    static func valueStarts(of name: String, in json: [UInt8]) -> [Int] {
        let key = Array("\"\(name)\"".utf8)
        var starts: [Int] = []
        var from = json.startIndex
        func skipSpaces(_ index: inout Int) { while index < json.endIndex, json[index] == UInt8(ascii: " ") { index += 1 } }
        while let found = firstRange(of: key, in: json, from: from) {
            from = found.upperBound
            var index = found.upperBound
            skipSpaces(&index)
            guard index < json.endIndex, json[index] == UInt8(ascii: ":") else { continue }
            index += 1
            skipSpaces(&index)
            if index < json.endIndex { starts.append(index) }
        }
        return starts
    }

    /// Whether the JSON holds `"name": {` somewhere (OpenAI's chunks carry `"usage": null`
    /// until the last).
    static func hasObject(named name: String, in json: [UInt8]) -> Bool {
        valueStarts(of: name, in: json).contains { json[$0] == UInt8(ascii: "{") }
    }

    /// Bytes of the string values under `textKeys` in raw JSON, escapes counted as written: the
    /// same measure as `textBytes(in:)` (to an escape's length) without decoding the JSON.
    static func rawTextBytes(in json: [UInt8]) -> Int {
        var total = 0
        for name in textKeys {
            for start in valueStarts(of: name, in: json) where json[start] == UInt8(ascii: "\"") {
                var index = start + 1
                while index < json.endIndex, json[index] != UInt8(ascii: "\"") {
                    index += json[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                total += min(index, json.endIndex) - start - 1
            }
        }
        return total
    }

    /// Reads a server-sent event stream as it passes, keeping its usage: OpenAI's final usage
    /// chunk (`choices` empty), the Responses API's `response.completed`, Anthropic's
    /// `message_start` (input) and `message_delta` (output so far). `feed` returns what the
    /// client should see: everything, less OpenAI's usage chunk when the client did not ask
    /// for it.
    struct StreamScanner: Sendable {
        let model: String
        let stripUsageChunk: Bool
        private(set) var usage: UsageReport?
        /// Bytes of generated text seen, for an estimate when no usage comes.
        private(set) var textBytes = 0
        /// The usage that closes a stream came (not only Anthropic's input at its start).
        private var sawFinalUsage = false
        /// The Responses API's `response.created` event's data: what a stream ended early
        /// repeats, as `response.incomplete`.
        private(set) var responseCreated: [UInt8]?
        private var pending: [UInt8] = []
        private var anthropicInput: UsageReport?

        /// OpenAI's `data: [DONE]` is kept back (`sawDone`), and the usage chunk a client asked
        /// for (`heldUsageChunk`, its data): the gateway writes them last, the usage chunk with
        /// what the answer cost.
        let holdsDone: Bool
        private(set) var sawDone = false
        private(set) var heldUsageChunk: [UInt8]?

        init(model: String, stripUsageChunk: Bool, holdsDone: Bool = false) {
            self.model = model
            self.stripUsageChunk = stripUsageChunk
            self.holdsDone = holdsDone
        }

        /// Events are separated by a blank line; a partial event waits for the rest.
        mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
            pending += bytes
            var passed: [UInt8] = []
            var start = 0
            while let end = StreamScanner.eventEnd(in: pending, from: start) {
                let event = pending[start..<end]
                if holdsDone && StreamScanner.data(of: event) == StreamScanner.done {
                    sawDone = true
                } else if !scan(event) {
                    passed += event
                } else if !stripUsageChunk {
                    // OpenAI's usage chunk, asked for: kept for the end, or passed as it came.
                    if holdsDone { heldUsageChunk = StreamScanner.data(of: event) } else { passed += event }
                }
                start = end
            }
            pending.removeFirst(start)
            return passed
        }

        /// What is left at the end of the stream (an event without its blank line).
        mutating func finish() -> [UInt8] {
            let rest = pending
            pending = []
            if !rest.isEmpty { _ = scan(rest[...]) }
            return rest
        }

        /// The output so far, from the text seen (a token per 4 bytes).
        var estimatedOutputTokens: Int { (textBytes + 3) / 4 }

        /// The stream's usage: as reported, else (or when it was cut before its output was
        /// reported) estimated from the request and the text seen.
        func finalUsage(requestBytes: Int) -> UsageReport {
            let estimated = GatewayUsage.estimate(model: model, requestBytes: requestBytes, textBytes: textBytes)
            guard var usage else { return estimated }
            if !sawFinalUsage && estimated.outputTokens > usage.outputTokens {
                usage.outputTokens = estimated.outputTokens
                usage.estimated = true
            }
            return usage
        }

        /// Reads one event; true when it is OpenAI's usage-only chunk.
        private mutating func scan(_ event: ArraySlice<UInt8>) -> Bool {
            let bytes = StreamScanner.data(of: event)
            guard !bytes.isEmpty, bytes != StreamScanner.done else { return false }
            if responseCreated == nil, GatewayUsage.firstRange(of: StreamScanner.created, in: bytes, from: 0) != nil { responseCreated = bytes }
            // Most events carry text and no usage: their text is measured in the raw JSON, and
            // only events with a usage object are decoded (the stream's cost per event stays small).
            guard GatewayUsage.hasObject(named: "usage", in: bytes) else {
                textBytes += GatewayUsage.rawTextBytes(in: bytes)
                return false
            }
            guard let document = try? JSONValue.parse(bytes), case .object(let object) = document else { return false }
            // The Responses API's last event repeats the whole text.
            if object["type"] != .string("response.completed") { textBytes += GatewayUsage.textBytes(in: document) }
            switch object["type"] {
            case .string("message_start")?:
                if case .object(let message)? = object["message"] { anthropicInput = GatewayUsage.report(message["usage"], model: model) }
            case .string("message_delta")?:
                if let delta = GatewayUsage.report(object["usage"], model: model) {
                    var total = anthropicInput ?? UsageReport(model: model, provider: "")
                    total.outputTokens = delta.outputTokens
                    usage = total
                    sawFinalUsage = true
                }
            case .string("response.completed")?:
                if case .object(let response)? = object["response"], let found = GatewayUsage.report(response["usage"], model: model) {
                    usage = found
                    sawFinalUsage = true
                }
            default:
                if let found = GatewayUsage.report(object["usage"], model: model) {
                    usage = found
                    sawFinalUsage = true
                    if case .array(let choices)? = object["choices"], choices.isEmpty { return true }
                }
            }
            if usage == nil, let input = anthropicInput { usage = input }
            return false
        }

        private static let done = [UInt8]("[DONE]".utf8)
        private static let created = [UInt8](#""type":"response.created""#.utf8)
        private static let newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")

        /// Where the first event from `start` ends: after its blank line, in either line ending.
        private static func eventEnd(in bytes: [UInt8], from start: Int) -> Int? {
            var index = start
            while index + 1 < bytes.count {
                if bytes[index] == newline {
                    if bytes[index + 1] == newline { return index + 2 }
                    if bytes[index + 1] == carriageReturn, index + 2 < bytes.count, bytes[index + 2] == newline { return index + 3 }
                }
                index += 1
            }
            return nil
        }

        /// An event's data: the values of its `data:` lines (less one leading space), joined
        /// by newlines, as the event-stream format has it.
        private static func data(of event: ArraySlice<UInt8>) -> [UInt8] {
            var data: [UInt8] = []
            var seen = false
            for var line in event.split(separator: newline, omittingEmptySubsequences: true) {
                if line.last == carriageReturn { line = line.dropLast() }
                guard line.starts(with: "data:".utf8) else { continue }
                line = line.dropFirst(5)
                if line.first == UInt8(ascii: " ") { line = line.dropFirst() }
                if seen { data.append(newline) }
                data += line
                seen = true
            }
            return data
        }
    }
}
