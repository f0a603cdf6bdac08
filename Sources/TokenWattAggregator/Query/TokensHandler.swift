import Hummingbird
import TokenWattAPI
import TokenWattCore
import TokenWattStore

/// `GET /api/v1/tokens?from=&to=&by=model,node,team&match=<selector>`: tokens and requests
/// counted over `(from, to]`, grouped by the labels in `by` (default `model`), each group with
/// its tokens by type (`input`, `output`, `cached_input`, `reasoning`), `total` (input +
/// output: cached and reasoning tokens are parts of those) and `requests`. Counters are read
/// as increases, resets handled (`SampleReading.counterIncrease`). `from` defaults to an hour
/// before `to`, `to` to now; both take Unix seconds or RFC 3339. `match` narrows the series.
struct TokensHandler: Sendable {
    let samples: any SampleReading
    let now: @Sendable () -> Int64

    private struct Group {
        var labels: [String: String]
        var tokens: [String: Double] = [:]
        var requests = 0.0
    }

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = QueryString(request.uri.query)
        do {
            let (from, to) = try QueryParameters.window(parameters, now: now(), span: Milliseconds.hour)
            // Every group is broken down by type, so by cannot name it.
            let by = try QueryParameters.labelNames(parameters["by"], fallback: ["model"], excluding: ["type"])
            let filter = try parameters["match"].map { text throws(QueryError) in try QueryParameters.selector(text, name: "match") }
            var groups: [[String]: Group] = [:]
            let selectors = try [MetricDescriptor.tokens.seriesName, MetricDescriptor.requests.seriesName].map { name throws(QueryError) in
                try QueryParameters.selector(name, name: "metric")
            }
            for series in samples.series(matching: selectors) where filter?.matches(series.labels) ?? true {
                let increase = try await samples.counterIncrease(seriesID: series.id, from: from, to: to, now: now()).increase
                let key = by.map { series.labels[$0] ?? "" }
                var group = groups[key] ?? Group(labels: Dictionary(uniqueKeysWithValues: zip(by, key).filter { !$0.1.isEmpty }))
                if series.labels.metricName == MetricDescriptor.tokens.seriesName {
                    group.tokens[series.labels["type"] ?? "unknown", default: 0] += increase
                } else {
                    group.requests += increase
                }
                groups[key] = group
            }
            let rows = groups.values.map { TokensResponse.Group(labels: $0.labels, tokens: $0.tokens, requests: $0.requests) }.sorted { $0.total > $1.total }
            return APIResponse.answer(TokensResponse(from: Double(from) / 1000, to: Double(to) / 1000, by: by, groups: rows))
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        } catch {
            return APIResponse.internalError("\(error)")
        }
    }
}
