import Testing
@testable import TokenWattCore

/// Which family each series of a page belongs to: the catalog's rule, unless another series
/// would clash with the family it makes.
@Suite struct FamilyLayoutTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var names: [String]
        /// Families as `name type member,member`.
        var families: [String]
        var testDescription: String { names.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(names: ["a_total"], families: ["a counter a_total"]),
        Case(names: ["a_total", "a"], families: ["a untyped a", "a_total untyped a_total"]),
        Case(names: ["a_total", "a_created"], families: ["a_created untyped a_created", "a_total untyped a_total"]),
        Case(names: ["a_total", "a_total_total"], families: ["a counter a_total", "a_total_total untyped a_total_total"]),
        Case(names: ["a_total", "a_bytes", "b"], families: ["a counter a_total", "a_bytes untyped a_bytes", "b untyped b"]),
        Case(names: ["tokenwatt_gpu_power_watts", "tokenwatt_cpu_seconds_total"],
             families: ["tokenwatt_cpu_seconds counter tokenwatt_cpu_seconds_total", "tokenwatt_gpu_power_watts gauge tokenwatt_gpu_power_watts"]),
        Case(names: ["tokenwatt_gateway_upstream_duration_seconds_count", "tokenwatt_gateway_upstream_duration_seconds_bucket",
                     "tokenwatt_gateway_upstream_duration_seconds_sum"],
             families: ["tokenwatt_gateway_upstream_duration_seconds histogram tokenwatt_gateway_upstream_duration_seconds_bucket,"
                        + "tokenwatt_gateway_upstream_duration_seconds_count,tokenwatt_gateway_upstream_duration_seconds_sum"]),
        // A histogram whose name a pushed series holds falls apart into untyped series, named as sent.
        Case(names: ["tokenwatt_gateway_upstream_duration_seconds_bucket", "tokenwatt_gateway_upstream_duration_seconds"],
             families: ["tokenwatt_gateway_upstream_duration_seconds untyped tokenwatt_gateway_upstream_duration_seconds",
                        "tokenwatt_gateway_upstream_duration_seconds_bucket untyped tokenwatt_gateway_upstream_duration_seconds_bucket"]),
    ]

    @Test(arguments: cases)
    func eachSeriesHasOneFamilyAndNoFamilyClashes(_ example: Case) {
        let families = FamilyLayout(seriesNames: example.names).families
        #expect(families.map { "\($0.name) \($0.type.rawValue) \($0.seriesNames.joined(separator: ","))" } == example.families)
        #expect(Set(families.map(\.name)).count == families.count)
        #expect(families.flatMap(\.seriesNames).sorted() == example.names.sorted())
    }

    /// Both daemons' rule: the aggregator's page orders its live series by it, and the agent's
    /// (`MetricCatalog.families`) its samples, whatever order a collector gave them in.
    @Test func histogramSeriesGoByLabelSetThenBoundThenCountAndSum() {
        let h = MetricDescriptor.gatewayUpstreamDurationSeconds.name
        let written: [(String, [String: String])] = [
            (h + "_bucket", ["le": "+Inf", "node": "a"]), (h + "_bucket", ["le": "0.5", "node": "a"]), (h + "_bucket", ["le": "10", "node": "a"]),
            (h + "_bucket", ["le": "2", "node": "a"]), (h + "_bucket", ["le": "+Inf", "node": "b"]), (h + "_bucket", ["le": "1e-3", "node": "b"]),
            (h + "_count", ["node": "a"]), (h + "_count", ["node": "b"]), (h + "_sum", ["node": "a"]), (h + "_sum", ["node": #"b",le="1"#]),
        ]
        let expected = [
            h + #"_bucket{le="0.5",node="a"}"#, h + #"_bucket{le="2",node="a"}"#, h + #"_bucket{le="10",node="a"}"#, h + #"_bucket{le="+Inf",node="a"}"#,
            h + #"_count{node="a"}"#, h + #"_sum{node="a"}"#,
            h + #"_bucket{le="1e-3",node="b"}"#, h + #"_bucket{le="+Inf",node="b"}"#, h + #"_count{node="b"}"#,
            h + #"_sum{node="b\",le=\"1"}"#,
        ]
        let samples = written.map { name, labels in
            ExpositionSample(name: name, labels: labels.map { Label($0.key, $0.value) }.sorted { $0.name < $1.name }, value: 0)
        }
        func text(_ sample: ExpositionSample) -> String {
            sample.name + "{" + sample.labels.map { "\($0.name)=\"\($0.value.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ",") + "}"
        }
        let ordered = samples.shuffled().sorted {
            FamilyLayout.histogramOrder(name: $0.name, labels: $0.labels) < FamilyLayout.histogramOrder(name: $1.name, labels: $1.labels)
        }
        #expect(ordered.map(text) == expected)
        let families = MetricCatalog.families(of: samples.shuffled())
        #expect(families.count == 1)
        #expect(families.first?.samples.map(text) == expected)
    }
}
