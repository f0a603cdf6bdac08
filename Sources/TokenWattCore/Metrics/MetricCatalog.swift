/// What TokenWatt knows about metric names: the type and help of its own series, and the type it
/// infers for any other series, since remote write 1.0 carries no metadata.
public enum MetricCatalog {
    /// TokenWatt's own series, as the agent and the gateway push them.
    public static let descriptors: [MetricDescriptor] = MetricDescriptor.pushedFamilies

    /// The descriptors by series name (counters with their `_total`).
    public static let known: [String: MetricDescriptor] = Dictionary(uniqueKeysWithValues: descriptors.map { ($0.seriesName, $0) })

    /// The type of a series named `name`: known, part of a known histogram, else `_total`
    /// means counter, else untyped.
    public static func type(ofSeries name: String) -> MetricType {
        // A histogram writes no sample under its own name: a series that has it is not one of its parts.
        if let entry = known[name] { return entry.type == .histogram ? .untyped : entry.type }
        if histogram(ofSeries: name) != nil { return .histogram }
        return name.hasSuffix("_total") ? .counter : .untyped
    }

    /// The known histogram a `_bucket`, `_sum` or `_count` series belongs to.
    private static func histogram(ofSeries name: String) -> String? {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if known[base]?.type == .histogram { return base }
        }
        return nil
    }

    /// Whether a series' value only grows except for resets, so an increase over time means
    /// something: counters and the cumulative parts of histograms and summaries.
    public static func isCumulative(series name: String) -> Bool {
        type(ofSeries: name) == .counter || name.hasSuffix("_bucket") || name.hasSuffix("_count") || name.hasSuffix("_sum")
    }

    /// The family a series belongs to, with its type and help.
    public static func family(ofSeries name: String) -> (name: String, type: MetricType, help: String?) {
        if let base = histogram(ofSeries: name) { return (base, .histogram, known[base]?.help) }
        let type = type(ofSeries: name)
        let familyName = type == .counter && name.hasSuffix("_total") ? String(name.dropLast("_total".count)) : name
        return (familyName, type, known[name]?.help)
    }

    /// Groups samples into families (`FamilyLayout`), sorted by name and labels so that
    /// expositions are stable.
    public static func families(of samples: [ExpositionSample]) -> [MetricFamily] {
        let byName = Dictionary(grouping: samples, by: \.name)
        return FamilyLayout(seriesNames: byName.keys).families.map { family in
            let members = family.seriesNames.flatMap { byName[$0] ?? [] }
            let samples = family.type == .histogram
                ? members.map { ($0, FamilyLayout.histogramOrder(name: $0.name, labels: $0.labels)) }.sorted { $0.1 < $1.1 }.map(\.0)
                : members.sorted { $0.labels.lexicographicallyPrecedes($1.labels) { ($0.name, $0.value) < ($1.name, $1.value) } }
            return MetricFamily(name: family.name, type: family.type, help: family.help, samples: samples)
        }
    }
}
