import TokenWattCore

/// The one rule for idle hours: a node's hour is idle when the node served no local tokens in
/// it (tokens of any stream that is not cloud spend, `StreamKind`); its whole cost and
/// emissions are then idle cost, else they are shared out to its local tokens. Reports, the
/// ledger's totals, the hour's share-out and the day summary's SQL all ask this type.
public struct IdleHours: Sendable {
    private struct NodeHour: Hashable {
        var node: String
        var hour: Int64
    }

    private var localTokens: [NodeHour: Double] = [:]

    public init() {}

    public init(_ usage: some Sequence<LedgerUsageHour>) {
        for row in usage { count(row) }
    }

    /// Counts a usage row's tokens where they are local.
    public mutating func count(_ row: LedgerUsageHour) {
        guard !StreamKind.isCloudSpend(row.source) else { return }
        localTokens[NodeHour(node: row.node, hour: row.hour), default: 0] += row.tokens
    }

    /// The local tokens a node served in an hour.
    public func localTokens(node: String, hour: Int64) -> Double {
        localTokens[NodeHour(node: node, hour: hour)] ?? 0
    }

    public func isIdle(node: String, hour: Int64) -> Bool {
        localTokens(node: node, hour: hour) <= 0
    }

    /// The node row's idle part of `amount`: all of it in an idle hour, else 0.
    public func idlePart(of amount: Double, node: String, hour: Int64) -> Double {
        isIdle(node: node, hour: hour) ? amount : 0
    }

    /// The same rule in SQL, for the row `n` of `ledger_nodes`: `amount` where the node served
    /// no local tokens in that hour, else 0.
    static func sql(idlePartOf amount: String) -> String {
        """
        CASE WHEN EXISTS (SELECT 1 FROM ledger_usage u WHERE u.hour = n.hour AND u.node = n.node
                          AND \(StreamKind.sqlCondition(column: "u.source", cloudSpend: false)) AND u.input + u.output > 0)
             THEN 0 ELSE \(amount) END
        """
    }
}
