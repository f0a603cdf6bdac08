#!/usr/bin/env bash
# DESIGN's fleet target: 10,000 simulated nodes × 100 series every 10 s on one aggregator,
# p99 push < 250 ms, nothing lost. No peer: the figure stands alone. Release builds, loopback;
# the simulated fleet runs on the same 2 cores as the aggregator.
# Usage: bench/fleet.sh [nodes] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:-10000}"
seconds="${2:-60}"
swift build -c release --product tokenwatt-aggregator
swift build -c release --product tokenwatt-bench
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/tokenwatt-aggregator" --listen 127.0.0.1:19480 --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
aggregator=$!
until curl -sf 127.0.0.1:19480/-/ready >/dev/null; do sleep 0.2; done
"$bin/tokenwatt-bench" fleet --url http://127.0.0.1:19480/api/v1/write --nodes "$nodes" --duration "$seconds"
awk '{ printf "aggregator CPU: %.1f s (user + system, warm-up included)\n", ($14 + $15) / 100 }' "/proc/$aggregator/stat"
grep -E "VmHWM" "/proc/$aggregator/status" | awk '{ printf "aggregator peak RSS: %d KiB\n", $2 }'
