import Hummingbird
import TokenWattCore
import TokenWattStore

/// `GET /metrics`: the latest value of every live series, grouped into families, then the
/// aggregator's own metrics; text 0.0.4 or OpenMetrics as the scraper's `Accept` asks.
struct MetricsHandler: Sendable {
    let store: SampleStore
    let writer: SampleWriter
    let metrics: AggregatorMetrics
    let stalenessMs: Int64
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
        var families = MetricsHandler.families(of: store.liveSeries(since: now() - stalenessMs))
        families += metrics.families(store: store, queuedSamples: writer.queuedSamples)
        let body = ExpositionWriter(format: format).render(families)
        return Response(status: .ok, headers: [.contentType: format.contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Groups series by metric name into families, typed from TokenWatt's catalog (remote write
    /// 1.0 carries no metadata), sorted by name and labels so scrapes are stable.
    static func families(of live: [(labels: LabelSet, sample: Sample)]) -> [MetricFamily] {
        var bySeriesName: [String: [(labels: LabelSet, sample: Sample)]] = [:]
        for entry in live {
            bySeriesName[entry.labels.metricName ?? "", default: []].append(entry)
        }
        return bySeriesName.keys.sorted().map { seriesName in
            let family = MetricCatalog.family(ofSeries: seriesName)
            let samples = bySeriesName[seriesName]!
                .map { ExpositionSample(name: seriesName, labels: $0.labels.withoutMetricName, value: $0.sample.value, timestamp: $0.sample.timestamp) }
                .sorted { $0.labels.lexicographicallyPrecedes($1.labels) { ($0.name, $0.value) < ($1.name, $1.value) } }
            return MetricFamily(name: family.name, type: family.type, help: family.help, samples: samples)
        }
    }
}
