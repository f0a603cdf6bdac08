import Testing
import TokenWattCore

/// Prometheus's translation of OTLP names, case by case (its otlptranslator's own examples
/// among them).
@Suite struct OTLPNamesTests {
    @Test(arguments: [
        ("system.cpu.time", "s", OTLPNames.Kind.monotonicCounter, "system_cpu_time_seconds_total"),
        ("http.server.request.duration", "s", .histogram, "http_server_request_duration_seconds"),
        ("gen_ai.client.token.usage", "{token}", .histogram, "gen_ai_client_token_usage"),
        ("gen_ai.client.operation.duration", "s", .histogram, "gen_ai_client_operation_duration_seconds"),
        ("system.memory.usage", "By", .nonMonotonicCounter, "system_memory_usage_bytes"),
        ("system.network.io", "By/s", .gauge, "system_network_io_bytes_per_second"),
        ("system.cpu.utilization", "1", .gauge, "system_cpu_utilization_ratio"),
        ("system.cpu.utilization", "1", .monotonicCounter, "system_cpu_utilization_total"),
        ("requests_total", "", .monotonicCounter, "requests_total"),
        ("total.requests", "", .monotonicCounter, "requests_total"),
        ("latency_seconds", "s", .histogram, "latency_seconds"),
        ("temperature", "Cel", .gauge, "temperature_celsius"),
        ("energy", "J", .monotonicCounter, "energy_joules_total"),
        ("power", "W", .gauge, "power_watts"),
        ("weird..name__with--chars", "", .gauge, "weird_name_with_chars"),
        ("2xx.responses", "", .monotonicCounter, "_2xx_responses_total"),
        ("queue:depth", "{item}", .gauge, "queue:depth"),
        ("rate", "{packet}/s", .gauge, "rate_per_second"),
        ("custom", "widgets", .gauge, "custom_widgets"),
        ("custom", "foo bar/mo", .gauge, "custom_foo_bar_per_month"),
        ("", "", .gauge, ""),
    ])
    func metricNames(name: String, unit: String, kind: OTLPNames.Kind, expected: String) {
        #expect(OTLPNames.metricName(name, unit: unit, kind: kind) == expected)
    }

    @Test(arguments: [
        ("service.name", "service_name"),
        ("gen_ai.token.type", "gen_ai_token_type"),
        ("http.response.status_code", "http_response_status_code"),
        ("2xx", "key_2xx"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("über", "key_ber"),
        ("a-b/c", "a_b_c"),
    ])
    func labelNames(key: String, expected: String) {
        #expect(OTLPNames.labelName(key) == expected)
    }
}
