import HTTPTypes
import Hummingbird
import Logging
import TokenWattService
import TokenWattCore
import TokenWattStore

/// `POST /v1/metrics`: OTLP/HTTP metrics export, protobuf or JSON, gzip or not, with the same
/// credentials, limits and durability as remote write. Points become series as Prometheus's
/// OTLP receiver makes them (`OTLPTranslation`); delta sums and histograms are accumulated
/// into counters (`DeltaTotals`). The answer is 200 only once the points are committed,
/// with a partial success naming what was rejected; an error answer is a `google.rpc.Status`.
struct OTLPHandler: Sendable {
    let authenticator: SenderAuthenticator
    let ingest: SeriesIngest
    /// Pushes that carry deltas take turns: each adds its deltas to the newest samples the store
    /// holds (`DeltaTotals`), so it must read what the push before it committed. Those samples
    /// are the only state, as durable as the samples and surviving restarts with them.
    let deltaTurns: RunsInTurn
    let logger: Logger

    func handle(_ request: Request, context: some ClientCertificateContext) async throws -> Response {
        let encoding = OTLPCodec.Encoding(contentType: request.headers[.contentType])
        do {
            let rejections = try await store(request, encoding: encoding, context: context)
            if rejections.count > 0 {
                ingest.metrics.rejectedOTLPPoints(rejections.count)
                logger.debug("OTLP points rejected", metadata: ["points": "\(rejections.count)", "reasons": "\(rejections.message)"])
            }
            return Self.answer(.ok, OTLPCodec.response(rejections, encoding: encoding ?? .protobuf), encoding: encoding)
        } catch let error as AggregatorError {
            ingest.refused(error, logger: logger)
            var answer = Self.answer(error.status, OTLPCodec.status(httpStatus: Int(error.status.code), message: error.message, encoding: encoding ?? .protobuf), encoding: encoding)
            answer.headers.append(contentsOf: error.headers)
            return answer
        }
    }

    /// Stores what can be stored; returns the points rejected and why.
    private func store(_ request: Request, encoding: OTLPCodec.Encoding?, context: some ClientCertificateContext) async throws -> OTLPRejections {
        guard let sender = await authenticator.sender(request, context: context) else { throw AggregatorError.unauthorized }
        guard let encoding else {
            throw AggregatorError.unsupportedMediaType("content type \"\(request.headers[.contentType] ?? "")\" is not OTLP: send application/x-protobuf or application/json")
        }
        try ingest.checkRoom()
        let body = try await ingest.collectBody(request)
        let translation = try translate(body, encoding: encoding, contentEncoding: request.headers[.contentEncoding])
        var series: [TimeSeries] = [], delta: [Bool] = []
        for one in translation.series {
            series.append(try ingest.identify(TimeSeries(labels: one.labels, samples: one.samples), sender: sender))
            delta.append(one.delta)
        }
        guard !series.isEmpty else { return translation.rejections }
        guard delta.contains(true) else {
            _ = try await ingest.write(series.map(IncomingSeries.init), node: sender.name)
            return translation.rejections
        }
        let (late, overflowing) = try await writeAccumulating(series, delta: delta, node: sender.name)
        var rejections = translation.rejections
        rejections.add(late, DeltaTotals.lateReason)
        rejections.add(overflowing, DeltaTotals.overflowReason)
        return rejections
    }

    /// Writes the series, the `delta` ones added to what their series held, in turn with every
    /// other push of deltas; returns how many deltas came too late, or too large, to be added.
    private func writeAccumulating(_ series: [TimeSeries], delta: [Bool], node: String) async throws -> (late: Int, overflowing: Int) {
        let ingest = ingest
        return try await deltaTurns.run {
            var late = 0, overflowing = 0
            var batch: [IncomingSeries] = []
            for (one, isDelta) in zip(series, delta) {
                guard isDelta else {
                    batch.append(IncomingSeries(one))
                    continue
                }
                let accumulated = DeltaTotals.accumulate(one.samples, onto: ingest.samples.latestSample(of: one.labels))
                late += accumulated.late
                overflowing += accumulated.overflowing
                if !accumulated.samples.isEmpty { batch.append(IncomingSeries(TimeSeries(labels: one.labels, samples: accumulated.samples))) }
            }
            if !batch.isEmpty { _ = try await ingest.write(batch, node: node) }
            return (late, overflowing)
        }
    }

    /// The body's points as series, or the refusal of a body that does not decode.
    private func translate(_ body: [UInt8], encoding: OTLPCodec.Encoding, contentEncoding: String?) throws(AggregatorError) -> OTLPTranslation {
        let export: OTLPExport
        do {
            export = try OTLPCodec.decode(body, encoding: encoding, contentEncoding: contentEncoding,
                                          maxDecodedBytes: ingest.configuration.maxDecodedBytes, limits: OTLPLimits(remoteWrite: ingest.configuration.limits))
        } catch {
            throw AggregatorError(decoding: error)
        }
        let reserved = MetricDescriptor.reservedForTheAggregator
        return OTLPTranslation(export, now: ingest.now(), maxFutureSkewMs: ingest.configuration.maxFutureSkewMs, isReserved: { reserved.contains($0) })
    }

    private static func answer(_ status: HTTPResponse.Status, _ body: [UInt8], encoding: OTLPCodec.Encoding?) -> Response {
        Response(status: status, headers: [.contentType: (encoding ?? .protobuf).contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
