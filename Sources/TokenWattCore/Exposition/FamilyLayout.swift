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

    /// Where a histogram's sample goes among its family's: by its labels without `le` (and the
    /// name), then buckets by bound, then count, sum and created. Both daemons' pages order their
    /// histograms by it.
    public static func histogramOrder(name: String, labels: some Sequence<Label>) -> HistogramPosition {
        let part: Int = if name.hasSuffix("_bucket") { 0 } else if name.hasSuffix("_count") { 1 } else if name.hasSuffix("_sum") { 2 } else { 3 }
        var bound = Double.infinity
        var rest: [Label] = []
        for label in labels where label.name != LabelSet.metricNameLabel {
            if label.name == "le" {
                bound = label.value == "+Inf" ? .infinity : Double(label.value) ?? .infinity
            } else {
                rest.append(label)
            }
        }
        return HistogramPosition(labels: rest, part: part, bound: bound)
    }

    /// A histogram sample's place in its family (`histogramOrder`).
    public struct HistogramPosition: Comparable, Sendable {
        let labels: [Label]
        let part: Int
        let bound: Double

        public static func < (lhs: Self, rhs: Self) -> Bool {
            if lhs.labels != rhs.labels { return lhs.labels.lexicographicallyPrecedes(rhs.labels) { ($0.name, $0.value) < ($1.name, $1.value) } }
            if lhs.part != rhs.part { return lhs.part < rhs.part }
            return lhs.bound < rhs.bound
        }
    }
}
