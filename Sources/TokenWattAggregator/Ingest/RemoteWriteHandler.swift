import HTTPTypes
import Hummingbird
import Logging
import TokenWattService
import TokenWattCore
import TokenWattStore

/// `POST /api/v1/write`: remote write 1.0. A request is stored whole or not at all, and answered
/// 204 only after its samples are committed.
struct RemoteWriteHandler: Sendable {
    let authenticator: SenderAuthenticator
    let ingest: SeriesIngest
    /// Each node's series by their place in its pushes.
    let pushedSeries: PushedSeriesCache
    let logger: Logger

    func handle(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        do {
            try await store(request, context: context)
            return Response(status: .noContent)
        } catch let error as AggregatorError {
            ingest.refused(error, logger: logger)
            throw error
        }
    }

    /// Stores the request's samples.
    private func store(_ request: Request, context: some ClientCertificateContext) async throws {
        guard let sender = await authenticator.sender(request, context: context) else {
            throw AggregatorError.unauthorized
        }
        let node = sender.name
        try checkHeaders(request.headers)
        try ingest.checkRoom()
        let body = try await ingest.collectBody(request)
        let slots = pushedSeries.slots(of: node)
        let decoded: [DecodedSeries]
        do throws(CoreError) {
            decoded = try RemoteWriteCodec.decode(body, maxUncompressedBytes: ingest.configuration.maxDecodedBytes, limits: ingest.configuration.limits) { position, key in
                position < slots.count && slots[position].key == key && slots[position].id != 0
            }
        } catch {
            throw AggregatorError(decoding: error)
        }
        let batch = try identify(decoded, sender: sender, slots: slots)
        let (_, prepared) = try await ingest.write(batch, node: node)
        // Series found by their labels take their positions: the node's next push skips them.
        pushedSeries.remember(node: node, batch.indices.compactMap { position in
            guard batch[position].identity.labels != nil, let id = prepared.ids[position],
                  let slot = PushedSeriesCache.Slot(key: decoded[position].key, id: id) else { return nil }
            return (position, slot)
        })
    }

    private static let versionField = HTTPField.Name(RemoteWriteCodec.versionHeader)!

    /// Remote write 1.0's headers. A request without the version header is 1.0, as Prometheus,
    /// Mimir and VictoriaMetrics take it (some senders leave it out).
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
        if let version = headers[Self.versionField], !version.hasPrefix("0.1.") {
            throw AggregatorError.invalid("\(RemoteWriteCodec.versionHeader) must be 0.1.x for remote write 1.0, got \"\(version)\"")
        }
    }

    /// Gives each series its id when the node pushed it at this position before, or else its
    /// labels as `SeriesIngest.identify` makes them.
    private func identify(_ decoded: [DecodedSeries], sender: Sender, slots: [PushedSeriesCache.Slot]) throws -> [IncomingSeries] {
        try decoded.indices.map { position in
            let series = decoded[position]
            guard let labels = series.labels else {
                let id = Int64(slots[position].id)
                try ingest.checkTimestamps(series.samples, of: ingest.samples.labels(ofSeries: id).map { "\($0)" } ?? "series \(id)")
                return IncomingSeries(id: id, samples: series.samples)
            }
            return IncomingSeries(try ingest.identify(TimeSeries(labels: labels, samples: series.samples), sender: sender))
        }
    }
}
