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
        var families: [MetricFamily] = []
        for source in sources { families += try await source.families() }
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
            if !AggregatorFamilies.isReserved(name) { runs[name] = start..<end }
            start = end
        }
        for family in FamilyLayout(seriesNames: runs.keys).families {
            writer.writeHeader(name: family.name, type: family.type, help: family.help, into: &out)
            var indices = family.seriesNames.flatMap { runs[$0] ?? 0..<0 }
            if family.type == .histogram {
                let positions = Dictionary(uniqueKeysWithValues: indices.map { index in
                    let series = live[index]
                    return (index, FamilyLayout.histogramOrder(name: series.name, labels: series.text.dropFirst(series.name.utf8.count)))
                })
                indices.sort { positions[$0]! < positions[$1]! }
            }
            for index in indices {
                let series = live[index]
                writer.writeSeriesLine(series.text, value: series.sample.value, timestamp: series.sample.timestamp, into: &out)
            }
        }
    }
}
