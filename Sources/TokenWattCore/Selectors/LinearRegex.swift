/// A regular expression matched in time linear in the text (a Thompson NFA run as a set of
/// states, as RE2 does), so no pattern a client sends can make a query backtrack for minutes
/// (`(.*)(.*)(.*)Q`, `(a+)+b`). The syntax is the part of RE2's that label matchers use:
/// literals and escapes, `.`, classes (`[a-z]`, `[^...]`, `[[:alpha:]]`, `\d \w \s` and their
/// negations), groups (`(...)`, `(?:...)`), alternation, `* + ?` (lazy forms match the same
/// strings), `{n}`, `{n,}`, `{n,m}`, `^` and `$`, and the flags `(?i)` and `(?s)`. Anything else
/// (back-references, look-around, `\b`, Unicode classes) is refused with a reason.
///
/// Matching is always of the whole text (Prometheus anchors label matchers at both ends) and
/// `.` matches a newline, as Prometheus's `(?s:...)` wrapping does.
public struct LinearRegex: Sendable {
    /// Longest pattern accepted, in bytes.
    public static let maxPatternBytes = 4096
    /// Most instructions a compiled pattern may have (counted repetitions expand into copies).
    public static let maxProgramSize = 20_000

    private let program: [Instruction]

    public init(_ pattern: String) throws(RegexError) {
        guard pattern.utf8.count <= LinearRegex.maxPatternBytes else {
            throw RegexError("pattern is \(pattern.utf8.count) bytes, over the limit of \(LinearRegex.maxPatternBytes)")
        }
        var parser = RegexParser(Array(pattern.unicodeScalars))
        let tree = try parser.parseWhole()
        var compiler = RegexCompiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var current = StateSet(capacity: program.count)
        var next = StateSet(capacity: program.count)
        add(0, at: 0, length: scalars.count, to: &current)
        for (position, scalar) in scalars.enumerated() {
            if current.isEmpty { return false }
            next.clear()
            for pc in current.members {
                if case .scalar(let test, let following) = program[pc], test.accepts(scalar) {
                    add(following, at: position + 1, length: scalars.count, to: &next)
                }
            }
            swap(&current, &next)
        }
        return current.members.contains { if case .match = program[$0] { true } else { false } }
    }

    /// Adds `pc` and every state reachable from it without consuming a scalar.
    private func add(_ start: Int, at position: Int, length: Int, to set: inout StateSet) {
        var stack = [start]
        while let pc = stack.popLast() {
            guard set.insert(pc) else { continue }
            switch program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let first, let second): stack.append(second); stack.append(first)
            case .textStart(let next): if position == 0 { stack.append(next) }
            case .textEnd(let next): if position == length { stack.append(next) }
            case .scalar, .match: break
            }
        }
    }
}

/// Why a regular expression was refused.
public struct RegexError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One step of the compiled automaton.
private enum Instruction: Sendable {
    case scalar(ScalarTest, next: Int)
    case split(Int, Int)
    case jump(Int)
    case textStart(next: Int)
    case textEnd(next: Int)
    case match
}

/// The states of the automaton at one position: a sparse set, so clearing is O(1).
private struct StateSet {
    private var sparse: [Int]
    private(set) var members: [Int] = []

    init(capacity: Int) { sparse = Array(repeating: -1, count: capacity) }

    var isEmpty: Bool { members.isEmpty }

    /// Inserts `pc`; false when it was there already.
    mutating func insert(_ pc: Int) -> Bool {
        let slot = sparse[pc]
        if slot >= 0 && slot < members.count && members[slot] == pc { return false }
        sparse[pc] = members.count
        members.append(pc)
        return true
    }

    mutating func clear() { members.removeAll(keepingCapacity: true) }
}

/// What one scalar must be: any, a set of ranges (possibly negated), folded for `(?i)`.
struct ScalarTest: Sendable, Equatable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false
    var caseInsensitive = false

    static let any = ScalarTest(ranges: [0...0x10FFFF])
    /// `\d` and `[[:digit:]]`; `\w` and `[[:word:]]`.
    static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    static let wordScalars: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    static let anyButNewline = ScalarTest(ranges: [0x0A...0x0A], negated: true)

    static func literal(_ scalar: Unicode.Scalar) -> ScalarTest { ScalarTest(ranges: [scalar.value...scalar.value]) }

    func accepts(_ scalar: Unicode.Scalar) -> Bool {
        if contains(scalar.value) { return true }
        guard caseInsensitive else { return false }
        // Both cases of a letter; multi-scalar mappings (ß -> SS) cannot match one scalar.
        for variant in [scalar.properties.lowercaseMapping, scalar.properties.uppercaseMapping] {
            if let other = variant.unicodeScalars.first, variant.unicodeScalars.count == 1, other != scalar, contains(other.value) { return true }
        }
        return false
    }

    private func contains(_ value: UInt32) -> Bool {
        ranges.contains { $0.contains(value) } != negated
    }
}

/// The parsed pattern.
private indirect enum RegexNode {
    case empty
    case scalar(ScalarTest)
    case textStart, textEnd
    case concatenation([RegexNode])
    case alternation([RegexNode])
    /// `max` nil: unbounded.
    case repetition(RegexNode, min: Int, max: Int?)
}

/// A recursive-descent parser of the pattern, scalar by scalar.
private struct RegexParser {
    static let maxRepeat = 1000
    static let maxDepth = 200
    let scalars: [Unicode.Scalar]
    var position = 0
    var caseInsensitive = false
    var dotAll = true
    var depth = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    func error(_ reason: String) -> RegexError { RegexError("\(reason) at character \(position + 1)") }

    mutating func parseWhole() throws(RegexError) -> RegexNode {
        let node = try alternation()
        guard position == scalars.count else { throw error("unexpected )") }
        return node
    }

    mutating func consume(_ scalar: Unicode.Scalar) -> Bool {
        guard peek == scalar else { return false }
        position += 1
        return true
    }

    mutating func alternation() throws(RegexError) -> RegexNode {
        var branches = [try concatenation()]
        while consume("|") { branches.append(try concatenation()) }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func concatenation() throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            guard let atom = try atom() else { continue }
            items.append(try quantified(atom))
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concatenation(items))
    }

    /// One atom, or nil for a flag group that only changed the flags.
    mutating func atom() throws(RegexError) -> RegexNode? {
        let scalar = scalars[position]
        position += 1
        switch scalar {
        case "(": return try group()
        case "[": return .scalar(try characterClass())
        case ".": return .scalar(dotAll ? .any : .anyButNewline)
        case "^": return .textStart
        case "$": return .textEnd
        case "\\": return .scalar(try escape())
        case "*", "+", "?": throw error("missing argument to repetition operator \(scalar)")
        case "{" where try repetitionBounds(at: position - 1) != nil: throw error("missing argument to repetition operator")
        default: return .scalar(folded(.literal(scalar)))
        }
    }

    mutating func group() throws(RegexError) -> RegexNode? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= RegexParser.maxDepth else { throw error("groups nested deeper than \(RegexParser.maxDepth)") }
        let saved = (caseInsensitive, dotAll)
        if consume("?") {
            if consume("P") || peek == "<" {
                // A named group: the name is skipped, the group matches as any other.
                guard consume("<") else { throw error("invalid named group") }
                while let scalar = peek, scalar != ">" { position += 1 }
                guard consume(">") else { throw error("invalid named group") }
            } else {
                var enable = true
                while let scalar = peek, scalar != ":" && scalar != ")" {
                    position += 1
                    switch scalar {
                    case "i": caseInsensitive = enable
                    case "s": dotAll = enable
                    case "-": enable = false
                    default: throw error("unsupported flag \(scalar) (only i and s are)")
                    }
                }
                if consume(")") { return nil }  // (?i) sets the flags for the rest of the group
                guard consume(":") else { throw error("missing )") }
            }
        }
        let inner = try alternation()
        guard consume(")") else { throw error("missing )") }
        (caseInsensitive, dotAll) = saved
        return inner
    }

    mutating func quantified(_ atom: RegexNode) throws(RegexError) -> RegexNode {
        var node = atom
        var repeated = false
        while let scalar = peek {
            let bounds: (Int, Int?)
            switch scalar {
            case "*": position += 1; bounds = (0, nil)
            case "+": position += 1; bounds = (1, nil)
            case "?": position += 1; bounds = (0, 1)
            case "{":
                guard let counted = try repetitionBounds(at: position) else { return node }
                position = counted.end
                bounds = (counted.min, counted.max)
            default: return node
            }
            if repeated { throw error("invalid nested repetition operator") }
            repeated = true
            if case .textStart = node { throw error("missing argument to repetition operator") }
            _ = consume("?")  // lazy: the same strings match as a whole
            node = .repetition(node, min: bounds.0, max: bounds.1)
        }
        return node
    }

    /// `{n}`, `{n,}` or `{n,m}` starting at `start` (the brace), with the index after it; nil
    /// when the brace is a literal one, as in RE2.
    func repetitionBounds(at start: Int) throws(RegexError) -> (min: Int, max: Int?, end: Int)? {
        var cursor = start + 1
        func number() -> Int? {
            var value: Int?
            while cursor < scalars.count, scalars[cursor].isASCII, let digit = Int(String(scalars[cursor])) {
                value = Swift.min((value ?? 0) * 10 + digit, 1_000_000)
                cursor += 1
            }
            return value
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if cursor < scalars.count && scalars[cursor] == "," {
            cursor += 1
            high = number()
        }
        guard cursor < scalars.count && scalars[cursor] == "}" else { return nil }
        guard low <= RegexParser.maxRepeat, (high ?? 0) <= RegexParser.maxRepeat, low <= (high ?? low) else {
            throw RegexError("invalid repeat count {\(low),\(high.map(String.init) ?? "")} at character \(start + 1) (at most \(RegexParser.maxRepeat))")
        }
        return (low, high, cursor + 1)
    }

    mutating func characterClass() throws(RegexError) -> ScalarTest {
        var test = ScalarTest(ranges: [], negated: consume("^"), caseInsensitive: caseInsensitive)
        var first = true
        while true {
            guard let scalar = peek else { throw error("missing ]") }
            if scalar == "]" && !first { position += 1; break }
            first = false
            if scalar == "[" && position + 1 < scalars.count && scalars[position + 1] == ":" {
                test.ranges += try posixClass()
                continue
            }
            position += 1
            let low: UInt32
            if scalar == "\\" {
                let escaped = try escape()
                guard escaped.ranges.count == 1, !escaped.negated, escaped.ranges[0].count == 1 else {
                    test.ranges += escaped.negated ? ScalarTest.complement(escaped.ranges) : escaped.ranges
                    continue
                }
                low = escaped.ranges[0].lowerBound
            } else {
                low = scalar.value
            }
            if peek == "-" && position + 1 < scalars.count && scalars[position + 1] != "]" {
                position += 1
                var high = scalars[position].value
                position += 1
                if high == UInt32(UInt8(ascii: "\\")) {
                    let escaped = try escape()
                    guard escaped.ranges.count == 1, escaped.ranges[0].count == 1 else { throw error("invalid character class range") }
                    high = escaped.ranges[0].lowerBound
                }
                guard low <= high else { throw error("invalid character class range") }
                test.ranges.append(low...high)
            } else {
                test.ranges.append(low...low)
            }
        }
        return test
    }

    mutating func posixClass() throws(RegexError) -> [ClosedRange<UInt32>] {
        let names: [String: [ClosedRange<UInt32>]] = [
            "alnum": [0x30...0x39, 0x41...0x5A, 0x61...0x7A], "alpha": [0x41...0x5A, 0x61...0x7A],
            "digit": ScalarTest.digits, "lower": [0x61...0x7A], "upper": [0x41...0x5A],
            "space": [0x09...0x0D, 0x20...0x20], "word": ScalarTest.wordScalars,
            "xdigit": [0x30...0x39, 0x41...0x46, 0x61...0x66], "punct": [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E],
        ]
        position += 2
        let negated = consume("^")
        var name = ""
        while let scalar = peek, scalar != ":" { name.unicodeScalars.append(scalar); position += 1 }
        guard consume(":"), consume("]"), let ranges = names[name] else { throw error("invalid character class [:\(name):]") }
        return negated ? ScalarTest.complement(ranges) : ranges
    }

    mutating func escape() throws(RegexError) -> ScalarTest {
        guard let scalar = peek else { throw error("trailing \\") }
        position += 1
        let digit = ScalarTest.digits, word = ScalarTest.wordScalars
        // RE2's \s leaves out \v, which [[:space:]] has.
        let space: [ClosedRange<UInt32>] = [0x09...0x0A, 0x0C...0x0D, 0x20...0x20]
        switch scalar {
        case "d": return ScalarTest(ranges: digit)
        case "D": return ScalarTest(ranges: digit, negated: true)
        case "w": return ScalarTest(ranges: word)
        case "W": return ScalarTest(ranges: word, negated: true)
        case "s": return ScalarTest(ranges: space)
        case "S": return ScalarTest(ranges: space, negated: true)
        case "n": return .literal("\n")
        case "t": return .literal("\t")
        case "r": return .literal("\r")
        case "f": return .literal("\u{0C}")
        case "v": return .literal("\u{0B}")
        case "x": return .literal(try hexEscape())
        default:
            guard scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                throw error("unsupported escape \\\(scalar)")
            }
            return folded(.literal(scalar))
        }
    }

    mutating func hexEscape() throws(RegexError) -> Unicode.Scalar {
        var digits = ""
        if consume("{") {
            while let scalar = peek, scalar != "}" { digits.unicodeScalars.append(scalar); position += 1 }
            guard consume("}") else { throw error("invalid \\x escape") }
        } else {
            for _ in 0..<2 {
                guard let scalar = peek else { throw error("invalid \\x escape") }
                digits.unicodeScalars.append(scalar)
                position += 1
            }
        }
        guard digits.count <= 8, let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else { throw error("invalid \\x escape") }
        return scalar
    }

    func folded(_ test: ScalarTest) -> ScalarTest {
        var test = test
        test.caseInsensitive = caseInsensitive
        return test
    }
}

extension ScalarTest {
    /// The scalars not in `ranges`, as ranges.
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = max(next, range.upperBound + 1)
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }
}

/// Turns the tree into instructions (Thompson's construction), refusing programs past the limit.
private struct RegexCompiler {
    var program: [Instruction] = []

    mutating func append(_ instruction: Instruction) throws(RegexError) -> Int {
        guard program.count < LinearRegex.maxProgramSize else {
            throw RegexError("pattern is too large once repetitions are expanded (over \(LinearRegex.maxProgramSize) instructions)")
        }
        program.append(instruction)
        return program.count - 1
    }

    mutating func emit(_ node: RegexNode) throws(RegexError) {
        switch node {
        case .empty:
            break
        case .scalar(let test):
            _ = try append(.scalar(test, next: program.count + 1))
        case .textStart:
            _ = try append(.textStart(next: program.count + 1))
        case .textEnd:
            _ = try append(.textEnd(next: program.count + 1))
        case .concatenation(let items):
            for item in items { try emit(item) }
        case .alternation(let branches):
            // split L1, L2; L1: a; jump end; L2: split ... ; last branch
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = try append(.split(0, 0))
                    try emit(branch)
                    jumps.append(try append(.jump(0)))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let inner, let min, let max):
            for _ in 0..<min { try emit(inner) }
            if let max {
                // (a(a(a)?)?)? for the optional copies: each split skips to the end.
                var splits: [Int] = []
                for _ in min..<Swift.max(min, max) {
                    splits.append(try append(.split(0, 0)))
                    try emit(inner)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = try append(.split(0, 0))
                try emit(inner)
                _ = try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
