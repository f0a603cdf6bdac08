import TokenWattCore

/// The aggregator's own families, named once (the budget state errors', the alert deliveries'
/// and the forwarder's so far; the budgets' figures are in `MetricCatalog`, which types them;
/// the rest still name themselves where they are made).
extension MetricDescriptor {
    static let budgetStateErrors = MetricDescriptor("tokenwatt_budget_state_errors", .counter,
                                                    help: "Saved budget states that could not be read; the budget started its period afresh.")
    static let alertDeliveries = MetricDescriptor("tokenwatt_alert_deliveries", .counter, help: "Alert delivery attempts, by receiver and outcome.")
    static let forwardSamples = MetricDescriptor("tokenwatt_forward_samples", .counter, help: "Samples forwarded with remote write, by target and result.")
    static let forwardErrors = MetricDescriptor("tokenwatt_forward_errors", .counter,
                                                help: "Forwarding requests that failed and were kept for a retry, by target and reason.")
    static let forwardCursorErrors = MetricDescriptor("tokenwatt_forward_cursor_errors", .counter,
                                                      help: "Reads of a target's forwarding cursor that failed and were tried again.")
    static let forwardBacklogSamples = MetricDescriptor("tokenwatt_forward_backlog_samples", .gauge, help: "Samples logged and not yet accepted by the target.")
    static let forwardBacklogAge = MetricDescriptor("tokenwatt_forward_backlog_age_seconds", .gauge, help: "Age of the oldest sample the target has not accepted.")
}
