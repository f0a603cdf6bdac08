import Foundation
import Testing
@testable import TokenWattCore

@Suite struct ExpositionWriterTests {
    let families = [
        MetricFamily(name: "tokenwatt_tokens", type: .counter, help: "Tokens\\processed\nby model.", samples: [
            ExpositionSample(name: "tokenwatt_tokens_total", labels: [Label("model", "a\"b\\c\nd")], value: 1500),
            ExpositionSample(name: "tokenwatt_tokens_created", labels: [Label("model", "a\"b\\c\nd")], value: 1_700_000_000),
        ]),
        MetricFamily(name: "tokenwatt_gpu_power_watts", type: .gauge, unit: "watts", samples: [
            ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "0")], value: .nan),
            ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "1")], value: .infinity, timestamp: 1_700_000_000_123),
            ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "2")], value: -.infinity),
            ExpositionSample(name: "tokenwatt_gpu_power_watts", labels: [Label("gpu", "3")], value: 0.25),
        ]),
    ]

    @Test func writesPrometheusText004WithTotalNamesAndNoCreated() {
        let text = String(decoding: ExpositionWriter(format: .prometheusText).render(families), as: UTF8.self)
        #expect(text == """
            # HELP tokenwatt_tokens_total Tokens\\\\processed\\nby model.
            # TYPE tokenwatt_tokens_total counter
            tokenwatt_tokens_total{model="a\\"b\\\\c\\nd"} 1500
            # TYPE tokenwatt_gpu_power_watts gauge
            tokenwatt_gpu_power_watts{gpu="0"} NaN
            tokenwatt_gpu_power_watts{gpu="1"} +Inf 1700000000123
            tokenwatt_gpu_power_watts{gpu="2"} -Inf
            tokenwatt_gpu_power_watts{gpu="3"} 0.25

            """)
    }

    @Test func writesOpenMetricsWithUnitSecondsTimestampsAndEOF() {
        let text = String(decoding: ExpositionWriter(format: .openMetrics).render(families), as: UTF8.self)
        #expect(text == """
            # TYPE tokenwatt_tokens counter
            # HELP tokenwatt_tokens Tokens\\\\processed\\nby model.
            tokenwatt_tokens_total{model="a\\"b\\\\c\\nd"} 1500
            tokenwatt_tokens_created{model="a\\"b\\\\c\\nd"} 1700000000
            # TYPE tokenwatt_gpu_power_watts gauge
            # UNIT tokenwatt_gpu_power_watts watts
            tokenwatt_gpu_power_watts{gpu="0"} NaN
            tokenwatt_gpu_power_watts{gpu="1"} +Inf 1700000000.123
            tokenwatt_gpu_power_watts{gpu="2"} -Inf
            tokenwatt_gpu_power_watts{gpu="3"} 0.25
            # EOF

            """)
    }

    @Test(arguments: [
        (nil, ExpositionFormat.prometheusText),
        ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .prometheusText),
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .openMetrics),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", .openMetrics),
        ("application/openmetrics-text;version=2.0.0", .prometheusText),
        ("application/json", .prometheusText),
    ] as [(String?, ExpositionFormat)])
    func negotiatesFormatFromAccept(accept: String?, expected: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(accept: accept) == expected)
    }

    @Test func contentTypesAreExact() {
        #expect(ExpositionFormat.prometheusText.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(ExpositionFormat.openMetrics.contentType == "application/openmetrics-text; version=1.0.0; charset=utf-8")
    }

    @Test(arguments: [(0.0, Int64(0)), (-0.0, 1), (42, -1), (-7, 1_800_000_000_123), (0.5, .max), (999_999_999_999_999, .min),
                      (1e15, 5), (.nan, 5), (-.infinity, 5), (.infinity, 5), (-123_456.25, 5)])
    func sampleLinesWriteDigitsAsFormatValueAndStringDo(value: Double, timestamp: Int64) {
        var line: [UInt8] = []
        ExpositionWriter(format: .prometheusText).writeSeriesLine(ExpositionWriter.seriesText(name: "x", labels: [Label("a", "q\"")]),
                                                                  value: value, timestamp: timestamp, into: &line)
        #expect(String(decoding: line, as: UTF8.self) == "x{a=\"q\\\"\"} \(ExpositionWriter.formatValue(value)) \(timestamp)\n")
    }

    @Test(arguments: [(1.0, "1"), (-3.0, "-3"), (0.1, "0.1"), (1e20, "1e+20"), (1.5e-7, "1.5e-07")])
    func formatsValuesAsGoReadsThem(value: Double, text: String) {
        #expect(ExpositionWriter.formatValue(value) == text)
        #expect(ExpositionParser.parseValue(text) == value)
    }

    /// Found by fuzzing: a 0.0.4 counter whose samples have no `_total` (Triton's) was typed
    /// under `name_total`, so a second parse saw an untyped family and wrote another TYPE line.
    @Test func aCounterWithoutTotalKeepsItsNameAndSurvivesARoundTrip() throws {
        let text = "# TYPE nv_inference_request_success counter\nnv_inference_request_success{model=\"m\"} 75\n"
        let writer = ExpositionWriter(format: .prometheusText)
        let written = writer.render(try ExpositionParser(format: .prometheusText).parse(text))
        #expect(String(decoding: written, as: UTF8.self) == text)
        #expect(writer.render(try ExpositionParser(format: .prometheusText).parse(bytes: written)) == written)
    }

    /// Found by fuzzing: the round trip of a page with `_created` series drops them (0.0.4 has
    /// none), and what is written then survives a second round trip unchanged.
    @Test func whatTheWriterWritesSurvivesAnotherRoundTrip() throws {
        let text = "# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{model_name=\"m\"} 5000.0\nvllm:prompt_tokens_created{model_name=\"m\"} 1.7644e+09\n"
        let writer = ExpositionWriter(format: .prometheusText)
        let written = writer.render(try ExpositionParser(format: .prometheusText).parse(text))
        #expect(!String(decoding: written, as: UTF8.self).contains("_created"))
        #expect(writer.render(try ExpositionParser(format: .prometheusText).parse(bytes: written)) == written)
    }

    /// Found by fuzzing: a backslash followed by a combining mark is one Character, so HELP
    /// text read Character by Character lost the escape the writer had written.
    @Test func helpWithABackslashBeforeACombiningMarkSurvivesARoundTrip() throws {
        let help = "a \\\u{07A6} b \\ c\n d"
        let families = [MetricFamily(name: "m", type: .gauge, help: help, samples: [ExpositionSample(name: "m", value: 1)])]
        for format in [ExpositionFormat.prometheusText, .openMetrics] {
            let written = ExpositionWriter(format: format).render(families)
            #expect(try ExpositionParser(format: format).parse(bytes: written).first?.help == help)
        }
    }

    /// Found by fuzzing: a counter `x` without samples beside an untyped family `x_total` were
    /// both typed as `x_total`, and a counter `x_total` beside a family `x` became a second `x`:
    /// pages no parser takes.
    @Test func aCounterWithoutSamplesKeepsItsNameBesideAFamilyWithTheSuffix() throws {
        let writer = ExpositionWriter(format: .prometheusText)
        for text in ["# TYPE x counter\n# TYPE y gauge\ny 1\n# TYPE x_total untyped\n", "# TYPE x untyped\n# TYPE x_total counter\nx_total 3\n"] {
            let written = writer.render(try ExpositionParser(format: .prometheusText).parse(text))
            #expect(String(decoding: written, as: UTF8.self) == text)
            #expect(writer.render(try ExpositionParser(format: .prometheusText).parse(bytes: written)) == written)
        }
    }

    /// The inputs libFuzzer found crashing the exposition harness (`fuzz/`): each parses, and
    /// what the writer makes of it parses again to the same text.
    @Test(arguments: ["exposition-created-dropped", "exposition-counter-without-total", "exposition-help-combining-mark",
                      "exposition-counter-beside-total-family", "exposition-total-counter-beside-base-family", "exposition-empty-counter-total-total"])
    func fuzzFindingsSurviveARoundTrip(_ name: String) throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/fuzz/\(name)", withExtension: nil))
        let writer = ExpositionWriter(format: .prometheusText)
        let written = writer.render(try ExpositionParser(format: .prometheusText).parse(bytes: Array(try Data(contentsOf: url))))
        #expect(writer.render(try ExpositionParser(format: .prometheusText).parse(bytes: written)) == written)
    }
}
