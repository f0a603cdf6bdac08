import TokenWattCore

/// Who the tokens of an inference server belong to: labels such as `team` and `project` for
/// the whole server, and per model on it. With the node's default (`attribution:` at the top of
/// the agent's config), they label `tokenwatt_tokens_total` and `tokenwatt_requests_total`, so
/// the ledger's streams and budgets can be by team. The most specific wins, label by label:
/// the first model rule that matches, then the server's, then the node's.
public struct Attribution: Sendable, Equatable {
    public struct ModelRule: Sendable, Equatable {
        public var match: ModelPattern
        public var labels: [String: String]

        public init(match: ModelPattern, labels: [String: String]) {
            self.match = match
            self.labels = labels
        }

        public init(pattern: String, labels: [String: String]) throws {
            self.init(match: try ModelPattern(pattern), labels: labels)
        }
    }

    public var labels: [String: String] = [:]
    public var models: [ModelRule] = []

    public init(labels: [String: String] = [:], models: [ModelRule] = []) {
        self.labels = labels
        self.models = models
    }

    /// The labels of `model`'s tokens on this server, over the node's defaults.
    public func labels(of model: String, nodeDefaults: [String: String]) -> [String: String] {
        let rule = models.first { $0.match.matches(model) }?.labels ?? [:]
        return nodeDefaults.merging(labels) { $1 }.merging(rule) { $1 }
    }

    /// `{team: research, project: chat}`: names from `allowed` (`usage.attributes`), values not empty.
    static func labels(_ node: ConfigNode, allowed: [String]) throws(CoreError) -> [String: String] {
        var labels: [String: String] = [:]
        for (name, value) in try node.entries() {
            guard allowed.contains(name) else {
                throw value.error("a label usage.attributes allows (\(allowed.joined(separator: ", "))), not \(name)")
            }
            guard let text = try value.string(), !text.isEmpty else { throw value.error("a value for \(name)") }
            labels[name] = text
        }
        return labels
    }
}

/// A regular expression over the whole model name: the `match` of a server's model rules and of
/// the gateway's routes.
public struct ModelPattern: Sendable, Equatable {
    public let pattern: String
    private let matcher: LabelMatcher

    public init(_ pattern: String) throws {
        self.pattern = pattern
        matcher = try LabelMatcher("model", .matchesRegex, pattern)
    }

    /// The `match` key of a config item.
    init(_ node: ConfigNode) throws(CoreError) {
        guard let pattern = try node.string(), !pattern.isEmpty else { throw node.error("a regular expression over the model name") }
        do {
            try self.init(pattern)
        } catch {
            throw node.error("a valid regular expression: \(error)")
        }
    }

    public func matches(_ model: String) -> Bool {
        matcher.matches(model)
    }

    public static func == (lhs: ModelPattern, rhs: ModelPattern) -> Bool {
        lhs.pattern == rhs.pattern
    }
}
