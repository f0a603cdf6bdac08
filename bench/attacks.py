#!/usr/bin/env python3
"""Attacks both daemons the way issue 11 found them breaking, and prints what came back.

Runs the release binaries (swift build -c release) on loopback: an aggregator with one node,
an agent pushing to it and reading a stand-in inference server this script serves. For each
attack: what was sent, the answer, how long it took, the daemon's resident memory before and
after, and whether it still answers /-/healthy. Standard library only.

    python3 bench/attacks.py [--bin .build/release]
"""
import argparse
import gzip
import http.client
import http.server
import json
import pathlib
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "fuzz"))
from seeds import double, field, fixed64, key_value, otlp_request, series, snappy_literals, varint  # noqa: E402

TOKEN = "attack-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request(port, method, path, body=None, headers=None, timeout=120):
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read(2000).decode(errors="replace")
        return response.status, time.monotonic() - start, text
    except Exception as error:  # a daemon that died or hung
        return f"no answer ({type(error).__name__})", time.monotonic() - start, ""
    finally:
        connection.close()


def push(port, raw):
    return request(port, "POST", "/api/v1/write", snappy_literals(raw), {
        "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0", "Authorization": f"Bearer {TOKEN}"})


class Inference(http.server.BaseHTTPRequestHandler):
    """A stand-in inference server whose /metrics page the script sets per attack."""
    mode = "normal"

    def do_GET(self):
        if self.path != "/metrics":
            self.send_response(404)
            self.end_headers()
            return
        if Inference.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(b"v")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        if Inference.mode == "timestamp":
            body, kind = b'# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{model_name="m"} 5 1e300\n# EOF\n', \
                "application/openmetrics-text; version=1.0.0"
        elif Inference.mode == "huge":
            lines = [f'vllm:prompt_tokens_total{{model_name="m",engine="{i}"}} {i}' for i in range(250_000)]
            body, kind = ("# TYPE vllm:prompt_tokens_total counter\n" + "\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4"
        else:
            body, kind = b'# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{model_name="m"} 5\n', "text/plain; version=0.0.4"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the agent hung up past its limit, as it should
            pass

    def log_message(self, *args):
        pass


class Daemon:
    def __init__(self, arguments, port, log):
        self.port = port
        self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if request(port, "GET", "/-/healthy", timeout=1)[0] == 200:
                return
            time.sleep(0.1)
        raise SystemExit(f"{arguments[0]} did not start")


rows = []


def attack(daemon, what, action, expect):
    before = rss_mb(daemon.process.pid)
    status, seconds, text = action()
    time.sleep(0.3)
    alive = daemon.process.poll() is None
    healthy = alive and request(daemon.port, "GET", "/-/healthy", timeout=10)[0] == 200
    after = rss_mb(daemon.process.pid) if alive else 0
    verdict = "ok" if alive and healthy and expect(status, text) else "FAILED"
    rows.append((what, status, f"{seconds:.2f}", f"{before:.0f} → {after:.0f}", "yes" if healthy else "NO", verdict))


def main():
    # Room for the idle-connection attack's sockets (the shipped units set LimitNOFILE=65536).
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release")
    binaries = pathlib.Path(parser.parse_args().bin)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="tokenwatt-attacks-"))
    log = open(directory / "daemons.log", "w")
    (directory / "token").write_text(TOKEN)
    aggregator_port, agent_port, inference_port = free_port(), free_port(), free_port()
    (directory / "aggregator.yml").write_text(
        f"listen: 127.0.0.1:{aggregator_port}\ndata_dir: {directory}/data\nnodes:\n  - {{name: node-a, token_file: {directory}/token}}\n")
    aggregator = Daemon([str(binaries / "tokenwatt-aggregator"), "--config", str(directory / "aggregator.yml")], aggregator_port, log)
    inference = http.server.ThreadingHTTPServer(("127.0.0.1", inference_port), Inference)
    threading.Thread(target=inference.serve_forever, daemon=True).start()
    (directory / "agent.yml").write_text(f"collectors: [cpu, memory]\nspool: {{directory: {directory}/spool}}\n")
    agent = Daemon([str(binaries / "tokenwatt-agent"), "--config", str(directory / "agent.yml"), "--listen", f"127.0.0.1:{agent_port}",
                    "--interval", "1s", "--aggregator", f"http://127.0.0.1:{aggregator_port}", "--token-file", str(directory / "token"),
                    "--inference-server", f"http://127.0.0.1:{inference_port}", "--no-discovery"], agent_port, log)
    now_ms = int(time.time() * 1000)
    is400 = lambda status, _: status == 400
    quick = lambda path: lambda: request(aggregator_port, "GET", path)

    for path in ["/api/v1/query_range?query=up&start=1e300&end=1e300&step=15", "/api/v1/query_range?query=up&start=1&end=2&step=1e300",
                 "/api/v1/query_range?query=up&start=-1e17&end=1e17&step=1e15",
                 "/api/v1/query_range?query=up&start=0&end=9223372036854775&step=100",
                 "/api/v1/query_range?query=up&start=0&end=100&step=106751990000d", "/api/v1/tokens?to=1e300",
                 "/api/v1/tokens?to=-9223372036854775", "/api/v1/costs?from=1e300"]:
        attack(aggregator, f"aggregator: GET `{urllib.parse.unquote(path)}`", quick(path), is400)

    many = b"".join(series({"__name__": f"tokenwatt_metric_{i}_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, [(now_ms, 1)]) for i in range(70))
    push(aggregator_port, many)
    pattern = urllib.parse.quote('{__name__=~"(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)Q"}')
    attack(aggregator, "aggregator: `match[]={__name__=~\"(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)Q\"}` over 70 series",
           quick(f"/api/v1/series?match[]={pattern}"), lambda status, _: status == 200)
    attack(aggregator, "aggregator: `match[]={__name__=~\"(a+)+b\"}`", quick("/api/v1/series?match[]=" + urllib.parse.quote('{__name__=~"(a+)+b"}')),
           lambda status, _: status == 200)

    wide = b"".join(series({"__name__": "wide", "i": str(i)}, [(now_ms - 60_000, 1)]) for i in range(2_000))
    push(aggregator_port, wide)
    start = now_ms // 1000 - 10_999
    attack(aggregator, "aggregator: query_range of 2,000 series × 11,000 points",
           quick(f"/api/v1/query_range?query=wide&start={start}&end={now_ms // 1000}&step=1"), is400)

    empty_labels = field(1, b"\x0a\x00" * 1_500_000)
    attack(aggregator, "aggregator: 3 MB push of 1.5 million empty labels", lambda: push(aggregator_port, empty_labels), is400)
    attack(aggregator, "aggregator: a series with an 8 MiB label value",
           lambda: push(aggregator_port, series({"__name__": "m", "model": "x" * (8 << 20)}, [(now_ms, 1)])), is400)
    attack(aggregator, "aggregator: a series with 10,000 labels",
           lambda: push(aggregator_port, series({"__name__": "m", **{f"l{i}": "v" for i in range(10_000)}}, [(now_ms, 1)])), is400)
    attack(aggregator, "aggregator: a node pushes `tokenwatt_cost_usd_total` (forged costs)",
           lambda: push(aggregator_port, series({"__name__": "tokenwatt_cost_usd_total", "node": "x"}, [(now_ms, 1e12)])), is400)

    def idle_then_push():
        idle = []
        for _ in range(1_000):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            try:
                s.connect(("127.0.0.1", aggregator_port))
            except OSError:
                pass
            idle.append(s)
        result = push(aggregator_port, series({"__name__": "after_idle"}, [(now_ms, 1)]))
        for s in idle:
            s.close()
        return result
    attack(aggregator, "aggregator: 1,000 idle connections from one client, then a push from another", idle_then_push,
           lambda status, _: status == 204)

    usage = lambda body: lambda: request(agent_port, "POST", "/v1/usage", body.encode(), {"Content-Type": "application/json"})
    attack(agent, 'agent: usage report with `"timestamp": 1e19`', usage('{"model": "m", "output_tokens": 1, "timestamp": 1e19}'), is400)
    attack(agent, 'agent: usage report with `"timestamp": 1e300`', usage('{"model": "m", "output_tokens": 1, "timestamp": 1e300}'), is400)
    models = lambda part: "[" + ",".join(f'{{"model": "model-{part}-{i}", "output_tokens": 1}}' for i in range(10_000)) + "]"
    for part in range(4):
        attack(agent, f"agent: usage report {part + 1} of 4 with 10,000 new model names", usage(models(part)), lambda status, _: status == 200)

    # OTLP/HTTP on both daemons (issue 33): bodies that decode past the bounds, and points that are no counts.
    def otlp(port, body, content_type="application/x-protobuf", encoding=None):
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"}
        if encoding:
            headers["Content-Encoding"] = encoding
        return lambda: request(port, "POST", "/v1/metrics", body, headers)
    t_ns = now_ms * 1_000_000
    gauge = lambda name, points: field(1, name.encode()) + field(5, b"".join(field(1, p) for p in points))
    point = lambda value, time_ns=t_ns, attributes=b"": fixed64(3, time_ns) + double(4, value) + attributes
    bomb = gzip.compress(bytes(256 << 20), compresslevel=9)
    is413 = lambda status, _: status == 413
    for daemon, port in ((aggregator, aggregator_port), (agent, agent_port)):
        name = "aggregator" if daemon is aggregator else "agent"
        attack(daemon, f"{name}: OTLP gzip bomb, {len(bomb) // 1024} KiB inflating to 256 MiB", otlp(port, bomb, encoding="gzip"), is413)
        wide = otlp_request({}, [gauge("wide", [point(1, attributes=b"".join(field(7, key_value(f"k{i}", "v")) for i in range(10_000)))])])
        attack(daemon, f"{name}: OTLP point with 10,000 attributes", otlp(port, wide), is400)
        claims = otlp_request({}, [field(1, b"h") + field(9, field(1, fixed64(3, t_ns) + varint(6 << 3 | 2) + varint(8_000_000_000)))])
        attack(daemon, f"{name}: OTLP histogram point claiming a billion buckets", otlp(port, claims), is400)
        buckets = otlp_request({}, [field(1, b"h") + field(9, field(1, fixed64(3, t_ns) + field(6, bytes(8 * 1_000_000))) + varint(2 << 3) + varint(2))])
        attack(daemon, f"{name}: OTLP histogram point of a million buckets (8 MB)", otlp(port, buckets), lambda status, _: status in (400, 413))
        nested = b"[" * 100_000 + b"]" * 100_000
        attack(daemon, f"{name}: OTLP JSON nested 100,000 deep", otlp(port, nested, "application/json"), is400)
        deep = field(1, b"x")
        for _ in range(2_000):
            deep = field(5, field(1, deep))  # AnyValue{array_value{values[AnyValue...]}}
        attack(daemon, f"{name}: OTLP attribute value of arrays nested 2,000 deep",
               otlp(port, otlp_request({}, [gauge("deep", [point(1, attributes=field(7, field(1, b"k") + field(2, deep)))])])), is400)
    partial = lambda status, text: status == 200 and "data points rejected" in text  # the partial success names them
    attack(aggregator, "aggregator: OTLP points at time 0 and a year ahead", otlp(aggregator_port, otlp_request({}, [
        gauge("attack_time", [point(1, 0), point(1, t_ns + 365 * 86_400 * 10**9)])])), partial)
    usage_histogram = lambda sums: otlp_request({"service.name": "attacker"}, [field(1, b"gen_ai.client.token.usage") + field(9, b"".join(
        field(1, fixed64(2, t_ns - 10**9) + fixed64(3, t_ns) + fixed64(4, 1) + double(5, value)
              + field(9, key_value("gen_ai.token.type", "input")) + field(9, key_value("gen_ai.request.model", "m"))) for value in sums)
        + varint(2 << 3) + varint(1))])
    attack(agent, "agent: OTLP token usage of NaN and −1e300 tokens", otlp(agent_port, usage_histogram([float("nan"), -1e300])), partial)
    resets = otlp_request({}, [field(1, b"attack.resets") + field(7, b"".join(field(1, point(v, t_ns + i * 10**9)) for i, v in enumerate([5, -3, 1e308, 1e308]))
                                                          + varint(2 << 3) + varint(1) + varint(3 << 3) + varint(1))])
    attack(agent, "agent: OTLP delta counter going negative and past 1e308", otlp(agent_port, resets), partial)

    def scrape(mode, seconds):
        def run():
            Inference.mode = mode
            time.sleep(seconds)
            health = request(agent_port, "GET", "/-/healthy", timeout=10)
            Inference.mode = "normal"
            return health
        return run
    attack(agent, "agent: inference page with an OpenMetrics timestamp of 1e300 (5 s)", scrape("timestamp", 5),
           lambda status, _: status == 200)
    attack(agent, "agent: inference page of 250,000 series, 16 MB (5 s)", scrape("huge", 5), lambda status, _: status == 200)
    attack(agent, "agent: inference page that drips a byte every 100 ms (10 s; time is /-/healthy's)", scrape("drip", 10),
           lambda status, _: status == 200)

    open_port = free_port()
    refused = subprocess.run([str(binaries / "tokenwatt-agent"), "--listen", f"0.0.0.0:{open_port}", "--no-discovery"],
                             capture_output=True, text=True, timeout=30)
    rows.append(("agent: `--listen 0.0.0.0` without a usage token", f"exit {refused.returncode}", "-", "-", "-",
                 "ok" if refused.returncode == 2 else "FAILED"))

    print("| attack | answer | seconds | RSS MB before → after | /-/healthy after | verdict |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    connection = http.client.HTTPConnection("127.0.0.1", agent_port, timeout=30)
    connection.request("GET", "/metrics")
    metrics = connection.getresponse().read().decode()
    usage_series = sum(1 for line in metrics.splitlines() if line.startswith("tokenwatt_tokens_total{"))
    print(f"\nagent usage series after 40,000 model names: {usage_series} (cap 10,000)")
    for daemon in (agent, aggregator):
        daemon.process.terminate()
        daemon.process.wait(timeout=30)
    inference.shutdown()
    if any(row[-1] != "ok" for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
