import Foundation
import Testing
@testable import TokenWattCore

@Suite struct ExpositionParserTests {
    @Test func parsesInferenceServerFixture() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/inference-server", withExtension: "prom"))
        let families = try ExpositionParser(format: .prometheusText).parse(String(contentsOf: url, encoding: .utf8))
        #expect(families.map(\.name) == ["vllm:prompt_tokens", "vllm:generation_tokens", "vllm:num_requests_running",
                                         "tgi_request_input_length", "rpc_duration_seconds", "process_start_time_seconds"])
        #expect(families[0].type == .counter)
        #expect(families[0].samples.map(\.value) == [1_234_567, 42])
        #expect(families[0].samples[0].labels == [Label("engine", "0"), Label("model_name", "meta-llama/Llama-3.1-8B-Instruct")])
        #expect(families[3].type == .histogram)
        #expect(families[3].samples.map(\.name) == Array(repeating: "tgi_request_input_length_bucket", count: 3)
                + ["tgi_request_input_length_sum", "tgi_request_input_length_count"])
        #expect(families[3].samples[2].labels == [Label("le", "+Inf")])
        #expect(families[4].type == .summary)
        #expect(families[4].samples[1].value.isNaN)
        #expect(families[4].samples[2].value == 1.7560473e7)
        #expect(families[5].type == .untyped)
        #expect(families[5].samples[0].timestamp == 1_700_000_000_123)
    }

    @Test func openMetricsRoundTripKeepsCreatedAndSecondTimestamps() throws {
        let text = """
            # TYPE tokens counter
            # HELP tokens Tokens with a \\"quote\\".
            tokens_total{model="m"} 17 1700000000.5
            tokens_created{model="m"} 1.6e9
            # TYPE latency histogram
            latency_bucket{le="0.1"} 1 # {trace_id="abc"} 0.05 1700000000
            latency_bucket{le="+Inf"} 2
            latency_sum 0.3
            latency_count 2
            # EOF

            """
        let families = try ExpositionParser(format: .openMetrics).parse(text)
        #expect(families.count == 2)
        #expect(families[0].help == "Tokens with a \"quote\".")
        #expect(families[0].samples.map(\.name) == ["tokens_total", "tokens_created"])
        #expect(families[0].samples[0].timestamp == 1_700_000_000_500)
        #expect(families[0].samples[1].value == 1.6e9)
        let rendered = String(decoding: ExpositionWriter(format: .openMetrics).render(families), as: UTF8.self)
        #expect(try ExpositionParser(format: .openMetrics).parse(rendered) == families)
    }

    @Test func text004RoundTripThroughTheWriter() throws {
        let families = [MetricFamily(name: "a_total_bytes", type: .gauge, help: "back\\slash", samples: [
            ExpositionSample(name: "a_total_bytes", labels: [Label("x", "new\nline \"q\" \\")], value: -1.25e-3, timestamp: 5),
        ])]
        let text = ExpositionWriter(format: .prometheusText).render(families)
        #expect(try ExpositionParser(format: .prometheusText).parse(bytes: text) == families)
    }

    @Test(arguments: [
        ("metric{a=\"1\"} 1\nmetric{a=\"2} 2\n", ExpositionFormat.prometheusText, 2, "unterminated value of label a"),
        ("# TYPE m counter\n# TYPE m gauge\n", .prometheusText, 2, "second TYPE for m"),
        ("# TYPE m flux\n", .prometheusText, 1, "unknown metric type \"flux\""),
        ("m 1\nm abc\n", .prometheusText, 2, "invalid value \"abc\""),
        ("m{a=\"1\",a=\"2\"} 1\n", .prometheusText, 1, "duplicate label a"),
        ("m{1a=\"1\"} 1\n", .prometheusText, 1, "invalid label name \"1a\""),
        ("m{,} 1\n", .prometheusText, 1, "expected a label name"),
        ("m{a=\"\\q\"} 1\n", .prometheusText, 1, "invalid escape \\q in label a"),
        ("m 1 12.5\n", .prometheusText, 1, "invalid timestamp \"12.5\" (milliseconds between the years 1 and 9999)"),
        ("m 1 9223372036854775807\n", .prometheusText, 1, "invalid timestamp \"9223372036854775807\" (milliseconds between the years 1 and 9999)"),
        ("m 1 1e300\n# EOF\n", .openMetrics, 1, "invalid timestamp \"1e300\" (seconds between the years 1 and 9999)"),
        ("m 1 -1e17\n# EOF\n", .openMetrics, 1, "invalid timestamp \"-1e17\" (seconds between the years 1 and 9999)"),
        ("m 1 NaN\n# EOF\n", .openMetrics, 1, "invalid timestamp \"NaN\" (seconds between the years 1 and 9999)"),
        ("m\n", .prometheusText, 1, "missing value for m"),
        ("m 1 2 3\n", .prometheusText, 1, "unexpected text after the sample"),
        ("9m 1\n", .prometheusText, 1, "expected a metric name"),
        ("m 1\n", .openMetrics, 1, "missing # EOF at the end"),
        ("m 1\n# EOF\nm 2\n", .openMetrics, 3, "content after # EOF"),
        ("m 1\n\n# EOF\n", .openMetrics, 2, "empty line"),
        ("a 1\nb 1\na 2\n", .prometheusText, 3, "sample a is not next to the rest of its family"),
    ] as [(String, ExpositionFormat, Int, String)])
    func malformedInputNamesTheLine(text: String, format: ExpositionFormat, line: Int, reason: String) {
        #expect(throws: CoreError.parse(line: line, reason: reason)) {
            try ExpositionParser(format: format).parse(text)
        }
    }

    /// As Prometheus reads it: `#TYPE` without a space is a comment, not metadata (found by fuzzing).
    @Test func metadataNeedsASpaceAfterTheHash() throws {
        let families = try ExpositionParser(format: .prometheusText).parse("#TYPE m counter\n#HELP m help\nm 1\n")
        #expect(families.map(\.name) == ["m"])
        #expect(families[0].type == .untyped)
        #expect(families[0].help == nil)
    }
}
