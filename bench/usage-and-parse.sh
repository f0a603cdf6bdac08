#!/usr/bin/env bash
# Issue 4's figures, release builds, one run:
#  1. the agent's exposition parser beside Python's prometheus_client parser, on the same
#     5 MB vLLM-style /metrics text (what the agent reads from inference servers), median of 5;
#  2. usage intake on loopback (POST /v1/usage to a running agent): events/s and p99 latency,
#     one report per request and 100 per request. Every request is saved before it is answered.
# Usage: bench/usage-and-parse.sh [megabytes]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
megabytes="${1:-$(sized 5 0.05)}"
bench_build tokenwatt-agent tokenwatt-bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# A smoke run takes the tests' virtual environment, which has prometheus_client already.
venv="$work/venv"
if [ -n "${BENCH_SMOKE:-}" ]; then
    venv=.build/test-venv
else
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q prometheus_client
fi
echo "== prometheus_client $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("prometheus_client"))'), $(python3 --version)"

# A vLLM-style exposition: vLLM's gauges, counters (with their _created gauges) and latency
# histograms, each family once with every model's series.
"$venv/bin/python" - "$megabytes" >"$work/vllm.prom" <<'PY'
import sys
target = int(float(sys.argv[1]) * 1_000_000)
buckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
metrics = [("vllm:num_requests_running", "gauge"), ("vllm:num_requests_waiting", "gauge"), ("vllm:kv_cache_usage_perc", "gauge"),
           ("vllm:prompt_tokens_total", "counter"), ("vllm:prompt_tokens_created", "gauge"),
           ("vllm:generation_tokens_total", "counter"), ("vllm:generation_tokens_created", "gauge"),
           ("vllm:time_to_first_token_seconds", "histogram"), ("vllm:e2e_request_latency_seconds", "histogram"),
           ("vllm:inter_token_latency_seconds", "histogram")]

def family(metric, kind, models):
    lines = [f"# HELP {metric} {metric.split(':')[1].replace('_', ' ')}.", f"# TYPE {metric} {kind}"]
    for model in range(models):
        name = f"org-{model}/Model-{model}-70B-Instruct"
        for engine in range(8):
            labels = f'engine="{engine}",model_name="{name}"'
            if kind == "histogram":
                count = 0
                for le in buckets + ["+Inf"]:
                    count += engine + 3 if le != "+Inf" else 0
                    lines.append(f'{metric}_bucket{{engine="{engine}",le="{le}",model_name="{name}"}} {float(count)}')
                lines.append(f"{metric}_count{{{labels}}} {float(count)}")
                lines.append(f"{metric}_sum{{{labels}}} {count * 0.137:.6e}")
            elif metric.endswith("_created"):
                lines.append(f"{metric}{{{labels}}} 1.7644e+09")
            else:
                lines.append(f"{metric}{{{labels}}} {1.2345e6 * (engine + 1) + model:.6e}")
    return "\n".join(lines) + "\n"

# 8 data-parallel engines per model, as many models as make the size asked.
per_model = sum(len(family(metric, kind, 1)) for metric, kind in metrics)
models = max(1, round(target / per_model))
sys.stdout.write("".join(family(metric, kind, models) for metric, kind in metrics))
PY

"$bin/tokenwatt-bench" parse "$work/vllm.prom" --repeats 5
"$venv/bin/python" - "$work/vllm.prom" <<'PY'
import sys, time
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
runs, samples = [], 0
for _ in range(5):
    started = time.perf_counter()
    families = list(text_string_to_metric_families(text))
    runs.append(time.perf_counter() - started)
    samples = sum(len(f.samples) for f in families)
median = sorted(runs)[len(runs) // 2]
print(f"prometheus_client parser: {len(text.encode())} bytes, {samples} samples, median {median:.3f} s: "
      f"{len(text.encode()) / median / 1e6:.1f} MB/s, {samples / median:.0f} samples/s")
PY

echo "== usage intake (agent on loopback, counters saved in SQLite before each answer)"
port=$(free_port) nobody=$(free_port)
printf 'collectors: [memory]\nspool: {directory: %s/agent}\n' "$work" >"$work/agent.yml"
"$bin/tokenwatt-agent" --listen "127.0.0.1:$port" --no-discovery --aggregator "http://127.0.0.1:$nobody/api/v1/write" \
    --config "$work/agent.yml" >"$work/agent.log" 2>&1 &
agent=$!
until curl -sf "127.0.0.1:$port/-/healthy" >/dev/null; do
    kill -0 $agent 2>/dev/null || { cat "$work/agent.log"; exit 1; }
    sleep 0.2
done
"$bin/tokenwatt-bench" usage --url "http://127.0.0.1:$port/v1/usage" --clients 8 --requests "$(sized 20000 200)" --batch 1
"$bin/tokenwatt-bench" usage --url "http://127.0.0.1:$port/v1/usage" --clients 8 --requests "$(sized 2000 20)" --batch 100
