import Hummingbird
import TokenWattCore
import TokenWattStore

/// `GET /metrics`: the latest value of every live series, grouped into families, then the
/// families of the aggregator's parts (its own ingest and storage figures, costs, advice,
/// budgets, deliveries, forwarding, reservations); text 0.0.4 or OpenMetrics as the scraper's
/// `Accept` asks.
struct MetricsHandler: Sendable {
    let samples: any SampleReading
    let sources: [any MetricsSource]
    let stalenessMs: Int64
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let format = ExpositionFormat.negotiate(accept: request.headers[.accept])
        let exposition = ExpositionWriter(format: format)
        let live = samples.liveSeries(since: now() - stalenessMs)
        let families = try await sources.families()
        var body: [UInt8] = []
        body.reserveCapacity(live.count * 96)
        MetricsHandler.write(live, with: exposition, into: &body)
        body += exposition.render(families)
        return Response(status: .ok, headers: [.contentType: format.contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The live series in their families (`FamilyLayout`, typed from TokenWatt's catalog:
    /// remote write 1.0 carries no metadata), each sample with its timestamp. Written straight
    /// from the text each series keeps, as a scrape of 100,000 series would otherwise spend most
    /// of its time building and sorting values to format.
    static func write(_ live: [LiveSeries], with writer: ExpositionWriter, into out: inout [UInt8]) {
        // The series come sorted by name: each name's series are one run.
        var runs: [String: Range<Int>] = [:]
        var start = 0
        while start < live.count {
            let name = live[start].name
            var end = start + 1
            while end < live.count && live[end].name == name { end += 1 }
            // Series stored under the aggregator's own names before ingest refused them: the
            // aggregator's families write those names, and a second `# TYPE` would fail the scrape.
            if !MetricDescriptor.reservedForTheAggregator.contains(name) { runs[name] = start..<end }
            start = end
        }
        func write(_ series: LiveSeries) {
            writer.writeSeriesLine(series.text, value: series.sample.value, timestamp: series.sample.timestamp, into: &out)
        }
        for family in FamilyLayout(seriesNames: runs.keys).families {
            writer.writeHeader(name: family.name, type: family.type, help: family.help, into: &out)
            let ranges = family.seriesNames.compactMap { runs[$0] }
            guard family.type == .histogram else {
                for range in ranges { for series in live[range] { write(series) } }
                continue
            }
            // A histogram's series by label set, bound, then count and sum.
            let ordered = ranges.flatMap { live[$0] }.map { series in
                (series, FamilyLayout.histogramOrder(name: series.name, labels: series.labels))
            }
            for (series, _) in ordered.sorted(by: { $0.1 < $1.1 }) { write(series) }
        }
    }
}
