import Hummingbird
import Logging
import TokenWattConfiguration
import TokenWattCore
import TokenWattService
import TokenWattStore

/// What every push path does once it has series (remote write, OTLP): each series named for
/// its node and checked, the node's and the aggregator's limits, then one durable write. A
/// request is stored whole or not at all.
struct SeriesIngest: Sendable {
    let writer: SampleWriter
    let samples: any SampleAppending
    let metrics: AggregatorMetrics
    let configuration: IngestConfiguration
    let staticLabels: [Label]
    let now: @Sendable () -> Int64
    /// Told when samples were stored, so budgets see them at once.
    let stored: @Sendable () -> Void

    /// A series as it will be stored: `node` from the credential and the static labels set;
    /// refused when it is named like one of the aggregator's families, or is not the
    /// sender's to push, or has a timestamp outside the epoch and now plus the skew.
    func identify(_ series: TimeSeries, sender: Sender) throws -> TimeSeries {
        var labels = series.labels
        if let name = labels.metricName, MetricDescriptor.reservedForTheAggregator.contains(name) {
            throw AggregatorError.reservedName("\(name): the aggregator computes this family itself; a node cannot push it (rename the series)")
        }
        if !sender.mayPush(name: labels.metricName ?? "", source: labels["source"]) {
            throw AggregatorError.forbidden("\(labels): a gateway's credential pushes the gateway's usage and metrics only; "
                                            + "a node's samples take the node's credential (nodes: in the aggregator's config)")
        }
        labels.set("node", to: sender.name)
        for label in staticLabels { labels.set(label.name, to: label.value) }
        try checkTimestamps(series.samples, of: "\(labels)")
        return TimeSeries(labels: labels, samples: series.samples)
    }

    /// The newest timestamp a push may carry.
    var latestAllowed: Int64 { now() + configuration.maxFutureSkewMs }

    func checkTimestamps(_ samples: [Sample], of series: @autoclosure () -> String) throws {
        let latestAllowed = latestAllowed
        for sample in samples where sample.timestamp <= 0 || sample.timestamp > latestAllowed {
            throw AggregatorError.invalid("\(series()): timestamp \(sample.timestamp) is not between the epoch and \(latestAllowed) (now plus the allowed skew)")
        }
    }

    /// Checks the limits, then writes the batch; returns once it is durable. `node` is the
    /// sender whose distinct-series limit applies.
    func write(_ batch: [IncomingSeries], node: String) async throws -> (result: AppendResult, prepared: PreparedBatch) {
        let unknown = batch.compactMap(\.identity.labels)
        try checkSeriesLimit(unknown, node: node)
        try checkStoreLimits(unknown)
        let prepared = writer.prepare(batch)
        do {
            let result = try await writer.write(prepared: prepared)
            metrics.ingested(result.stored, duplicates: result.duplicates)
            metrics.pushed(node: node, at: now())
            stored()
            return (result, prepared)
        } catch StoreError.saturated(let pending) {
            throw AggregatorError.saturated("write queue full (\(pending) samples pending), retry later")
        } catch StoreError.shuttingDown {
            throw AggregatorError.shuttingDown
        } catch {
            throw AggregatorError.storage("not stored: \(error)")
        }
    }

    /// Refuses before a body is read when the writer has no room: memory stays bounded.
    func checkRoom() throws {
        guard writer.hasRoom(for: 1) else { throw AggregatorError.saturated("write queue full, retry later") }
    }

    /// Refuses a request that would take the node past its distinct-series limit. Two requests
    /// of one node in flight together may pass it by one request's new series.
    private func checkSeriesLimit(_ series: [LabelSet], node: String) throws {
        let limit = configuration.maxSeriesPerNode
        let known = samples.seriesCount(node: node)
        guard let new = newSeries(series, past: limit, known: known) else { return }
        throw AggregatorError.seriesLimit("node \(node) has \(known) series and this request adds \(new), over the limit of \(limit) "
                                          + "(ingest.max_series_per_node): drop labels that vary without bound, or raise the limit")
    }

    /// Refuses a request while the head's samples take their memory limit, or when it would
    /// take the aggregator past its limit of series in all. Concurrent requests may pass a
    /// limit by what they carry.
    private func checkStoreLimits(_ series: [LabelSet]) throws {
        let storage = samples.configuration
        let headBytes = samples.headBytes
        if headBytes >= storage.maxHeadBytes {
            throw AggregatorError.headFull("the head's samples take \(headBytes) bytes, the limit (storage.max_head_bytes) is "
                                           + "\(storage.maxHeadBytes): retry once a flush has written the oldest window to disk")
        }
        let known = samples.seriesCount
        guard let new = newSeries(series, past: storage.maxSeries, known: known) else { return }
        throw AggregatorError.totalSeriesLimit("the aggregator holds \(known) series and this request adds \(new), over the limit of "
                                               + "\(storage.maxSeries) (storage.max_series): raise the limit, or drop labels that vary without bound")
    }

    /// How many series the request adds when they would take `known` past `limit`; nil when
    /// it stays within. Cheap for most requests: they end at the first test.
    private func newSeries(_ series: [LabelSet], past limit: Int, known: Int) -> Int? {
        guard known + series.count > limit else { return nil }
        let new = samples.unknownSeries(series)
        return known + new > limit ? new : nil
    }

    /// Reads a body up to the configured limit.
    func collectBody(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw AggregatorError.tooLarge("body of \(length) bytes is over the limit of \(configuration.maxBodyBytes)")
        }
        var body: [UInt8] = []
        for try await buffer in request.body {
            guard body.count + buffer.readableBytes <= configuration.maxBodyBytes else {
                throw AggregatorError.tooLarge("body is over the limit of \(configuration.maxBodyBytes) bytes")
            }
            body.append(contentsOf: buffer.readableBytesView)
        }
        return body
    }

    /// Counts a refused push and logs it: storage failures as errors, refusals at debug.
    func refused(_ error: AggregatorError, logger: Logger) {
        metrics.rejected(AggregatorMetrics.RejectReason(error))
        if case .storage = error {
            logger.error("push not stored", metadata: ["error": "\(error.message)"])
        } else {
            logger.debug("push refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
        }
    }
}

extension AggregatorMetrics.RejectReason {
    init(_ error: AggregatorError) {
        self = switch error {
        case .unauthorized: .unauthorized
        case .unsupportedMediaType: .unsupportedMediaType
        case .tooLarge: .tooLarge
        case .invalid: .invalid
        case .overLimit: .overLimit
        case .seriesLimit: .seriesLimit
        case .reservedName: .reservedName
        case .forbidden: .forbidden
        case .totalSeriesLimit: .totalSeriesLimit
        case .headFull: .headMemory
        case .saturated: .saturated
        case .shuttingDown: .shuttingDown
        case .storage: .storageError
        }
    }
}

extension AggregatorError {
    /// A decoding failure as the refusal it is: a body past a bound is too large, a series
    /// past one of its own over a limit, anything else invalid.
    init(decoding error: CoreError) {
        switch error {
        case .tooLarge: self = .tooLarge(error.description)
        case .limit: self = .overLimit(error.description)
        case .unsupportedEncoding: self = .unsupportedMediaType(error.description)
        default: self = .invalid(error.description)
        }
    }
}
