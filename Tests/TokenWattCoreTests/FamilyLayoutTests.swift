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

    @Test func histogramSeriesGoByLabelSetThenBoundThenCountAndSum() {
        let written: [(String, String)] = [
            ("h_bucket", #"{le="+Inf",node="a"}"#), ("h_bucket", #"{le="0.5",node="a"}"#), ("h_bucket", #"{le="10",node="a"}"#),
            ("h_bucket", #"{le="2",node="a"}"#), ("h_bucket", #"{le="+Inf",node="b"}"#), ("h_bucket", #"{le="1e-3",node="b"}"#),
            ("h_count", #"{node="a"}"#), ("h_count", #"{node="b"}"#), ("h_sum", #"{node="a"}"#), ("h_sum", #"{node="b\",le=\"1"}"#),
        ]
        let ordered = written.sorted { FamilyLayout.histogramOrder(name: $0.0, labels: Array($0.1.utf8)) < FamilyLayout.histogramOrder(name: $1.0, labels: Array($1.1.utf8)) }
        #expect(ordered.map { "\($0.0)\($0.1)" } == [
            #"h_bucket{le="0.5",node="a"}"#, #"h_bucket{le="2",node="a"}"#, #"h_bucket{le="10",node="a"}"#, #"h_bucket{le="+Inf",node="a"}"#,
            #"h_count{node="a"}"#, #"h_sum{node="a"}"#,
            #"h_bucket{le="1e-3",node="b"}"#, #"h_bucket{le="+Inf",node="b"}"#, #"h_count{node="b"}"#,
            #"h_sum{node="b\",le=\"1"}"#,
        ])
    }
}
