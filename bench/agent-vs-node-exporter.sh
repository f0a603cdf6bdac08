#!/usr/bin/env bash
# tokenwatt-agent beside node_exporter 1.5, the same collectors (cpu, memory, hwmon, rapl) once a
# second for 60 s each, one after the other in one run: CPU seconds and peak resident memory of
# each, and the ratios. The agent does its whole job (collect, spool, push to a local
# aggregator, whose own cost is not counted); node_exporter is scraped once a second.
# Usage: bench/agent-vs-node-exporter.sh [seconds]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
seconds="${1:-$(sized 60 2)}"
settle=$(sized 5 1)
bench_build tokenwatt-aggregator tokenwatt-agent
work="$(mktemp -d)"
exporter_port=$(free_port) aggregator_port=$(free_port) agent_port=$(free_port)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)

# CPU seconds (user + system) of a process so far.
cpu_seconds() { awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
# Peak resident set size, in KiB.
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# measure NAME PID: waits for it to settle, then measures CPU over the run and reads the peak RSS.
measure() {
    sleep "$settle"
    local before after
    before=$(cpu_seconds "$2")
    sleep "$seconds"
    after=$(cpu_seconds "$2")
    cpu=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", a - b }')
    rss=$(peak_rss "$2")
    printf "%-15s cpu %7.3f s over %d s (%.2f ms per 1 s cycle)   peak RSS %6d KiB\n" "$1" "$cpu" "$seconds" \
        "$(awk -v c="$cpu" -v s="$seconds" 'BEGIN { print c / s * 1000 }')" "$rss"
}

echo "== node_exporter $(prometheus-node-exporter --version 2>&1 | head -1 | awk '{print $3}')"
prometheus-node-exporter --web.listen-address="127.0.0.1:$exporter_port" --collector.disable-defaults \
    --collector.cpu --collector.meminfo --collector.hwmon --collector.rapl >"$work/node_exporter.log" 2>&1 &
exporter=$!
wait_ready "127.0.0.1:$exporter_port/metrics"
( while sleep 1; do curl -sf "127.0.0.1:$exporter_port/metrics" >/dev/null || true; done ) &
scraper=$!
measure node_exporter "$exporter"
ne_cpu=$cpu; ne_rss=$rss
kill "$scraper" "$exporter"; wait "$scraper" "$exporter" 2>/dev/null || true

echo "== tokenwatt-agent"
"$bin/tokenwatt-aggregator" --listen "127.0.0.1:$aggregator_port" --data-dir "$work/aggregator" >"$work/aggregator.log" 2>&1 &
wait_ready "127.0.0.1:$aggregator_port/-/ready"
printf 'collectors: [cpu, memory, hwmon, rapl]\nspool: {directory: %s}\n' "$work/spool" >"$work/agent.yml"
"$bin/tokenwatt-agent" --config "$work/agent.yml" --interval 1s --listen "127.0.0.1:$agent_port" \
    --aggregator "http://127.0.0.1:$aggregator_port/api/v1/write" >"$work/agent.log" 2>&1 &
agent=$!
measure tokenwatt-agent "$agent"
tw_cpu=$cpu; tw_rss=$rss
pushes=$(curl -sf "127.0.0.1:$agent_port/metrics" | awk '/^tokenwatt_agent_pushes_total\{result="success"\}/ { print $2 }')
echo "(the agent's successful pushes: $pushes)"

echo
echo "== side by side"
awk -v a="$tw_cpu" -v n="$ne_cpu" -v ar="$tw_rss" -v nr="$ne_rss" 'BEGIN {
    # A run too short for node_exporter to use a measurable tick has no CPU ratio.
    printf "CPU seconds    node_exporter %8.3f   tokenwatt-agent %8.3f   ratio %s (target <= 0.5x)\n", n, a, (n > 0 ? sprintf("%.2fx", a / n) : "n/a")
    printf "peak RSS KiB   node_exporter %8d   tokenwatt-agent %8d   ratio %.2fx (target <= 1x)\n", nr, ar, ar / nr
}'
