import TokenWattCore

extension DeliveryWorker: MetricsSource {
    /// Alert delivery attempts by receiver and outcome.
    func families() -> [MetricFamily] {
        let deliveries = deliveries.sorted { $0.key < $1.key }.flatMap { receiver, counts in
            DeliveryWorker.Outcome.allCases.map { outcome in
                MetricDescriptor.alertDeliveries.sample([Label("outcome", outcome.rawValue), Label("receiver", receiver)], Double(counts[outcome] ?? 0))
            }
        }
        return [MetricDescriptor.alertDeliveries.family(deliveries)]
    }
}
