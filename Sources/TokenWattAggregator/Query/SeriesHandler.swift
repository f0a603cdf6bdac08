import Hummingbird
import TokenWattStore

/// `GET /api/v1/series?match[]=<selector>`: the label sets of the matching series.
struct SeriesHandler: Sendable {
    let store: SampleStore

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        do {
            let texts = request.uri.queryParameters.getAll("match[]").map { String($0) }
            guard !texts.isEmpty else { throw QueryError("no match[] parameter provided") }
            let selectors = try texts.map { text throws(QueryError) in try QueryParameters.selector(text, name: "match[]") }
            return APIResponse.success(store.series(matching: selectors).map { APIResponse.labelsObject($0.labels) })
        } catch let error as QueryError {
            return APIResponse.badData(error.message)
        }
    }
}
