/// A series selector as Prometheus writes it: `name{label="v", other=~"re.*"}` or `{...}`.
public struct SeriesSelector: Sendable, CustomStringConvertible {
    public let matchers: [LabelMatcher]

    public init(matchers: [LabelMatcher]) {
        self.matchers = matchers
    }

    /// The metric name when the selector names exactly one, so a store can narrow its search.
    public var metricName: String? {
        matchers.lazy.compactMap(\.exactMetricName).first
    }

    public func matches(_ labels: LabelSet) -> Bool {
        matchers.allSatisfy { $0.matches(labels[$0.name]) }
    }

    public var description: String {
        "{" + matchers.map(\.description).joined(separator: ", ") + "}"
    }

    /// Parses a selector. Like Prometheus, it refuses one that every series would match
    /// (at least one matcher must not match the empty string).
    public init(parsing text: String) throws(CoreError) {
        var scanner = SelectorScanner(Array(text.utf8))
        var matchers: [LabelMatcher] = []
        scanner.skipSpaces()
        let name = scanner.identifier(allowColon: true)
        if !name.isEmpty {
            matchers.append(try LabelMatcher(LabelSet.metricNameLabel, .equal, name))
        }
        scanner.skipSpaces()
        if scanner.consume("{") {
            while true {
                scanner.skipSpaces()
                if scanner.consume("}") { break }
                let labelName = scanner.identifier(allowColon: false)
                guard !labelName.isEmpty else { throw scanner.error("expected a label name") }
                scanner.skipSpaces()
                let op: LabelMatcher.Operator
                if scanner.consume("=~") { op = .matchesRegex }
                else if scanner.consume("!~") { op = .notMatchesRegex }
                else if scanner.consume("!=") { op = .notEqual }
                else if scanner.consume("=") { op = .equal }
                else { throw scanner.error("expected =, !=, =~ or !~ after \(labelName)") }
                scanner.skipSpaces()
                let value = try scanner.quoted()
                matchers.append(try LabelMatcher(labelName, op, value))
                scanner.skipSpaces()
                if scanner.consume(",") { continue }
                guard scanner.consume("}") else { throw scanner.error("expected , or }") }
                break
            }
        }
        scanner.skipSpaces()
        guard scanner.isAtEnd else { throw scanner.error("unexpected text") }
        guard !matchers.isEmpty else { throw CoreError.parse(line: 1, reason: "empty selector") }
        guard matchers.contains(where: { !$0.matches("") }) else {
            throw CoreError.parse(line: 1, reason: "selector must contain at least one matcher that does not match the empty string")
        }
        self.matchers = matchers
    }
}

private struct SelectorScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }

    func error(_ reason: String) -> CoreError {
        .parse(line: 1, reason: "\(reason) at character \(position + 1)")
    }

    mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 || bytes[position] == 0x0A {
            position += 1
        }
    }

    mutating func consume(_ token: String) -> Bool {
        let utf8 = Array(token.utf8)
        guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else { return false }
        position += utf8.count
        return true
    }

    mutating func identifier(allowColon: Bool) -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            let valid = position == start ? MetricName.isNameStart(byte) : MetricName.isNameContinuation(byte)
            guard valid || (allowColon && byte == UInt8(ascii: ":")) else { break }
            position += 1
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A double-, single- or back-quoted string with Go-style escapes for the quote and backslash.
    mutating func quoted() throws(CoreError) -> String {
        guard position < bytes.count, [UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "`")].contains(bytes[position]) else {
            throw error("expected a quoted value")
        }
        let quote = bytes[position]
        position += 1
        var value: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == quote { return String(decoding: value, as: UTF8.self) }
            if byte == UInt8(ascii: "\\") && quote != UInt8(ascii: "`") && position < bytes.count {
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): value.append(0x0A)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(escaped)
                default: value.append(contentsOf: [UInt8(ascii: "\\"), escaped])  // e.g. \d in a regex
                }
            } else {
                value.append(byte)
            }
        }
        throw error("unterminated quoted value")
    }
}
