/// Attribute keys the OpenTelemetry semantic conventions define that usage attributes are
/// commonly read from (resource, GenAI, session and user attributes), current and older
/// spellings: what `tokenwatt check-config` holds `usage.otlp_attributes` against.
public enum OTLPConventions {
    public static let attributeKeys: Set<String> = [
        // Resource
        "service.name", "service.namespace", "service.instance.id", "service.version",
        "deployment.environment", "deployment.environment.name",
        "host.name", "host.id", "k8s.cluster.name", "k8s.namespace.name", "k8s.pod.name", "k8s.deployment.name",
        "k8s.container.name", "container.name", "cloud.provider", "cloud.region", "cloud.account.id",
        // GenAI
        "gen_ai.agent.name", "gen_ai.agent.id", "gen_ai.conversation.id", "gen_ai.operation.name", "gen_ai.system",
        "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.token.type", "gen_ai.tool.name",
        "gen_ai.data_source.id", "gen_ai.output.type",
        // Who and which session
        "session.id", "user.id", "enduser.id", "user.name",
    ]

    /// Why a configured key is worth a second look: no convention defines it (custom
    /// attributes are read where an instrumentation sets them), with the nearest defined key
    /// when it looks like a misspelling of one. Nil for a defined key.
    public static func warning(forKey key: String) -> String? {
        guard !attributeKeys.contains(key) else { return nil }
        let nearest = attributeKeys.map { ($0, distance($0, key)) }.filter { $0.1 <= 2 }.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
        return "\"\(key)\" is an attribute no OpenTelemetry convention defines: it is read only where an instrumentation or "
            + "OTEL_RESOURCE_ATTRIBUTES sets it" + (nearest.map { " (did you mean \"\($0)\"?)" } ?? "")
    }

    /// Levenshtein distance, for short keys.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
