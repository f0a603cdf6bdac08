/// One label: a name and its value.
public struct Label: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A set of labels kept sorted by name, with no duplicate names: the identity of a series.
public struct LabelSet: Hashable, Sendable, Sequence, CustomStringConvertible {
    public static let metricNameLabel = "__name__"

    public private(set) var labels: [Label]

    /// Sorts and checks the labels: valid names, no duplicates, no reserved `__` names other
    /// than `__name__`, which must hold a valid metric name. Empty values are dropped, as
    /// Prometheus treats an empty label as an absent one.
    public init(validating labels: [Label]) throws(CoreError) {
        var sorted = labels.filter { !$0.value.isEmpty }
        sorted.sort { $0.name < $1.name }
        try LabelSet.check(sorted)
        self.labels = sorted
    }

    /// Labels already checked by the caller (sorted, unique, valid).
    public init(trusted labels: [Label]) {
        self.labels = labels
    }

    public init(dictionary: [String: String]) throws(CoreError) {
        try self.init(validating: dictionary.map { Label($0.key, $0.value) })
    }

    /// Checks labels as a remote-write sender must send them: sorted, unique, named, valued.
    public static func check(_ labels: [Label], requireSorted: Bool = true) throws(CoreError) {
        var previous: String?
        for label in labels {
            if let previous {
                if label.name == previous { throw .duplicateLabelName(label.name) }
                if requireSorted && label.name < previous { throw .unsortedLabels(label.name) }
            }
            if label.name == metricNameLabel {
                guard MetricName.isValidMetricName(label.value) else { throw .invalidMetricName(label.value) }
            } else {
                guard MetricName.isValidLabelName(label.name) else { throw .invalidLabelName(label.name) }
                if label.name.hasPrefix("__") { throw .reservedLabelName(label.name) }
                if label.value.isEmpty { throw .emptyLabelValue(labelName: label.name) }
            }
            previous = label.name
        }
    }

    public var metricName: String? { self[LabelSet.metricNameLabel] }

    public subscript(name: String) -> String? {
        labels.first { $0.name == name }?.value
    }

    /// Returns a copy with `name` set to `value`, replacing any value it had.
    public func setting(_ name: String, to value: String) -> LabelSet {
        var copy = self
        copy.set(name, to: value)
        return copy
    }

    /// Sets `name` to `value` in place, replacing any value it had: a decoded series, which
    /// holds the only reference to its labels, gets its `node` label without a new array.
    public mutating func set(_ name: String, to value: String) {
        guard let index = labels.firstIndex(where: { $0.name >= name }) else {
            labels.append(Label(name, value))
            return
        }
        if labels[index].name == name {
            labels[index].value = value
        } else {
            labels.insert(Label(name, value), at: index)
        }
    }

    /// The labels without `__name__`.
    public var withoutMetricName: [Label] { labels.filter { $0.name != LabelSet.metricNameLabel } }

    public func makeIterator() -> IndexingIterator<[Label]> { labels.makeIterator() }

    public var description: String {
        let name = metricName ?? ""
        let rest = withoutMetricName.map { "\($0.name)=\"\(ExpositionEscaping.labelValue($0.value))\"" }
        return rest.isEmpty ? name : "\(name){\(rest.joined(separator: ","))}"
    }
}
