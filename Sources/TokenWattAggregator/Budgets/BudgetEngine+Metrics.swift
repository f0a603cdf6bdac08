import TokenWattCore

extension BudgetEngine: MetricsSource {
    /// Each budget's spend, limit, forecast and used ratio, in the budget's unit.
    func families() -> [MetricFamily] {
        let states = currentStates
        var spent: [ExpositionSample] = [], limit: [ExpositionSample] = [], forecast: [ExpositionSample] = [], ratio: [ExpositionSample] = []
        for budget in budgets {
            // The same unit as the API and the webhooks: the currency code, tokens or kWh.
            let labels = [Label("budget", budget.name), Label("unit", BudgetEvaluator.unit(of: budget, currency: currency))]
            limit.append(MetricDescriptor.budgetLimit.sample(labels, budget.limit))
            guard let state = states[budget.name] else { continue }
            spent.append(MetricDescriptor.budgetSpent.sample(labels, state.spent))
            ratio.append(MetricDescriptor.budgetUsedRatio.sample(labels, state.spent / budget.limit))
            if let value = state.forecast { forecast.append(MetricDescriptor.budgetForecast.sample(labels, value)) }
        }
        return [
            MetricDescriptor.budgetSpent.family(spent), MetricDescriptor.budgetLimit.family(limit),
            MetricDescriptor.budgetForecast.family(forecast), MetricDescriptor.budgetUsedRatio.family(ratio),
            MetricDescriptor.budgetStateErrors.family([MetricDescriptor.budgetStateErrors.sample(Double(stateErrors))]),
        ]
    }
}
