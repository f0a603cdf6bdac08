#!/usr/bin/env bash
# The same remote-write load against Prometheus 2.42's own receiver, VictoriaMetrics (Debian's
# victoria-metrics, 1.79) and tokenwatt-aggregator, one after the other in one run; prints the
# three figures and TokenWatt's ratios to each peer.
#
# Time is simulated (samples 10 s apart, sent as fast as each receiver takes them) so the load
# covers more than 3 hours of sample time; Prometheus then compacts its head into a block, and
# its bytes per sample are read both right after the load (head + WAL) and after compaction.
# A load takes about a second, so one run moves with whatever else the machine does: before the
# measured pair, ROUNDS-1 (default 4) more pairs run on fresh receivers, interleaved, and the
# ingest figure is each receiver's median over all rounds. VictoriaMetrics answers before its
# samples reach the disk (it buffers them about a second); the other two only once they are in
# their write-ahead logs. Its bytes are read after /internal/force_flush and
# /internal/force_merge, 20 s, and a clean stop. After each receiver stops, `sync`
# writes back what it left in the page cache: otherwise the next receiver's run pays for it
# (Prometheus leaves hundreds of MB of WAL unsynced, and the aggregator fsyncs every commit).
# Usage: [ROUNDS=5] bench/ingest-vs-prometheus.sh [extra tokenwatt-bench ingest options]
#   (BENCH_SMOKE=1: see bench/common.sh; a smoke run's load is too short to compact, and is not waited for)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_build tokenwatt-aggregator tokenwatt-bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
read -ra size <<<"$(sized "--agents 20 --series 100 --ticks 1200" "--agents 2 --series 10 --ticks 30")"
load=("${size[@]}" --interval 10 "$@")
rounds="${ROUNDS:-$(sized 5 1)}"
prom_port=$(free_port) ours_port=$(free_port) vm_port=$(free_port)
start_vm() { start_victoria_metrics "$1" "$vm_port" "$work/vm.log"; }
# A config file means pushes need a token, as in production: each agent is a node of its own,
# with its own token (`--token bench-secret-{agent}`), as the agents of a fleet are.
agents=$(awk '{ for (i = 1; i < NF; i++) if ($i == "--agents") n = $(i + 1) } END { print n }' <<<"${load[*]}")
{
    printf 'storage:\n  maintenance_interval: 10s\nnodes:\n'
    for agent in $(seq 0 $((agents - 1))); do
        printf '  - {name: bench-%d, token_env: BENCH_TOKEN_%d}\n' "$agent" "$agent"
        export "BENCH_TOKEN_$agent=bench-secret-$agent"
    done
} >"$work/tw.yml"
BENCH_TOKEN='bench-secret-{agent}'
rate() { grep -o 'durable ingest: [0-9]*' "$1" | grep -o '[0-9]*$'; }

for round in $(seq 2 "$rounds"); do
    rm -rf "$work/speed"
    prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/speed/prom" \
        --web.listen-address="127.0.0.1:$prom_port" >"$work/speed.log" 2>&1 &
    pid=$!
    wait_ready "127.0.0.1:$prom_port/-/ready"
    "$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$prom_port/api/v1/write" "${load[@]}" >"$work/prom-$round.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true; sync
    "$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$ours_port" --data-dir "$work/speed/tw" >"$work/speed.log" 2>&1 &
    pid=$!
    wait_ready "127.0.0.1:$ours_port/-/ready"
    "$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$ours_port/api/v1/write" --token "$BENCH_TOKEN" "${load[@]}" >"$work/tw-$round.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true; sync
    start_vm "$work/speed/vm"
    "$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$vm_port/api/v1/write" "${load[@]}" >"$work/vm-$round.txt"
    kill -INT "$vm_pid"; wait "$vm_pid" 2>/dev/null || true; sync
    echo "round $round: prometheus $(rate "$work/prom-$round.txt"), victoriametrics $(rate "$work/vm-$round.txt"), tokenwatt $(rate "$work/tw-$round.txt") samples/s"
done
rm -rf "$work/speed"

echo "== Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') remote-write receiver"
prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
prom_pid=$!
wait_ready "127.0.0.1:$prom_port/-/ready"
"$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$prom_port/api/v1/write" --data-dir "$work/prom" "${load[@]}" | tee "$work/prom.txt"
if [ -z "${BENCH_SMOKE:-}" ]; then
    echo "waiting for Prometheus to compact its head (it checks once a minute)..."
    for _ in $(seq 1 36); do ls "$work"/prom/01* >/dev/null 2>&1 && break; sleep 5; done
    sleep 5
fi
prom_compacted=$(du -sb "$work/prom" | cut -f1)
echo "after compaction: $prom_compacted bytes ($(ls -d "$work"/prom/01* 2>/dev/null | wc -l) block(s))"
kill "$prom_pid"; wait "$prom_pid" 2>/dev/null || true; sync

echo "== VictoriaMetrics (Debian's victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null))"
start_vm "$work/vm"
"$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$vm_port/api/v1/write" --data-dir "$work/vm" "${load[@]}" | tee "$work/vm.txt"
curl -sf "127.0.0.1:$vm_port/internal/force_flush" >/dev/null
curl -sf "127.0.0.1:$vm_port/internal/force_merge" >/dev/null
sleep "$(sized 20 1)"
kill -INT "$vm_pid"; wait "$vm_pid" 2>/dev/null || true; sync
vm_compacted=$(du -sb "$work/vm" | cut -f1)
echo "after force_flush, force_merge and a clean stop: $vm_compacted bytes"

echo "== tokenwatt-aggregator"
# Defaults, except that maintenance (rollups, compaction) runs every 10 s instead of every minute,
# so that the wait for compaction is short; it does the same work either way.
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$ours_port" --data-dir "$work/tw" >"$work/tw.log" 2>&1 &
tw_pid=$!
wait_ready "127.0.0.1:$ours_port/-/ready"
"$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$ours_port/api/v1/write" --token "$BENCH_TOKEN" --data-dir "$work/tw" "${load[@]}" | tee "$work/tw.txt"
echo "waiting for the aggregator to flush its head into chunks..."
compacted() { curl -sf "127.0.0.1:$ours_port/metrics" | awk '/^tokenwatt_aggregator_compacted_samples_total /{print $2}'; }
previous=-1 now=$(compacted)
for _ in $(seq 1 "$(sized 30 0)"); do
    now=$(compacted)
    [ "$now" != 0 ] && [ "$now" = "$previous" ] && break
    previous=$now; sleep 12
done
echo "compacted samples: $now"
# Flushes (chunks and rollups) of this load ran in the background after it; their cost, from the log:
awk '/maintenance round/ { for (i = 1; i <= NF; i++) if ($i ~ /^seconds=/) { split($i, kv, "="); total += kv[2]; rounds++ } }
     END { printf "maintenance after the load: %d rounds, %.1f s in all (flushes of the head into chunks and rollups)\n", rounds, total }' "$work/tw.log"
kill -TERM "$tw_pid"; wait "$tw_pid" 2>/dev/null || true
tw_closed=$(du -sb "$work/tw" | cut -f1)
echo "after compaction and a clean shutdown (WAL checkpointed): $tw_closed bytes"
# Where the bytes are, table by table and index by index (SQLite's dbstat): the pages each
# takes, the payload in them, the rest page overhead (headers, cell pointers, unused room);
# then the free pages and every file in the data folder.
python3 - "$work/tw" <<'PY'
import os, sqlite3, sys
folder = sys.argv[1]
db = sqlite3.connect(os.path.join(folder, "tokenwatt.sqlite"))
page = db.execute("PRAGMA page_size").fetchone()[0]
print(f"  {'table or index':28} {'bytes':>12} {'payload':>12} {'overhead':>10}")
for name, size, payload in db.execute("SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC"):
    if size:
        print(f"  {name:28} {size:>12} {payload:>12} {size - payload:>10}")
print(f"  {'free pages':28} {db.execute('PRAGMA freelist_count').fetchone()[0] * page:>12}")
for file in sorted(os.listdir(folder)):
    print(f"  file {file:23} {os.path.getsize(os.path.join(folder, file)):>12}")
PY

samples=$(grep -o '= [0-9]* samples' "$work/tw.txt" | grep -o '[0-9]*')
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cp "$work/prom.txt" "$work/prom-1.txt"; cp "$work/vm.txt" "$work/vm-1.txt"; cp "$work/tw.txt" "$work/tw-1.txt"
p=$(for f in "$work"/prom-*.txt; do rate "$f"; done | median)
v=$(for f in "$work"/vm-*.txt; do rate "$f"; done | median)
t=$(for f in "$work"/tw-*.txt; do rate "$f"; done | median)
echo
echo "== side by side ($samples samples; ingest: median of $rounds rounds each)"
awk -v p="$p" -v v="$v" -v t="$t" -v pb="$prom_compacted" -v vb="$vm_compacted" -v tb="$tw_closed" -v n="$samples" 'BEGIN {
    printf "ingest samples/s      prometheus %10d   victoriametrics %10d   tokenwatt %10d   ratio %.2fx / %.2fx\n", p, v, t, t / p, t / v
    printf "bytes/sample on disk  prometheus %10.2f   victoriametrics %10.2f   tokenwatt %10.2f   ratio %.2fx / %.2fx  (each compacted)\n", \
        pb / n, vb / n, tb / n, (tb / n) / (pb / n), (tb / n) / (vb / n)
}'
