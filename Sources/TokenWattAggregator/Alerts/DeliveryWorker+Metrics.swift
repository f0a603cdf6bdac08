import TokenWattCore

extension DeliveryWorker: MetricsSource {
    /// Alert delivery attempts by receiver and outcome.
    func families() -> [MetricFamily] {
        let deliveries = deliveries.sorted { $0.key < $1.key }.flatMap { receiver, counts in
            DeliveryWorker.Outcome.allCases.map { outcome in
                ExpositionSample(name: "tokenwatt_alert_deliveries_total", labels: [Label("outcome", outcome.rawValue), Label("receiver", receiver)],
                                 value: Double(counts[outcome] ?? 0))
            }
        }
        return [MetricFamily(name: "tokenwatt_alert_deliveries", type: .counter, help: "Alert delivery attempts, by receiver and outcome.", samples: deliveries)]
    }
}
