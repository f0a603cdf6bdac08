/// One label matcher of a selector: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.
/// Regular expressions are anchored at both ends, as in Prometheus, and matched in linear time
/// (`LinearRegex`); an absent label matches as the empty string.
public struct LabelMatcher: Sendable, CustomStringConvertible {
    public enum Operator: String, Sendable {
        case equal = "=", notEqual = "!=", matchesRegex = "=~", notMatchesRegex = "!~"
    }

    public let name: String
    public let op: Operator
    public let value: String
    private let regex: LinearRegex?

    public init(_ name: String, _ op: Operator, _ value: String) throws(CoreError) {
        self.name = name
        self.op = op
        self.value = value
        switch op {
        case .equal, .notEqual:
            regex = nil
        case .matchesRegex, .notMatchesRegex:
            do {
                regex = try LinearRegex(value)
            } catch {
                throw .parse(line: 1, reason: "invalid regular expression for label \(name): \(error)")
            }
        }
    }

    public func matches(_ labelValue: String?) -> Bool {
        let actual = labelValue ?? ""
        switch op {
        case .equal: return actual == value
        case .notEqual: return actual != value
        case .matchesRegex: return regexMatches(actual)
        case .notMatchesRegex: return !regexMatches(actual)
        }
    }

    private func regexMatches(_ string: String) -> Bool {
        regex?.matches(string) ?? false
    }

    /// The metric name this matcher pins down, when it is `__name__="..."`.
    var exactMetricName: String? {
        name == LabelSet.metricNameLabel && op == .equal ? value : nil
    }

    public var description: String {
        "\(name)\(op.rawValue)\"\(ExpositionEscaping.labelValue(value))\""
    }
}

