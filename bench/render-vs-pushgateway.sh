#!/usr/bin/env bash
# /metrics render time with 100,000 series: tokenwatt-aggregator beside Pushgateway 1.5 holding
# the same series, one after the other in one run. Each receives 1,000 groups of 100 series
# (bench_value{agent, series}); then GET /metrics is timed 21 times on each (after one warm-up)
# and the medians are compared. Target: TokenWatt at most 0.3× the peer's time.
# Usage: bench/render-vs-pushgateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product tokenwatt-aggregator
swift build -c release --product tokenwatt-bench
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# median_render URL: the median of 21 timed GETs, in seconds, and the body's size.
median_render() {
    curl -s -o /dev/null "$1"
    for _ in $(seq 1 21); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$1"; done |
        sort -n | awk 'NR == 11 { printf "%s %s\n", $1, $2 }'
}

echo "== tokenwatt-aggregator"
"$bin/tokenwatt-aggregator" --listen 127.0.0.1:19470 --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
until curl -sf 127.0.0.1:19470/-/ready >/dev/null; do sleep 0.2; done
"$bin/tokenwatt-bench" ingest --url http://127.0.0.1:19470/api/v1/write --agents 1000 --series 100 --ticks 1 --rounds-per-request 1 | grep -E "load|ingest"
read -r ours ours_bytes < <(median_render http://127.0.0.1:19470/metrics)
echo "series in /metrics: $(curl -s 127.0.0.1:19470/metrics | grep -c '^bench_value')"

echo "== Pushgateway $(prometheus-pushgateway --version 2>&1 | head -1 | awk '{print $3}')"
prometheus-pushgateway --web.listen-address=127.0.0.1:19091 --persistence.file="" >"$work/pushgateway.log" 2>&1 &
until curl -sf 127.0.0.1:19091/-/ready >/dev/null; do sleep 0.2; done
python3 - <<'PY'
import urllib.request
for agent in range(1000):
    body = "# TYPE bench_value untyped\n" + "".join(f'bench_value{{series="{i}"}} {i * 0.5}\n' for i in range(100))
    request = urllib.request.Request(f"http://127.0.0.1:19091/metrics/job/bench/agent/agent-{agent}", data=body.encode(), method="PUT")
    urllib.request.urlopen(request).read()
PY
read -r peer peer_bytes < <(median_render http://127.0.0.1:19091/metrics)
echo "series in /metrics: $(curl -s 127.0.0.1:19091/metrics | grep -c '^bench_value')"

echo
printf "/metrics render, 100,000 series, median of 21: TokenWatt %.3f s (%d bytes), Pushgateway %.3f s (%d bytes): %.2f× the peer's time\n" \
    "$ours" "$ours_bytes" "$peer" "$peer_bytes" "$(awk -v a="$ours" -v b="$peer" 'BEGIN { print a / b }')"
