/// Which family each series of a page belongs to, and in what order the families and their
/// series are written: the one rule for both formats and both daemons.
///
/// A series' family comes from `MetricCatalog` (a `_total` series is a counter named without
/// it, a known histogram's parts are that histogram), unless another series on the page would
/// clash with it: a node that pushes both `x_total` and `x` (real exporters have such pairs)
/// must not make two families named `x`, which OpenMetrics forbids and strict parsers answer by
/// refusing the whole page. Such a series keeps its own name as an untyped family. Families
/// are written in name order; a histogram's series by label set, each set's buckets by bound
/// and then its count and sum, as OpenMetrics requires.
public struct FamilyLayout: Sendable {
    public struct Family: Sendable, Equatable {
        public let name: String
        public let type: MetricType
        public let help: String?
        /// Its series names, sorted.
        public let seriesNames: [String]
    }

    /// The families, sorted by name.
    public let families: [Family]

    /// The layout of a page holding series of these names (each name once).
    public init(seriesNames: some Collection<String>) {
        let names = Set(seriesNames)
        var claims: [String: (type: MetricType, help: String?, members: [String])] = [:]
        var conflicting: Set<String> = []
        for name in names {
            let family = MetricCatalog.family(ofSeries: name)
            if let claim = claims[family.name] {
                if claim.type != family.type { conflicting.insert(family.name) }
                claims[family.name]?.members.append(name)
            } else {
                claims[family.name] = (family.type, family.help, [name])
            }
        }
        var families: [Family] = []
        for (familyName, claim) in claims {
            // A family named after its own single series (a gauge, an untyped series) cannot
            // clash: series names are distinct. One made from other names can.
            let derived = claim.members != [familyName]
            let reserved = [familyName] + claim.type.sampleSuffixes.map { familyName + $0 }
            let clashes = derived && (conflicting.contains(familyName) || reserved.contains { names.contains($0) && !claim.members.contains($0) })
            if clashes {
                families += claim.members.map { Family(name: $0, type: .untyped, help: nil, seriesNames: [$0]) }
            } else {
                families.append(Family(name: familyName, type: claim.type, help: claim.help, seriesNames: claim.members.sorted()))
            }
        }
        self.families = families.sorted { $0.name < $1.name }
    }

    /// Where a histogram's sample goes among its family's: by its label set without `le`, then
    /// buckets by bound, then count, sum and created. `labels` is its label text as written
    /// (`{le="0.5",route="a"}`), `name` its series name.
    public static func histogramOrder(name: String, labels: some Sequence<UInt8>) -> HistogramPosition {
        let part: Int = if name.hasSuffix("_bucket") { 0 } else if name.hasSuffix("_count") { 1 } else if name.hasSuffix("_sum") { 2 } else { 3 }
        var pairs: [ArraySlice<UInt8>] = []
        var bound = Double.infinity
        let bytes = Array(labels)
        var index = bytes.first == UInt8(ascii: "{") ? 1 : 0
        // Label pairs `name="value"` separated by commas up to the closing brace; values escape `"` and `\`.
        while index < bytes.count && bytes[index] != UInt8(ascii: "}") {
            let start = index
            var inValue = false, escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if inValue {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inValue = false }
                } else if byte == UInt8(ascii: "\"") {
                    inValue = true
                } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") {
                    break
                }
                index += 1
            }
            let pair = bytes[start..<index]
            if pair.starts(with: "le=\"".utf8) {
                let value = String(decoding: pair.dropFirst(4).dropLast(), as: UTF8.self)
                bound = value == "+Inf" ? .infinity : Double(value) ?? .infinity
            } else {
                pairs.append(pair)
            }
            if index < bytes.count && bytes[index] == UInt8(ascii: ",") { index += 1 }
        }
        let rest = Array(pairs.joined(separator: [UInt8(ascii: ",")]))
        return HistogramPosition(labelSet: rest, part: part, bound: bound)
    }

    /// A histogram sample's place in its family (`histogramOrder`).
    public struct HistogramPosition: Comparable, Sendable {
        let labelSet: [UInt8]
        let part: Int
        let bound: Double

        public static func < (lhs: Self, rhs: Self) -> Bool {
            if lhs.labelSet != rhs.labelSet { return lhs.labelSet.lexicographicallyPrecedes(rhs.labelSet) }
            if lhs.part != rhs.part { return lhs.part < rhs.part }
            return lhs.bound < rhs.bound
        }
    }
}
