import HTTPTypes
import Hummingbird
import Logging
import TokenWattService
import TokenWattCore
import TokenWattStore

/// `POST /api/v1/write`: remote write 1.0 and 2.0, told apart by the content type. A request is
/// stored whole or not at all, and answered 204 only after its samples are committed; a 2.0
/// answer says what was written (`X-Prometheus-Remote-Write-*-Written`).
struct RemoteWriteHandler: Sendable {
    let authenticator: SenderAuthenticator
    let ingest: SeriesIngest
    /// Each node's series by their place in its pushes.
    let pushedSeries: PushedSeriesCache
    let logger: Logger

    func handle(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        do {
            return try await store(request, context: context)
        } catch let error as AggregatorError {
            ingest.refused(error, logger: logger)
            throw error
        }
    }

    /// Stores the request's samples; the answer.
    private func store(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        guard let sender = await authenticator.sender(request, context: context) else {
            throw AggregatorError.unauthorized
        }
        let node = sender.name
        let version = try checkHeaders(request.headers)
        try ingest.checkRoom()
        let body = try await ingest.collectBody(request)
        guard version == .v1 else { return try await storeV2(body, sender: sender) }
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
        return Response(status: .noContent)
    }

    /// Stores a 2.0 request's float samples. A new counter's start timestamp becomes a sample
    /// of 0 at its start, so that its first increase counts (Prometheus's created-timestamp
    /// zero ingestion). Native histogram samples are not stored: a request with any is
    /// answered 400 after its float samples are written, as the specification's partial write.
    private func storeV2(_ body: [UInt8], sender: Sender) async throws -> Response {
        let decoded: RemoteWrite2Request
        do throws(CoreError) {
            decoded = try RemoteWrite2Decoder.decode(Snappy.decompress(body, limit: ingest.configuration.maxDecodedBytes), limits: ingest.configuration.limits)
        } catch {
            throw AggregatorError(decoding: error)
        }
        let batch = try decoded.series.map { series in
            var identified = try ingest.identify(TimeSeries(labels: series.labels, samples: series.samples), sender: sender)
            if series.isCumulative, series.startTimestamp > 0, let first = identified.samples.first, series.startTimestamp < first.timestamp,
               ingest.samples.latestSample(of: identified.labels) == nil {
                // The series' own samples were checked by `identify`: only the start remains.
                let start = Sample(timestamp: series.startTimestamp, value: 0)
                try ingest.checkTimestamps([start], of: "\(identified.labels)")
                identified.samples.insert(start, at: 0)
            }
            return IncomingSeries(identified)
        }
        if !batch.isEmpty { _ = try await ingest.write(batch, node: sender.name) }
        var headers: HTTPFields = [:]
        headers[Self.samplesWritten] = String(decoded.samples)
        headers[Self.histogramsWritten] = "0"
        headers[Self.exemplarsWritten] = "0"
        guard decoded.histograms == 0 else {
            ingest.metrics.rejected(.invalid)
            headers[.contentType] = "text/plain; charset=utf-8"
            let message = "\(decoded.samples) samples written; \(decoded.histograms) native histogram samples not written: this receiver "
                + "stores float samples only (send classic histograms)\n"
            return Response(status: .badRequest, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message)))
        }
        return Response(status: .noContent, headers: headers)
    }

    private static let samplesWritten = HTTPField.Name(RemoteWriteCodec.samplesWrittenHeader)!
    private static let histogramsWritten = HTTPField.Name(RemoteWriteCodec.histogramsWrittenHeader)!
    private static let exemplarsWritten = HTTPField.Name(RemoteWriteCodec.exemplarsWrittenHeader)!

    private static let versionField = HTTPField.Name(RemoteWriteCodec.versionHeader)!

    enum Version { case v1, v2 }

    /// The message the content type names: 1.0's `prometheus.WriteRequest` (the default) or
    /// 2.0's `io.prometheus.write.v2.Request`. A request without the version header is taken as
    /// its content type says, as Prometheus, Mimir and VictoriaMetrics take it.
    private func checkHeaders(_ headers: HTTPFields) throws -> Version {
        let contentType = headers[.contentType] ?? ""
        let version: Version
        switch (MediaType.essence(of: contentType), MediaType.parameter("proto", in: contentType)) {
        case (RemoteWriteCodec.contentType, nil), (RemoteWriteCodec.contentType, "prometheus.WriteRequest"): version = .v1
        case (RemoteWriteCodec.contentType, RemoteWriteCodec.protoV2): version = .v2
        default:
            throw AggregatorError.unsupportedMediaType("content type \"\(contentType)\" is not supported; send remote write 1.0 as "
                                                       + "\(RemoteWriteCodec.contentType) or 2.0 as \(RemoteWriteCodec.contentTypeV2)")
        }
        guard headers[.contentEncoding]?.lowercased() == RemoteWriteCodec.contentEncoding else {
            throw AggregatorError.unsupportedMediaType("content encoding must be snappy, got \"\(headers[.contentEncoding] ?? "")\"")
        }
        let expected = version == .v1 ? "0.1." : "2.0."
        if let given = headers[Self.versionField], !given.hasPrefix(expected) {
            throw AggregatorError.invalid("\(RemoteWriteCodec.versionHeader) must be \(expected)x for the message \(contentType) names, got \"\(given)\"")
        }
        return version
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
