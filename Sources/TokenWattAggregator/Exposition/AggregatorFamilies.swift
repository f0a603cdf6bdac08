import TokenWattCore

/// The metric families the aggregator computes itself (its own state, costs, budgets, alert
/// delivery, forwarding, agents' liveness). A node may not push series by these names: they
/// would forge costs on `/metrics` and write a second `# TYPE` line for the family.
enum AggregatorFamilies {
    static let reservedPrefixes = [
        "tokenwatt_aggregator_", "tokenwatt_cost_", "tokenwatt_budget_", "tokenwatt_alert_", "tokenwatt_forward_",
        "tokenwatt_cloud_equivalent_", "tokenwatt_savings_", "tokenwatt_idle_cost_", "tokenwatt_break_even_", "tokenwatt_unpriced_",
        "tokenwatt_advice_",
    ]
    /// The aggregator's families no prefix covers (`tokenwatt_agent_up`, the gateway's
    /// reservations), by family and series name.
    static let reservedNames = Set(MetricDescriptor.aggregatorFamilies(currency: "usd").flatMap { [$0.name, $0.seriesName] }
        .filter { name in !reservedPrefixes.contains { name.hasPrefix($0) } })

    /// Asked for every pushed series: most names fail the first, cheap test.
    static func isReserved(_ name: String) -> Bool {
        name.hasPrefix("tokenwatt_") && (reservedNames.contains(name) || reservedPrefixes.contains { name.hasPrefix($0) })
    }
}
