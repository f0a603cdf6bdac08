#!/usr/bin/env bash
# Issue 16's target: every page of the web overview loads in at most 200 ms at 1,000 nodes.
# A simulated fleet (bench/web-fleet.yml: two GPUs a node, four models, queues, idle nodes)
# pushes 45 minutes of history, with a token per node, to the aggregator and to Prometheus's
# remote-write receiver; each page is loaded 20 times (time to the last byte: the pages load
# nothing else), beside the instant queries a fleet table asks Prometheus of the same fleet.
# Then the aggregator stops, its ledger gets a week of hours at the same size
# (bench/seed-ledger-week.py), it starts again (the day summary rebuilt by its migration, timed)
# and the pages are loaded again. Release builds, loopback, the same 2 cores.
# Usage: bench/web-overview.sh [nodes]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
nodes="${1:-$(sized 1000 5)}"
bench_build tokenwatt-aggregator tokenwatt-bench
work="$(mktemp -d)"
prom_port=$(free_port) ours_port=$(free_port)
sizes=(--minutes "$(sized 45 10)" --rounds "$(sized 20 2)")
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
wait_ready "127.0.0.1:$prom_port/-/ready"
. bench/nodes-config.sh
{ cat bench/web-fleet.yml; nodes_config "$nodes" WEB; } >"$work/tw.yml"
start_aggregator() {
    "$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$ours_port" --data-dir "$work/data" >>"$work/aggregator.log" 2>&1 &
    aggregator=$!
    wait_ready "127.0.0.1:$ours_port/-/ready"
}
start_aggregator
echo "== ${sizes[1]} minutes of history"
"$bin/tokenwatt-bench" web --url "http://127.0.0.1:$ours_port" --nodes "$nodes" --token 'web-secret-{node}' --peer "http://127.0.0.1:$prom_port" "${sizes[@]}"

echo "== a week of ledger"
sleep 12  # a round of the cost engine (costs.interval 10s) after the last push
kill "$aggregator"; wait "$aggregator" 2>/dev/null || true
python3 bench/seed-ledger-week.py "$work/data/tokenwatt.sqlite"
began=$(date +%s.%N)
start_aggregator
awk -v b="$began" -v r="$(date +%s.%N)" 'BEGIN { printf "restart with the day summary rebuilt from the week: ready in %.1f s\n", r - b }'
"$bin/tokenwatt-bench" web --url "http://127.0.0.1:$ours_port" --nodes "$nodes" --load-only "${sizes[@]}"
for days in 1 7; do
    for round in 1 2 3 4 5; do curl -s -o /dev/null -w "%{time_total}\n" "http://127.0.0.1:$ours_port/costs?days=$days"; done |
        sort -n | awk -v d="$days" '{ t[NR] = $1 } END { printf "tokenwatt /costs?days=%d  median %.1f ms  worst %.1f ms (5 loads)\n", d, t[3] * 1000, t[5] * 1000 }'
done
