import Hummingbird
import TokenWattStore

/// `GET /api/v1/series?match[]=<selector>` (or POST with a form body): the label sets of the
/// matching series.
struct SeriesHandler: Sendable {
    let samples: any SampleReading

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        var texts = QueryString(request.uri.query).all("match[]")
        if request.method == .post {
            let body = try await request.body.collect(upTo: 1 << 20)
            texts += QueryString(String(buffer: body)).all("match[]")
        }
        do {
            guard !texts.isEmpty else { throw QueryError("no match[] parameter provided") }
            let selectors = try texts.map { text throws(QueryError) in try QueryParameters.selector(text, name: "match[]") }
            return APIResponse.answer(samples.series(matching: selectors).map { APIResponse.labelsObject($0.labels) })
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        }
    }
}
