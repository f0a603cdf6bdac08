import Foundation
import Yams

/// A position in a YAML configuration document that reads typed values and reports problems
/// as `file: key: what was expected`. Unknown keys are errors, as in Prometheus, so a typo never
/// silently falls back to a default.
public struct ConfigNode {
    public let file: String
    public let key: String
    let node: Yams.Node?

    /// Parses a whole document; an empty file is an empty mapping.
    public init(yaml: String, file: String) throws(CoreError) {
        self.file = file
        self.key = ""
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw .config(file: file, key: "(document)", expected: "valid YAML: \(error)")
        }
    }

    /// Reads and parses a config file.
    public init(contentsOfFile path: String) throws(CoreError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .config(file: path, key: "(file)", expected: "a readable YAML file")
        }
        try self.init(yaml: String(decoding: data, as: UTF8.self), file: path)
    }

    init(file: String, key: String, node: Yams.Node?) {
        self.file = file
        self.key = key
        self.node = node
    }

    public var isPresent: Bool {
        guard let node else { return false }
        if case .scalar(let scalar) = node, scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty,
           scalar.style == .plain {
            return false
        }
        return true
    }

    public func error(_ expected: String) -> CoreError {
        .config(file: file, key: key.isEmpty ? "(document)" : key, expected: expected)
    }

    private func childKey(_ name: String) -> String { key.isEmpty ? name : "\(key).\(name)" }

    /// Checks that this is a mapping (or absent) whose keys are all in `allowed`.
    public func requireMapping(allowing allowed: Set<String>) throws(CoreError) {
        guard isPresent else { return }
        guard case .mapping(let mapping)? = node else { throw error("a mapping") }
        for (keyNode, _) in mapping {
            let name = keyNode.string ?? "?"
            if !allowed.contains(name) {
                throw CoreError.config(file: file, key: childKey(name),
                                       expected: "no such key (known keys: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
    }

    public subscript(name: String) -> ConfigNode {
        guard case .mapping(let mapping)? = node else { return ConfigNode(file: file, key: childKey(name), node: nil) }
        return ConfigNode(file: file, key: childKey(name), node: mapping[Yams.Node(name)])
    }

    public func items() throws(CoreError) -> [ConfigNode] {
        guard isPresent else { return [] }
        guard case .sequence(let sequence)? = node else { throw error("a list") }
        return sequence.enumerated().map { ConfigNode(file: file, key: "\(key)[\($0.offset)]", node: $0.element) }
    }

    /// The mapping's entries in document order.
    public func entries() throws(CoreError) -> [(String, ConfigNode)] {
        guard isPresent else { return [] }
        guard case .mapping(let mapping)? = node else { throw error("a mapping") }
        return mapping.map { ($0.key.string ?? "?", ConfigNode(file: file, key: childKey($0.key.string ?? "?"), node: $0.value)) }
    }

    public func string() throws(CoreError) -> String? {
        guard isPresent else { return nil }
        guard case .scalar(let scalar)? = node else { throw error("a string") }
        return scalar.string
    }

    /// One string or a list of them, as a list; none for an absent key.
    public func strings() throws(CoreError) -> [String] {
        if case .scalar? = node { return [try string() ?? ""] }
        var strings: [String] = []
        for item in try items() { strings.append(try item.string() ?? "") }
        return strings
    }

    public func string(default value: String) throws(CoreError) -> String {
        try string() ?? value
    }

    public func int(default value: Int) throws(CoreError) -> Int {
        guard let text = try string() else { return value }
        guard let number = Int(text) else { throw error("an integer, got \"\(text)\"") }
        return number
    }

    public func bool(default value: Bool) throws(CoreError) -> Bool {
        guard let text = try string() else { return value }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("true or false, got \"\(text)\"")
        }
    }

    /// A Prometheus-style duration (`30s`, `5m`, `15d`), in milliseconds; must be positive.
    public func durationMilliseconds(default value: Int64) throws(CoreError) -> Int64 {
        guard let text = try string() else { return value }
        guard let milliseconds = ConfigDuration.milliseconds(text), milliseconds > 0 else {
            throw error("a duration such as 30s, 5m, 1h or 15d, got \"\(text)\"")
        }
        return milliseconds
    }

    public func byteSize(default value: Int) throws(CoreError) -> Int {
        guard let text = try string() else { return value }
        guard let bytes = ConfigByteSize.parse(text), bytes > 0 else {
            throw error("a size in bytes such as 16MiB or 1048576, got \"\(text)\"")
        }
        return bytes
    }

    /// A secret from `<name>_file` (file contents, trailing newline trimmed) or `<name>_env`
    /// (an environment variable); never from the command line.
    public func secret(named name: String, environment: [String: String]) throws(CoreError) -> String? {
        let fileNode = self["\(name)_file"]
        let envNode = self["\(name)_env"]
        if let path = try fileNode.string() {
            guard let data = FileManager.default.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8) else {
                throw fileNode.error("a readable file holding the \(name), cannot read \(path)")
            }
            let secret = text.trimmingCharacters(in: "\n\r ")
            guard !secret.isEmpty else { throw fileNode.error("a non-empty \(name) in \(path)") }
            return secret
        }
        if let variable = try envNode.string() {
            guard let secret = environment[variable], !secret.isEmpty else {
                throw envNode.error("the environment variable \(variable) to hold the \(name); it is unset or empty")
            }
            return secret
        }
        return nil
    }
}
