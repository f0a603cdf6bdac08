import SwiftProtobuf
import TokenWattCore

/// OTLP export requests for tests, built with the generated messages (as an SDK's exporter
/// builds them), so that what the receivers decode is what any OTLP sender would send.
public enum OTLPRequests {
    public static func request(_ resources: OTLP_ResourceMetrics...) -> OTLP_ExportMetricsServiceRequest {
        var request = OTLP_ExportMetricsServiceRequest()
        request.resourceMetrics = resources
        return request
    }

    public static func resource(_ attributes: [String: String], scope: String = "test-scope", metrics: [OTLP_Metric]) -> OTLP_ResourceMetrics {
        var resource = OTLP_ResourceMetrics()
        resource.resource.attributes = keyValues(attributes)
        var scopeMetrics = OTLP_ScopeMetrics()
        scopeMetrics.scope.name = scope
        scopeMetrics.metrics = metrics
        resource.scopeMetrics = [scopeMetrics]
        return resource
    }

    public static func keyValues(_ attributes: [String: String]) -> [OTLP_KeyValue] {
        attributes.sorted { $0.key < $1.key }.map { key, value in
            var pair = OTLP_KeyValue()
            pair.key = key
            pair.value.stringValue = value
            return pair
        }
    }

    public static func point(_ value: Double, at milliseconds: Int64, _ attributes: [String: String] = [:], start: Int64 = 0) -> OTLP_NumberDataPoint {
        var point = OTLP_NumberDataPoint()
        point.attributes = keyValues(attributes)
        point.timeUnixNano = UInt64(milliseconds) * 1_000_000
        point.startTimeUnixNano = UInt64(start) * 1_000_000
        point.asDouble = value
        return point
    }

    public static func gauge(_ name: String, unit: String = "", _ points: OTLP_NumberDataPoint...) -> OTLP_Metric {
        var metric = OTLP_Metric()
        metric.name = name
        metric.unit = unit
        metric.gauge.dataPoints = points
        return metric
    }

    public static func sum(_ name: String, unit: String = "", monotonic: Bool = true, delta: Bool = false, _ points: OTLP_NumberDataPoint...) -> OTLP_Metric {
        var metric = OTLP_Metric()
        metric.name = name
        metric.unit = unit
        metric.sum.dataPoints = points
        metric.sum.isMonotonic = monotonic
        metric.sum.aggregationTemporality = delta ? .delta : .cumulative
        return metric
    }

    public static func histogramPoint(at milliseconds: Int64, bounds: [Double], counts: [UInt64], sum: Double?,
                                      _ attributes: [String: String] = [:]) -> OTLP_HistogramDataPoint {
        var point = OTLP_HistogramDataPoint()
        point.attributes = keyValues(attributes)
        point.timeUnixNano = UInt64(milliseconds) * 1_000_000
        point.explicitBounds = bounds
        point.bucketCounts = counts
        point.count = counts.reduce(0, +)
        if let sum { point.sum = sum }
        return point
    }

    public static func histogram(_ name: String, unit: String = "", delta: Bool = false, _ points: OTLP_HistogramDataPoint...) -> OTLP_Metric {
        var metric = OTLP_Metric()
        metric.name = name
        metric.unit = unit
        metric.histogram.dataPoints = points
        metric.histogram.aggregationTemporality = delta ? .delta : .cumulative
        return metric
    }

    public static func protobuf(_ request: OTLP_ExportMetricsServiceRequest) -> [UInt8] {
        try! request.serializedBytes()
    }

    public static func json(_ request: OTLP_ExportMetricsServiceRequest) -> [UInt8] {
        try! request.jsonUTF8Bytes()
    }
}

/// A small deterministic generator (SplitMix64): the same "random" inputs in every run.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
