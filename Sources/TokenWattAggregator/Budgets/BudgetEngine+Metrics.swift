import TokenWattCore

extension BudgetEngine: MetricsSource {
    /// Each budget's spend, limit, forecast and used ratio, in the budget's unit.
    func families() -> [MetricFamily] {
        let states = currentStates
        var spent: [ExpositionSample] = [], limit: [ExpositionSample] = [], forecast: [ExpositionSample] = [], ratio: [ExpositionSample] = []
        for budget in budgets {
            // The same unit as the API and the webhooks: the currency code, tokens or kWh.
            let labels = [Label("budget", budget.name), Label("unit", BudgetEvaluator.unit(of: budget, currency: currency))]
            limit.append(ExpositionSample(name: "tokenwatt_budget_limit", labels: labels, value: budget.limit))
            guard let state = states[budget.name] else { continue }
            spent.append(ExpositionSample(name: "tokenwatt_budget_spent", labels: labels, value: state.spent))
            ratio.append(ExpositionSample(name: "tokenwatt_budget_used_ratio", labels: labels, value: state.spent / budget.limit))
            if let value = state.forecast { forecast.append(ExpositionSample(name: "tokenwatt_budget_forecast", labels: labels, value: value)) }
        }
        return [
            MetricFamily(name: "tokenwatt_budget_spent", type: .gauge, help: "Spent so far in the budget's current period.", samples: spent),
            MetricFamily(name: "tokenwatt_budget_limit", type: .gauge, help: "The budget's limit for its period.", samples: limit),
            MetricFamily(name: "tokenwatt_budget_forecast", type: .gauge, help: "Projected spend at the end of the period.", samples: forecast),
            MetricFamily(name: "tokenwatt_budget_used_ratio", type: .gauge, help: "Spent divided by limit.", samples: ratio),
            MetricFamily(name: "tokenwatt_budget_state_errors", type: .counter, help: "Saved budget states that could not be read, kept as they were.",
                         samples: [ExpositionSample(name: "tokenwatt_budget_state_errors_total", value: Double(stateErrors))]),
        ]
    }
}
