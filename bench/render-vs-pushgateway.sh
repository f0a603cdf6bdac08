#!/usr/bin/env bash
# /metrics render time with 100,000 series: tokenwatt-aggregator beside Pushgateway 1.5 holding
# the same series, one after the other in one run. Each receives 1,000 groups of 100 series
# (bench_value{agent, series}); to the aggregator each group is a node pushing with a token of
# its own, as a fleet's agents do. Then GET /metrics is timed 21 times on each (after one
# warm-up) and the medians are compared. Target: TokenWatt at most 0.3× the peer's time.
# Usage: bench/render-vs-pushgateway.sh [agents]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
. bench/nodes-config.sh
agents="${1:-$(sized 1000 20)}"
bench_build tokenwatt-aggregator tokenwatt-bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ours_port=$(free_port) peer_port=$(free_port)

# median_render URL: the median of 21 timed GETs, in seconds, and the body's size.
median_render() {
    curl -s -o /dev/null "$1"
    for _ in $(seq 1 21); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$1"; done |
        sort -n | awk 'NR == 11 { printf "%s %s\n", $1, $2 }'
}

echo "== tokenwatt-aggregator"
nodes_config "$agents" RENDER >"$work/tw.yml"
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$ours_port" --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
wait_ready "127.0.0.1:$ours_port/-/ready"
"$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$ours_port/api/v1/write" --agents "$agents" --series 100 --ticks 1 --rounds-per-request 1 \
    --token 'render-secret-{agent}' | grep -E "load|ingest"
read -r ours ours_bytes < <(median_render "http://127.0.0.1:$ours_port/metrics")
echo "series in /metrics: $(curl -s "127.0.0.1:$ours_port/metrics" | grep -c '^bench_value')"

echo "== Pushgateway $(prometheus-pushgateway --version 2>&1 | head -1 | awk '{print $3}')"
prometheus-pushgateway --web.listen-address="127.0.0.1:$peer_port" --persistence.file="" >"$work/pushgateway.log" 2>&1 &
wait_ready "127.0.0.1:$peer_port/-/ready"
python3 - "$peer_port" "$agents" <<'PY'
import sys, urllib.request
port, agents = sys.argv[1], int(sys.argv[2])
for agent in range(agents):
    body = "# TYPE bench_value untyped\n" + "".join(f'bench_value{{series="{i}"}} {i * 0.5}\n' for i in range(100))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics/job/bench/agent/agent-{agent}", data=body.encode(), method="PUT")
    urllib.request.urlopen(request).read()
PY
read -r peer peer_bytes < <(median_render "http://127.0.0.1:$peer_port/metrics")
echo "series in /metrics: $(curl -s "127.0.0.1:$peer_port/metrics" | grep -c '^bench_value')"

echo
printf "/metrics render, %d series, median of 21: TokenWatt %.3f s (%d bytes), Pushgateway %.3f s (%d bytes): %.2f× the peer's time\n" \
    "$((agents * 100))" "$ours" "$ours_bytes" "$peer" "$peer_bytes" "$(awk -v a="$ours" -v b="$peer" 'BEGIN { print a / b }')"
