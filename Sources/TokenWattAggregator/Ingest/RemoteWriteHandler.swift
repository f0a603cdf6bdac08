import TokenWattConfiguration
import TokenWattService
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TokenWattCore
import TokenWattStore

/// `POST /api/v1/write`: remote write 1.0. A request is stored whole or not at all, and answered
/// 204 only after its samples are committed.
struct RemoteWriteHandler: Sendable {
    let authenticator: SenderAuthenticator
    let writer: SampleWriter
    let samples: any SampleAppending
    /// Each node's series by their place in its pushes.
    let pushedSeries: PushedSeriesCache
    let metrics: AggregatorMetrics
    let configuration: IngestConfiguration
    let staticLabels: [Label]
    let logger: Logger
    let now: @Sendable () -> Int64
    /// Told when samples were stored, so budgets see them at once.
    let stored: @Sendable () -> Void

    func handle(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        do {
            let (result, node) = try await ingest(request, context: context)
            metrics.ingested(result.stored, duplicates: result.duplicates)
            metrics.pushed(node: node, at: now())
            stored()
            return Response(status: .noContent)
        } catch let error as AggregatorError {
            metrics.rejected(reason(for: error))
            if case .storage = error {
                logger.error("push not stored", metadata: ["error": "\(error.message)"])
            } else {
                logger.debug("push refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
            }
            throw error
        }
    }

    /// Stores the request's samples; returns what the store did and the pushing node.
    private func ingest(_ request: Request, context: some ClientCertificateContext) async throws -> (AppendResult, String) {
        guard let sender = await authenticator.sender(request, context: context) else {
            throw AggregatorError.unauthorized
        }
        let node = sender.name
        try checkHeaders(request.headers)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw AggregatorError.tooLarge("body of \(length) bytes is over the limit of \(configuration.maxBodyBytes)")
        }
        // Refuse before reading the body when the writer has no room: memory stays bounded.
        guard writer.hasRoom(for: 1) else {
            throw AggregatorError.saturated("write queue full, retry later")
        }
        let body = try await collectBody(request)
        let slots = pushedSeries.slots(of: node)
        let decoded: [DecodedSeries]
        do {
            decoded = try RemoteWriteCodec.decode(body, maxUncompressedBytes: configuration.maxDecodedBytes, limits: configuration.limits) { position, key in
                position < slots.count && slots[position].key == key && slots[position].id != 0
            }
        } catch {
            switch error {
            case .tooLarge: throw AggregatorError.tooLarge(error.description)
            case .limit: throw AggregatorError.overLimit(error.description)
            default: throw AggregatorError.invalid(error.description)
            }
        }
        let batch = try identify(decoded, sender: sender, slots: slots)
        let unknown = batch.compactMap(\.identity.labels)
        try checkSeriesLimit(unknown, node: node)
        try checkStoreLimits(unknown)
        let prepared = writer.prepare(batch)
        let result: AppendResult
        do {
            result = try await writer.write(prepared: prepared)
        } catch StoreError.saturated(let pending) {
            throw AggregatorError.saturated("write queue full (\(pending) samples pending), retry later")
        } catch StoreError.shuttingDown {
            throw AggregatorError.shuttingDown
        } catch {
            throw AggregatorError.storage("not stored: \(error)")
        }
        // Series found by their labels take their positions: the node's next push skips them.
        pushedSeries.remember(node: node, batch.indices.compactMap { position in
            guard batch[position].identity.labels != nil, let id = prepared.ids[position],
                  let slot = PushedSeriesCache.Slot(key: decoded[position].key, id: id) else { return nil }
            return (position, slot)
        })
        return (result, node)
    }

    private static let versionField = HTTPField.Name(RemoteWriteCodec.versionHeader)!

    private func checkHeaders(_ headers: HTTPFields) throws {
        let contentType = headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let proto = contentType.split(separator: ";").dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("proto=") }
        guard mediaType == RemoteWriteCodec.contentType, proto == nil || proto == "proto=prometheus.WriteRequest" else {
            throw AggregatorError.unsupportedMediaType(
                "content type \"\(contentType)\" is not supported; send remote write 1.0 as \(RemoteWriteCodec.contentType)")
        }
        guard headers[.contentEncoding]?.lowercased() == RemoteWriteCodec.contentEncoding else {
            throw AggregatorError.unsupportedMediaType("content encoding must be snappy, got \"\(headers[.contentEncoding] ?? "")\"")
        }
        guard let version = headers[Self.versionField], version.hasPrefix("0.1.") else {
            throw AggregatorError.invalid("\(RemoteWriteCodec.versionHeader) must be 0.1.x, got \"\(headers[Self.versionField] ?? "")\"")
        }
    }

    private func collectBody(_ request: Request) async throws -> [UInt8] {
        var body: [UInt8] = []
        for try await buffer in request.body {
            guard body.count + buffer.readableBytes <= configuration.maxBodyBytes else {
                throw AggregatorError.tooLarge("body is over the limit of \(configuration.maxBodyBytes) bytes")
            }
            body.append(contentsOf: buffer.readableBytesView)
        }
        return body
    }

    /// Checks timestamps; gives each series its id when the node pushed it at this position
    /// before, or else its labels with `node` from the token and the static labels. A gateway's
    /// series are its usage and metrics only (checked once, as they are first named).
    private func identify(_ decoded: [DecodedSeries], sender: Sender, slots: [PushedSeriesCache.Slot]) throws -> [IncomingSeries] {
        let node = sender.name
        let latestAllowed = now() + configuration.maxFutureSkewMs
        return try decoded.indices.map { position in
            let series = decoded[position]
            guard var labels = series.labels else {
                let id = Int64(slots[position].id)
                try checkTimestamps(series.samples, of: samples.labels(ofSeries: id).map { "\($0)" } ?? "series \(id)", latestAllowed: latestAllowed)
                return IncomingSeries(id: id, samples: series.samples)
            }
            if let name = labels.metricName, MetricDescriptor.reservedForTheAggregator.contains(name) {
                throw AggregatorError.reservedName("\(name): the aggregator computes this family itself; a node cannot push it (rename the series)")
            }
            if !sender.mayPush(name: labels.metricName ?? "", source: labels["source"]) {
                throw AggregatorError.forbidden("\(labels): a gateway's credential pushes the gateway's usage and metrics only; "
                                                + "a node's samples take the node's credential (nodes: in the aggregator's config)")
            }
            labels.set("node", to: node)
            for label in staticLabels { labels.set(label.name, to: label.value) }
            try checkTimestamps(series.samples, of: "\(labels)", latestAllowed: latestAllowed)
            return IncomingSeries(TimeSeries(labels: labels, samples: series.samples))
        }
    }

    private func checkTimestamps(_ samples: [Sample], of series: @autoclosure () -> String, latestAllowed: Int64) throws {
        for sample in samples where sample.timestamp <= 0 || sample.timestamp > latestAllowed {
            throw AggregatorError.invalid("\(series()): timestamp \(sample.timestamp) is not between the epoch and \(latestAllowed) (now plus the allowed skew)")
        }
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

    private func reason(for error: AggregatorError) -> AggregatorMetrics.RejectReason {
        switch error {
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
