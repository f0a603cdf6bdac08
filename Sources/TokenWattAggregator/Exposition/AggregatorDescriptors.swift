import TokenWattCore

/// The aggregator's own families, named once (the budgets', the alert deliveries' and the
/// forwarder's so far; the rest still name themselves where they are made).
extension MetricDescriptor {
    static let budgetSpent = MetricDescriptor("tokenwatt_budget_spent", .gauge, help: "Spent so far in the budget's current period.")
    static let budgetLimit = MetricDescriptor("tokenwatt_budget_limit", .gauge, help: "The budget's limit for its period.")
    static let budgetForecast = MetricDescriptor("tokenwatt_budget_forecast", .gauge, help: "Projected spend at the end of the period.")
    static let budgetUsedRatio = MetricDescriptor("tokenwatt_budget_used_ratio", .gauge, help: "Spent divided by limit.")
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
