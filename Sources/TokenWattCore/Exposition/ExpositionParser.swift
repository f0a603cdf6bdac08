/// Parses Prometheus text 0.0.4 and OpenMetrics 1.0 into metric families.
///
/// What the agent runs on inference servers' `/metrics`: it accepts comments, HELP/TYPE/UNIT,
/// timestamps (milliseconds in 0.0.4, seconds in OpenMetrics), exponent notation, NaN and ±Inf,
/// `_created` series, histograms, summaries and exemplars (skipped). Malformed input throws
/// `CoreError.parse` with the 1-based line number and the reason.
public struct ExpositionParser: Sendable {
    public let format: ExpositionFormat
    /// Most samples taken from one text; past it the parse fails (a page of a broken or hostile
    /// server must not fill the reader's memory).
    public let maxSamples: Int

    public init(format: ExpositionFormat, maxSamples: Int = .max) {
        self.format = format
        self.maxSamples = maxSamples
    }

    public func parse(_ text: String) throws(CoreError) -> [MetricFamily] {
        try parse(bytes: Array(text.utf8))
    }

    public func parse(bytes: [UInt8]) throws(CoreError) -> [MetricFamily] {
        var state = ParseState()
        var lineNumber = 0
        var start = 0
        var sawEOF = false
        var samples = 0
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            if sawEOF { throw .parse(line: lineNumber, reason: "content after # EOF") }
            var line = Line(bytes: bytes, position: start, end: end, number: lineNumber)
            if line.isEmpty {
                if format == .openMetrics { throw .parse(line: lineNumber, reason: "empty line") }
            } else if line.peek == UInt8(ascii: "#") {
                sawEOF = try parseComment(&line, state: &state)
            } else {
                samples += 1
                guard samples <= maxSamples else { throw .parse(line: lineNumber, reason: "more than \(maxSamples) samples") }
                try parseSample(&line, state: &state)
            }
            start = end + 1
        }
        if format == .openMetrics && !sawEOF {
            throw .parse(line: lineNumber, reason: "missing # EOF at the end")
        }
        let names = Set(state.families.map(\.name))
        return state.families.map { family in
            var family = family
            // 0.0.4 names a counter after its `_total` series; the model uses the family name,
            // unless the family has no series to say so or another family has that name
            // already (both found by fuzzing).
            if family.type == .counter && family.name.hasSuffix("_total") && format == .prometheusText && !family.samples.isEmpty
                && !names.contains(String(family.name.dropLast("_total".count))) {
                family.name.removeLast("_total".count)
            }
            return family
        }
    }

    /// Returns true for `# EOF`.
    private func parseComment(_ line: inout Line, state: inout ParseState) throws(CoreError) -> Bool {
        line.advance()  // '#'
        guard line.peek == 0x20 || line.peek == 0x09, line.skipSpaces() else {
            return false  // "#" alone or "#comment" (also "#TYPE"): a plain comment
        }
        let keyword = line.token()
        switch keyword {
        case "EOF" where format == .openMetrics:
            guard line.isAtEnd else { throw line.error("unexpected text after # EOF") }
            return true
        case "HELP", "TYPE", "UNIT":
            guard line.skipSpaces() else { throw line.error("\(keyword) without a metric name") }
            let name = line.metricName()
            guard MetricName.isValidMetricName(name) else { throw line.error("invalid metric name \"\(name)\" in \(keyword)") }
            let hasText = line.skipSpaces()
            let text = hasText ? line.rest() : ""
            let index = try state.declare(name, line: line)
            switch keyword {
            case "HELP":
                if state.families[index].help != nil { throw line.error("second HELP for \(name)") }
                state.families[index].help = try unescapeHelp(text, line: line)
            case "TYPE":
                guard let type = MetricType(rawValue: text) ?? (text == "unknown" ? .untyped : nil) else {
                    throw line.error("unknown metric type \"\(text)\"")
                }
                if state.typed.contains(index) { throw line.error("second TYPE for \(name)") }
                if !state.families[index].samples.isEmpty { throw line.error("TYPE for \(name) after its samples") }
                state.families[index].type = type
                state.typed.insert(index)
            default:
                state.families[index].unit = text
            }
        default:
            break  // any other comment
        }
        return false
    }

    private func parseSample(_ line: inout Line, state: inout ParseState) throws(CoreError) {
        let name = line.metricName()
        guard !name.isEmpty, MetricName.isValidMetricName(name) else {
            throw line.error("expected a metric name")
        }
        var labels: [Label] = []
        if line.peek == UInt8(ascii: "{") {
            labels = try line.labels()
        }
        guard line.skipSpaces() else { throw line.error("missing value for \(name)") }
        let valueToken = line.token()
        guard let value = ExpositionParser.parseValue(valueToken) else {
            throw line.error("invalid value \"\(valueToken)\"")
        }
        var timestamp: Int64?
        if line.skipSpaces(), line.peek != UInt8(ascii: "#") {
            let token = line.token()
            switch format {
            case .prometheusText:
                guard let milliseconds = Int64(token), TimeBounds.contains(milliseconds) else {
                    throw line.error("invalid timestamp \"\(token)\" (milliseconds between the years 1 and 9999)")
                }
                timestamp = milliseconds
            case .openMetrics:
                guard let milliseconds = Double(token).flatMap(TimeBounds.milliseconds(fromSeconds:)) else {
                    throw line.error("invalid timestamp \"\(token)\" (seconds between the years 1 and 9999)")
                }
                timestamp = milliseconds
            }
            _ = line.skipSpaces()
        }
        if line.peek == UInt8(ascii: "#") {
            guard format == .openMetrics else { throw line.error("unexpected text after the sample") }
            _ = line.rest()  // an exemplar: not kept
        }
        guard line.isAtEnd else { throw line.error("unexpected text after the sample") }
        let index = try state.familyIndex(forSample: name, line: line)
        state.families[index].samples.append(ExpositionSample(name: name, labels: labels, value: value, timestamp: timestamp))
    }

    private func unescapeHelp(_ text: String, line: Line) throws(CoreError) -> String {
        guard text.utf8.contains(0x5C) else { return text }
        // Scalar by scalar, as the writer escapes: a backslash followed by a combining mark is one
        // Character, and would otherwise hide the escape (found by fuzzing).
        var out = String.UnicodeScalarView()
        var escaping = false
        for character in text.unicodeScalars {
            if escaping {
                switch character {
                case "\\": out.append("\\")
                case "n": out.append("\n")
                case "\"": out.append("\"")
                default:
                    // 0.0.4 keeps unknown escapes as written.
                    guard format == .prometheusText else { throw line.error("invalid escape \\\(character) in HELP") }
                    out.append("\\")
                    out.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        if escaping { out.append("\\") }
        return String(out)
    }

    /// Reads a value as Go's ParseFloat does, including `NaN`, `+Inf`, `-Inf` and exponents.
    static func parseValue(_ token: String) -> Double? {
        switch token {
        case "+Inf", "Inf", "+inf", "inf": return .infinity
        case "-Inf", "-inf": return -.infinity
        case "NaN", "nan": return .nan
        default:
            guard let first = token.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+")
                    || first == UInt8(ascii: ".") || (first >= 0x30 && first <= 0x39) else { return nil }
            return Double(token)
        }
    }
}

/// Families being built, with an index by name so a sample finds its family quickly.
private struct ParseState {
    var families: [MetricFamily] = []
    var indexByName: [String: Int] = [:]
    var typed: Set<Int> = []

    /// The family named in a HELP/TYPE/UNIT line; its lines must stay together.
    mutating func declare(_ name: String, line: Line) throws(CoreError) -> Int {
        if let index = indexByName[name] {
            if index != families.count - 1 { throw line.error("metadata for \(name) after other families (families must not interleave)") }
            return index
        }
        families.append(MetricFamily(name: name, type: .untyped))
        indexByName[name] = families.count - 1
        return families.count - 1
    }

    mutating func familyIndex(forSample name: String, line: Line) throws(CoreError) -> Int {
        if let last = families.indices.last, families[last].owns(sampleName: name) { return last }
        for suffix in ["_total", "_created", "_bucket", "_count", "_sum", "_gsum", "_gcount", "_info"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let index = indexByName[base], families[index].owns(sampleName: name) {
                throw line.error("sample \(name) is not next to the rest of its family \(base)")
            }
        }
        if indexByName[name] != nil {
            throw line.error("sample \(name) is not next to the rest of its family")
        }
        families.append(MetricFamily(name: name, type: .untyped))
        indexByName[name] = families.count - 1
        return families.count - 1
    }
}

/// A cursor over one line of exposition text.
private struct Line {
    let bytes: [UInt8]
    var position: Int
    let end: Int
    let number: Int

    var isEmpty: Bool { position == end }
    var isAtEnd: Bool { position >= end }
    var peek: UInt8? { position < end ? bytes[position] : nil }

    mutating func advance() { position += 1 }

    func error(_ reason: String) -> CoreError { .parse(line: number, reason: reason) }

    /// Skips spaces and tabs; returns whether anything follows them.
    mutating func skipSpaces() -> Bool {
        while position < end && (bytes[position] == 0x20 || bytes[position] == 0x09) { position += 1 }
        return position < end
    }

    /// Up to the next space or the end of the line.
    mutating func token() -> String {
        let start = position
        while position < end && bytes[position] != 0x20 && bytes[position] != 0x09 { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func rest() -> String {
        let start = position
        position = end
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    mutating func metricName() -> String {
        let start = position
        while position < end, MetricName.isNameContinuation(bytes[position]) || bytes[position] == UInt8(ascii: ":") {
            position += 1
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// `{name="value",...}` with escapes `\\`, `\"` and `\n`; a trailing comma is allowed.
    mutating func labels() throws(CoreError) -> [Label] {
        advance()  // '{'
        var labels: [Label] = []
        var seen = Set<String>()
        while true {
            _ = skipSpaces()
            if peek == UInt8(ascii: "}") { advance(); return labels }
            let name = metricName()
            guard MetricName.isValidLabelName(name) else {
                throw error(name.isEmpty ? "expected a label name" : "invalid label name \"\(name)\"")
            }
            _ = skipSpaces()
            guard peek == UInt8(ascii: "=") else { throw error("expected = after label \(name)") }
            advance()
            _ = skipSpaces()
            guard peek == UInt8(ascii: "\"") else { throw error("expected \" to open the value of label \(name)") }
            advance()
            let value = try quotedValue(labelName: name)
            guard seen.insert(name).inserted else { throw error("duplicate label \(name)") }
            labels.append(Label(name, value))
            _ = skipSpaces()
            switch peek {
            case UInt8(ascii: ","): advance()
            case UInt8(ascii: "}"): advance(); return labels
            default: throw error("expected , or } after label \(name)")
            }
        }
    }

    private mutating func quotedValue(labelName: String) throws(CoreError) -> String {
        var value: [UInt8] = []
        while position < end {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: value, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position < end else { break }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\\"): value.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\""): value.append(UInt8(ascii: "\""))
                case UInt8(ascii: "n"): value.append(0x0A)
                default: throw error("invalid escape \\\(Character(Unicode.Scalar(escaped))) in label \(labelName)")
                }
            default:
                value.append(byte)
            }
        }
        throw error("unterminated value of label \(labelName)")
    }
}
