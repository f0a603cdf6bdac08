import TokenWattCore

/// Token usage in an OTLP export, as the GenAI semantic conventions and the instrumentations
/// that predate them write it: `gen_ai.client.token.usage` (a histogram per call: its sum the
/// tokens of a `gen_ai.token.type`, its count the calls), the newer counters
/// `gen_ai.client.inference.usage.*`, and OpenLIT's `gen_ai.usage.*_tokens` and
/// `gen_ai.total.requests`. Everything else in the export is left for the series relay.
package enum GenAIUsage {
    static let tokenUsage = "gen_ai.client.token.usage"
    static let operationDuration = "gen_ai.client.operation.duration"
    static let totalRequests = "gen_ai.total.requests"

    /// Counters of one token type each.
    static let tokenCounters: [String: TokenType] = [
        "gen_ai.client.inference.usage.input_tokens": .input,
        "gen_ai.client.inference.usage.output_tokens": .output,
        "gen_ai.client.inference.usage.cache_read.input_tokens": .cachedInput,
        "gen_ai.client.inference.usage.reasoning.output_tokens": .reasoning,
        "gen_ai.usage.input_tokens": .input,
        "gen_ai.usage.output_tokens": .output,
        "gen_ai.usage.cache_read_input_tokens": .cachedInput,
        "gen_ai.usage.reasoning_tokens": .reasoning,
    ]

    /// `gen_ai.token.type` values, current and older spellings.
    static let tokenTypes: [String: TokenType] = [
        "input": .input, "output": .output, "prompt": .input, "completion": .output,
        "cached_input": .cachedInput, "cache_read": .cachedInput, "reasoning": .reasoning,
    ]

    /// Metrics read and not relayed: usage the conventions define but TokenWatt does not price
    /// apart (cache writes), and totals that would count input and output twice.
    static let ignored: Set<String> = ["gen_ai.client.inference.usage.cache_write.input_tokens", "gen_ai.usage.total_tokens"]

    /// Attributes naming the model and the provider, preferred first.
    static let modelKeys = ["gen_ai.response.model", "gen_ai.request.model"]
    static let providerKeys = ["gen_ai.provider.name", "gen_ai.system"]
    static let tokenTypeKey = "gen_ai.token.type"

    /// Every metric name the reader takes, for the README and `check-config`.
    package static var readNames: [String] {
        ([tokenUsage, operationDuration, totalRequests] + tokenCounters.keys + ignored).sorted()
    }

    /// What one usage attribute (`agent`, `team`) is read from: OTLP attribute keys, tried in
    /// order on the point, then on its resource (`AgentConfiguration.otlpAttributeSources`).
    package typealias AttributeSources = [String: [String]]

    /// What a reading counts.
    package enum Measure: Hashable, Sendable {
        case tokens(TokenType)
        case requests
    }

    /// One number of one stream: cumulative since `start`, or a delta.
    package struct Reading: Sendable, Equatable {
        /// The stream's identity: metric, its resource's and its point's attributes, and what it counts.
        package var stream: String
        package var start: UInt64
        package var cumulative: Bool
        package var value: Double
        package var measure: Measure
        package var model: String
        package var provider: String
        package var attributes: [String: String]
    }

    package struct Result: Sendable {
        package var readings: [Reading] = []
        /// The export without the usage metrics: for the relay.
        package var rest = OTLPExport()
        package var rejections = OTLPRejections()
    }

    package static func read(_ export: OTLPExport, sources: AttributeSources) -> Result {
        var result = Result()
        let names = Set(export.resources.flatMap { $0.scopes.flatMap { $0.metrics.map(\.name) } })
        let requestsFrom = names.contains(tokenUsage) ? tokenUsage : names.contains(operationDuration) ? operationDuration : totalRequests
        for resource in export.resources {
            var restScopes: [OTLPExport.Scope] = []
            let resourceKey = resource.attributes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            for scope in resource.scopes {
                var restMetrics: [OTLPExport.Metric] = []
                for metric in scope.metrics {
                    // The duration histogram is relayed as series too: the calls' latency.
                    if metric.name == operationDuration || !isUsage(metric.name) { restMetrics.append(metric) }
                    guard isUsage(metric.name), !ignored.contains(metric.name) else { continue }
                    read(metric, resource: resource, resourceKey: resourceKey, sources: sources, requests: metric.name == requestsFrom, into: &result)
                }
                if !restMetrics.isEmpty { restScopes.append(OTLPExport.Scope(name: scope.name, version: scope.version, metrics: restMetrics)) }
            }
            if !restScopes.isEmpty { result.rest.resources.append(OTLPExport.Resource(attributes: resource.attributes, scopes: restScopes)) }
        }
        return result
    }

    static func isUsage(_ name: String) -> Bool {
        name == tokenUsage || name == operationDuration || name == totalRequests || tokenCounters[name] != nil || ignored.contains(name)
    }

    private static func read(_ metric: OTLPExport.Metric, resource: OTLPExport.Resource, resourceKey: String, sources: AttributeSources,
                             requests: Bool, into result: inout Result) {
        func reject(_ points: Int, _ reason: String) {
            result.rejections.add(points, reason)
        }
        func add(_ point: OTLPExport.Point, value: Double, measure: Measure, cumulative: Bool, part: String) {
            guard value.isFinite, value >= 0 else { return reject(1, "\(metric.name): \(value) is not a count of tokens or requests") }
            let model = (modelKeys.lazy.compactMap { point[$0] }.first { !$0.isEmpty }) ?? "unknown"
            let provider = (providerKeys.lazy.compactMap { point[$0] }.first { !$0.isEmpty }) ?? "unknown"
            var attributes: [String: String] = [:]
            for (name, keys) in sources {
                if let value = keys.lazy.compactMap({ point[$0] ?? resource[$0] }).first(where: { !$0.isEmpty }) { attributes[name] = value }
            }
            let pointKey = point.attributes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            result.readings.append(Reading(stream: "\(metric.name)|\(part)|\(resourceKey)|\(pointKey)", start: point.startNanos, cumulative: cumulative,
                                           value: value, measure: measure, model: model, provider: provider, attributes: attributes))
        }
        switch metric.data {
        case .histogram(let points, let temporality) where metric.name == tokenUsage || metric.name == operationDuration:
            guard temporality != .unspecified else { return reject(points.count, "\(metric.name) has no aggregation temporality") }
            for point in points where !point.point.hasNoRecordedValue {
                if metric.name == tokenUsage {
                    guard let type = point.point[tokenTypeKey].flatMap({ tokenTypes[$0] }) else {
                        reject(1, "\(metric.name): \(tokenTypeKey) \"\(point.point[tokenTypeKey] ?? "")\" is not a token type TokenWatt reads")
                        continue
                    }
                    add(point.point, value: point.sum ?? .nan, measure: .tokens(type), cumulative: temporality == .cumulative, part: "sum")
                    // Each call is one point per token type: its input point counts the calls.
                    if requests && type == .input {
                        add(point.point, value: Double(point.count), measure: .requests, cumulative: temporality == .cumulative, part: "count")
                    }
                } else if requests {
                    add(point.point, value: Double(point.count), measure: .requests, cumulative: temporality == .cumulative, part: "count")
                }
            }
        case .sum(let points, let temporality, monotonic: true) where metric.name != tokenUsage && metric.name != operationDuration:
            guard temporality != .unspecified else { return reject(points.count, "\(metric.name) has no aggregation temporality") }
            let measure: Measure? = metric.name == totalRequests ? (requests ? .requests : nil) : tokenCounters[metric.name].map { .tokens($0) }
            guard let measure else { return }
            for point in points where !point.point.hasNoRecordedValue {
                add(point.point, value: point.value, measure: measure, cumulative: temporality == .cumulative, part: "value")
            }
        case .none:
            break
        default:
            if metric.name != operationDuration { reject(metric.data.points, "\(metric.name) is not of the kind the GenAI conventions define") }
        }
    }
}

/// The OTLP intake's reading of an export, for the fuzzer in fuzz/ only.
@_spi(Fuzzing) public enum GenAIUsageReading {
    /// The usage readings an export holds, and the points rejected.
    public static func readings(in export: OTLPExport) -> (readings: Int, rejected: Int) {
        let result = GenAIUsage.read(export, sources: ["agent": ["agent", "service.name"], "team": ["team"]])
        return (result.readings.count, result.rejections.count)
    }
}
