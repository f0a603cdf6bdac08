#!/usr/bin/env python3
"""Writes a seed corpus for one fuzz target from the test suite's fixtures and examples.

Remote-write seeds are encoded here by hand (protobuf, then a snappy block of literals), so
the seeds need nothing but the standard library."""
import pathlib
import struct
import sys

root = pathlib.Path(__file__).resolve().parent.parent


def varint(n):
    b = bytearray()
    while n >= 0x80:
        b.append(n & 0x7F | 0x80)
        n >>= 7
    b.append(n)
    return bytes(b)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def series(labels, samples):
    body = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in sorted(labels.items()))
    for ts, value in samples:
        body += field(2, b"\x09" + struct.pack("<d", value) + b"\x10" + varint(ts & (2**64 - 1)))
    return field(1, body)


def fixed64(number, value):
    return varint(number << 3 | 1) + struct.pack("<Q", value)


def double(number, value):
    return varint(number << 3 | 1) + struct.pack("<d", value)


def key_value(key, value):
    return field(1, key.encode()) + field(2, field(1, value.encode()))


def otlp_request(resource, metrics):
    """An ExportMetricsServiceRequest: one resource, one scope, the given Metric messages."""
    attributes = b"".join(field(1, key_value(k, v)) for k, v in resource.items())
    scope = field(1, field(1, b"seed")) + b"".join(field(2, m) for m in metrics)
    return field(1, field(1, attributes) + field(2, scope))


def otlp_seeds():
    t = 1_800_000_000_000 * 1_000_000
    gauge = field(1, b"gpu.temperature") + field(3, b"Cel") + field(5, field(1, fixed64(3, t) + double(4, 64.0) + field(7, key_value("gpu", "0"))))
    points = b"".join(field(1, fixed64(2, t - 10**10) + fixed64(3, t) + fixed64(4, 2) + double(5, s) + field(6, struct.pack("<QQ", 2, 0))
                            + field(7, struct.pack("<d", 1000.0)) + field(9, key_value("gen_ai.token.type", kind))
                            + field(9, key_value("gen_ai.request.model", "gpt-4o-mini")))
                      for kind, s in (("input", 1200.0), ("output", 300.0)))
    usage = field(1, b"gen_ai.client.token.usage") + field(3, b"{token}") + field(9, points + varint(2 << 3) + varint(1))
    counter = field(1, b"http.requests") + field(7, field(1, fixed64(3, t) + double(4, 7.0)) + varint(2 << 3) + varint(2) + varint(3 << 3) + varint(1))
    return {"gauge": otlp_request({"service.name": "seed"}, [gauge]), "usage": otlp_request({"service.name": "bot", "team": "a"}, [usage]),
            "counter": otlp_request({}, [counter]),
            "json": b'{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeMetrics":'
                    b'[{"metrics":[{"name":"m","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"asInt":"5",'
                    b'"timeUnixNano":"1800000000000000000"}]}}]}]}]}'}


def remote_write_2_seed():
    sample = double(1, 42.0) + varint(2 << 3) + varint(1_800_000_000_000) + varint(3 << 3) + varint(1_799_999_000_000)
    series = field(1, bytes([1, 2, 3, 4])) + field(2, sample) + field(5, varint(1 << 3) + varint(1))
    return field(5, series) + b"".join(field(4, s.encode()) for s in ["", "__name__", "requests_total", "job", "api"])


def snappy_literals(raw):
    block = bytearray(varint(len(raw)))
    for i in range(0, len(raw), 60):
        chunk = raw[i:i + 60]
        block.append((len(chunk) - 1) << 2)
        block += chunk
    return bytes(block)


def main(target, out):
    out.mkdir(parents=True, exist_ok=True)

    def write(name, data):
        (out / name).write_bytes(data if isinstance(data, bytes) else data.encode())

    fixtures = sorted((root / "Tests").rglob("*.prom"))
    if target == "remote-write":
        write("power", snappy_literals(series({"__name__": "tokenwatt_gpu_power_watts", "gpu": "0"}, [(1_800_000_000_000, 301.5)])))
        write("tokens", snappy_literals(series({"__name__": "tokenwatt_tokens_total", "model": "m", "type": "input"},
                                               [(1_800_000_000_000, 1e6), (1_800_000_010_000, 1.5e6)])
                                        + series({"__name__": "up"}, [(-1, float("nan"))])))
        write("empty", snappy_literals(b""))
    elif target == "otlp":
        for name, data in otlp_seeds().items():
            write(name, data)
    elif target == "remote-write-2":
        write("counter", remote_write_2_seed())
        write("empty", b"")
    elif target in ("exposition-text", "openmetrics"):
        for path in fixtures:
            write(path.stem, path.read_bytes())
        write("eof", "# TYPE m counter\nm_total{a=\"1\"} 1 1700000000.5\nm_created 1.6e9\n# EOF\n")
    elif target == "usage-report":
        write("flat", '{"model": "gpt-5-mini", "provider": "openai", "input_tokens": 1000, "output_tokens": 200, "attributes": {"team": "research"}}')
        write("chat", '[{"model": "m", "id": "r1", "timestamp": "2026-11-29T10:00:00Z", "usage": {"prompt_tokens": 5, "completion_tokens": 7, '
                      '"prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}}]')
        write("anthropic", '{"model": "claude", "usage": {"input_tokens": 3, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 5, "output_tokens": 6}}')
    elif target == "selector":
        for i, text in enumerate(['tokenwatt_tokens_total{model=~"meta-llama/.*",type!="output"}', '{__name__=~"(a+)+b"}',
                                  '{job!~"(?i)node|gpu[0-9]{1,3}"}', 'up{a="x\\n\\"y"}', '{a=~"[[:alpha:]]+\\\\d*$"}']):
            write(f"selector-{i}", text)
    elif target == "config":
        write("aggregator", (root / "deploy/examples/aggregator.yml").read_bytes())
        write("agent", "listen: 127.0.0.1:9471\naggregator:\n  url: http://127.0.0.1:9470\ninterval: 10s\n"
                       "inference:\n  - url: http://127.0.0.1:8000\n    kind: vllm\nusage:\n  attributes: [team]\n  max_series: 100\n")
    else:
        sys.exit(f"unknown target {target}")


if __name__ == "__main__":
    main(sys.argv[1], pathlib.Path(sys.argv[2]))
