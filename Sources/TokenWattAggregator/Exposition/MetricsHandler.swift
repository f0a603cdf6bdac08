import Hummingbird
import TokenWattCore
import TokenWattStore

/// `GET /metrics`: the latest value of every live series, grouped into families, then the
/// aggregator's own metrics, the cost families and the budgets'; text 0.0.4 or OpenMetrics as the scraper's `Accept` asks.
struct MetricsHandler: Sendable {
    let store: SampleStore
    let writer: SampleWriter
    let metrics: AggregatorMetrics
    let costs: CostEngine
    let budgets: BudgetEngine
    let delivery: DeliveryWorker
    let forwarder: RemoteWriteForwarder
    let stalenessMs: Int64
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
        var families = MetricsHandler.families(of: store.liveSeries(since: now() - stalenessMs))
        families += metrics.families(store: store, queuedSamples: writer.queuedSamples, now: now())
        families += try await costs.families()
        families += AlertsHandler.families(budgets: budgets, delivery: delivery)
        families += try await forwarder.families()
        let body = ExpositionWriter(format: format).render(families)
        return Response(status: .ok, headers: [.contentType: format.contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The live series as families, typed from TokenWatt's catalog (remote write 1.0 carries
    /// no metadata), each sample with its timestamp.
    static func families(of live: [(labels: LabelSet, sample: Sample)]) -> [MetricFamily] {
        MetricCatalog.families(of: live.map {
            ExpositionSample(name: $0.labels.metricName ?? "", labels: $0.labels.withoutMetricName, value: $0.sample.value, timestamp: $0.sample.timestamp)
        })
    }
}
