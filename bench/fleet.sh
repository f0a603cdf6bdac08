#!/usr/bin/env bash
# DESIGN's fleet target: 10,000 simulated nodes × 100 series every 10 s on one aggregator,
# p99 push < 250 ms, nothing lost; the same fleet against Prometheus's own remote-write
# receiver and VictoriaMetrics first, as the peers; to the aggregator each node pushes with a
# token of its own, as a
# fleet's agents do. Release builds, loopback; the simulated fleet runs on the same
# 2 cores as the receiver. Prints each receiver's push latency, read-back, CPU and peak RSS.
# Usage: bench/fleet.sh [nodes] [seconds]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
nodes="${1:-$(sized 10000 20)}"
seconds="${2:-$(sized 60 4)}"
interval=$(sized 10 2)
bench_build tokenwatt-aggregator tokenwatt-bench
work="$(mktemp -d)"
prom_port=$(free_port) ours_port=$(free_port) vm_port=$(free_port)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

report() {  # pid name
    awk -v name="$2" '{ printf "%s CPU: %.1f s (user + system, warm-up included)\n", name, ($14 + $15) / 100 }' "/proc/$1/stat"
    grep -E "VmHWM" "/proc/$1/status" | awk -v name="$2" -v series=$((nodes * 100)) \
        '{ printf "%s peak RSS: %d KiB (%.0f bytes per series)\n", name, $2, $2 * 1024 / series }'
}

echo "== Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') remote-write receiver"
prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
prom=$!
wait_ready "127.0.0.1:$prom_port/-/ready"
"$bin/tokenwatt-bench" fleet --url "http://127.0.0.1:$prom_port/api/v1/write" --nodes "$nodes" --duration "$seconds" --interval "$interval"
report "$prom" prometheus
kill "$prom"; wait "$prom" 2>/dev/null || true

echo "== VictoriaMetrics (Debian's victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null))"
start_victoria_metrics "$work/vm" "$vm_port" "$work/vm.log"
# Its read-back is not checked: it acknowledges before its samples reach the disk, and its
# query_range leaves out the newest round that the check reads (count_over_time finds it).
"$bin/tokenwatt-bench" fleet --url "http://127.0.0.1:$vm_port/api/v1/write" --nodes "$nodes" --duration "$seconds" --interval "$interval" \
    --check-series 0
report "$vm_pid" victoriametrics
kill -INT "$vm_pid"; wait "$vm_pid" 2>/dev/null || true

echo "== tokenwatt-aggregator"
# Each simulated node pushes with a token of its own, as a fleet's agents do (`node-N`).
. bench/nodes-config.sh
nodes_config "$nodes" FLEET >"$work/tw.yml"
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen 127.0.0.1:$ours_port --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
aggregator=$!
wait_ready "127.0.0.1:$ours_port/-/ready"
"$bin/tokenwatt-bench" fleet --url "http://127.0.0.1:$ours_port/api/v1/write" --nodes "$nodes" --duration "$seconds" --interval "$interval" --token 'fleet-secret-{node}'
report "$aggregator" tokenwatt

# Restart after kill -9 with the whole fleet in the head: the log is replayed before /-/ready.
head_samples() { curl -sf 127.0.0.1:$ours_port/metrics | awk '/^tokenwatt_aggregator_head_samples /{print $2}'; }
before=$(head_samples)
kill -9 "$aggregator"; wait "$aggregator" 2>/dev/null || true
began=$(date +%s.%N)
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen 127.0.0.1:$ours_port --data-dir "$work/data" >>"$work/aggregator.log" 2>&1 &
aggregator=$!
wait_ready "127.0.0.1:$ours_port/-/ready"
ready=$(date +%s.%N)
after=$(head_samples)
awk -v b="$began" -v r="$ready" -v before="$before" -v after="$after" -v series=$((nodes * 100)) 'BEGIN {
    printf "restart after kill -9 with %d series in the head: ready in %.1f s; head samples before %d, after %d\n", series, r - b, before, after
}'
grep -E "VmHWM" "/proc/$aggregator/status" | awk '{ printf "tokenwatt peak RSS after the restart: %d KiB\n", $2 }'
