import Hummingbird
import TokenWattAPI
import TokenWattCore
import TokenWattStore

/// `GET /api/v1/query_range?query=<selector>&start=&end=&step=`: the matching series evaluated
/// at each step, as a Prometheus matrix. The value at time t is the newest sample at or before t
/// within the lookback (5 minutes, or one rollup bucket when that is longer); a stale marker
/// ends a series. Raw samples answer steps under a minute; steps from a minute use the 1-minute
/// rollups and from an hour the 1-hour rollups, as do ranges older than what finer data keeps.
struct QueryRangeHandler: Sendable {
    static let maxPoints: Int64 = 11_000
    /// Points of all series in one answer at most: past it, a clear 400 instead of an answer
    /// of gigabytes.
    static let maxTotalPoints: Int64 = 500_000
    static let lookbackMs: Int64 = 5 * 60_000

    let samples: any SampleReading
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let selector = try QueryParameters.selector(parameters["query"], name: "query")
            let start = try QueryParameters.time(parameters["start"], name: "start")
            let end = try QueryParameters.time(parameters["end"], name: "end")
            let step = try QueryParameters.duration(parameters["step"])
            guard end >= start else { throw QueryError("end timestamp must not be before start time") }
            guard (end - start) / step < QueryRangeHandler.maxPoints else {
                throw QueryError("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
            }
            let resolution = resolution(start: start, step: step)
            let matching = samples.series(matching: [selector])
            let answerPoints = Int64(matching.count) * ((end - start) / step + 1)
            guard answerPoints <= QueryRangeHandler.maxTotalPoints else {
                throw QueryError("the query would return \(answerPoints) points (\(matching.count) series), over the limit of \(QueryRangeHandler.maxTotalPoints): narrow the selector, shorten the range or raise step")
            }
            var result: [MatrixResponse.Series] = []
            for series in matching {
                let points = try await points(seriesID: series.id, resolution: resolution, start: start, end: end)
                let values = QueryRangeHandler.evaluate(points, start: start, end: end, step: step,
                                                        lookback: max(QueryRangeHandler.lookbackMs, resolution?.milliseconds ?? 0))
                guard !values.isEmpty else { continue }
                result.append(MatrixResponse.Series(metric: APIResponse.labelsObject(series.labels),
                                                    values: values.map { .init(time: Double($0.timestamp) / 1000, value: APIResponse.valueString($0.value)) }))
            }
            return APIResponse.answer(MatrixResponse(result: result))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }

    /// nil for raw samples, else the rollup resolution to read.
    private func resolution(start: Int64, step: Int64) -> RollupResolution? {
        let age = now() - start
        let storage = samples.configuration
        if step >= RollupResolution.hour.milliseconds || age > storage.minuteRollupRetentionMs { return .hour }
        if step >= RollupResolution.minute.milliseconds || age > storage.rawRetentionMs { return .minute }
        return nil
    }

    /// Points to evaluate: raw samples, or each rollup bucket's last value at the bucket's end.
    private func points(seriesID: Int64, resolution: RollupResolution?, start: Int64, end: Int64) async throws -> [Sample] {
        guard let resolution else {
            return try await samples.rawSamples(seriesID: seriesID, from: start - QueryRangeHandler.lookbackMs, to: end + 1)
        }
        let width = resolution.milliseconds
        let buckets = try await samples.rollups(resolution, seriesID: seriesID, from: start - QueryRangeHandler.lookbackMs - width, to: end + 1)
        return buckets.compactMap { bucket in bucket.last.map { Sample(timestamp: bucket.bucket + width, value: $0) } }
    }

    /// The newest point at or before each step within the lookback; points in time order.
    static func evaluate(_ points: [Sample], start: Int64, end: Int64, step: Int64, lookback: Int64) -> [Sample] {
        var values: [Sample] = []
        var next = 0
        var current: Sample?
        var t = start
        while t <= end {
            while next < points.count && points[next].timestamp <= t {
                current = points[next]
                next += 1
            }
            if let current, current.timestamp > t - lookback, !current.isStaleMarker {
                values.append(Sample(timestamp: t, value: current.value))
            }
            t += step
        }
        return values
    }
}
