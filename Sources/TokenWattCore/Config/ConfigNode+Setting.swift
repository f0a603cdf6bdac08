import Yams

extension ConfigNode {
    /// This document with the value at `path` (`electricity.price_per_kwh`,
    /// `node_classes[0].life_years`) replaced by `value`, a YAML value (`0.22`, `[]`,
    /// `{from: "22:00", to: "06:00", price_per_kwh: 0.1}`). Missing mappings on the way are
    /// created; a list index must exist, or be the list's length to append. Only on a
    /// document's root.
    public func setting(_ path: String, to value: String) throws(CoreError) -> ConfigNode {
        let segments = try ConfigNode.segments(of: path, file: file)
        let parsed: Yams.Node?
        do {
            parsed = try Yams.compose(yaml: value)
        } catch {
            throw .config(file: file, key: path, expected: "a YAML value, got \"\(value)\"")
        }
        let root = try ConfigNode.replacing(node, at: segments[...], with: parsed ?? Yams.Node(""), file: file, path: path)
        return ConfigNode(file: file, key: key, node: root)
    }

    /// The document as YAML text.
    public var yaml: String {
        guard let node, let text = try? Yams.serialize(node: node) else { return "" }
        return text
    }

    /// This mapping with only the keys in `names` (absent ones left out).
    public func keeping(_ names: [String]) -> ConfigNode {
        guard case .mapping(let mapping)? = node else { return ConfigNode(file: file, key: key, node: nil) }
        let pairs = mapping.filter { names.contains($0.key.string ?? "") }.map { ($0.key, $0.value) }
        return ConfigNode(file: file, key: key, node: .mapping(Yams.Node.Mapping(pairs)))
    }

    private enum Segment {
        case key(String)
        case index(Int)
    }

    /// `a.b[2].c` → key a, key b, index 2, key c.
    private static func segments(of path: String, file: String) throws(CoreError) -> [Segment] {
        var segments: [Segment] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            let name = rest.prefix { $0 != "[" }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw .config(file: file, key: path, expected: "a key path such as electricity.price_per_kwh or node_classes[0].life_years")
            }
            segments.append(.key(String(name)))
            rest = rest.dropFirst(name.count)
            while rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]), index >= 0 else {
                    throw .config(file: file, key: path, expected: "a list index such as [0]")
                }
                segments.append(.index(index))
                rest = rest[rest.index(after: close)...]
            }
            guard rest.isEmpty else { throw .config(file: file, key: path, expected: "a key path such as node_classes[0].life_years") }
        }
        return segments
    }

    private static func replacing(_ node: Yams.Node?, at segments: ArraySlice<Segment>, with value: Yams.Node, file: String, path: String) throws(CoreError) -> Yams.Node {
        guard let segment = segments.first else { return value }
        switch segment {
        case .key(let name):
            var mapping: Yams.Node.Mapping
            switch node {
            case .mapping(let existing)?: mapping = existing
            case nil: mapping = Yams.Node.Mapping([])
            case .scalar(let scalar)? where scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null": mapping = Yams.Node.Mapping([])
            default: throw .config(file: file, key: path, expected: "a mapping at \(name)'s parent")
            }
            mapping[name] = try replacing(mapping[name], at: segments.dropFirst(), with: value, file: file, path: path)
            return .mapping(mapping)
        case .index(let index):
            guard case .sequence(var sequence)? = node, index <= sequence.count else {
                throw .config(file: file, key: path, expected: "an index of an existing list entry (or the list's length, to append)")
            }
            let replaced = try replacing(index < sequence.count ? sequence[index] : nil, at: segments.dropFirst(), with: value, file: file, path: path)
            if index < sequence.count {
                sequence[index] = replaced
            } else {
                sequence.append(replaced)
            }
            return .sequence(sequence)
        }
    }
}
