#!/usr/bin/env bash
# One commit's aggregator beside another's, in one run on the same machine: for a change that
# must not make things slower (issue 27's redesign). Ingest (`tokenwatt-bench ingest`, the load of
# ingest-vs-prometheus.sh, ROUNDS interleaved pairs, medians), the fleet (`tokenwatt-bench fleet`,
# NODES nodes × 100 series every 10 s for SECONDS_RUN, push latency), and the web overview
# (`tokenwatt-bench web`, WEB_NODES nodes, 45 minutes of history, each page loaded 20 times, ROUNDS
# interleaved rounds).
# Prometheus 2.42's receiver takes the same ingest load in each round, as the peer. Both sides
# are driven by the same tokenwatt-bench (AFTER's).
# Usage: [PARTS="ingest fleet web"] [ROUNDS=5] [NODES=2000] [SECONDS_RUN=30] [WEB_NODES=300] bench/before-after.sh BEFORE_BIN AFTER_BIN
#   e.g. git worktree add /tmp/before 333a77c; (cd /tmp/before && swift build -c release)
#        swift build -c release; bench/before-after.sh /tmp/before/.build/release .build/release
#   (BENCH_SMOKE=1: see bench/common.sh; BEFORE_BIN and AFTER_BIN default to BENCH_BIN there)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
before="${1:-${BENCH_SMOKE:+$BENCH_BIN}}" after="${2:-${BENCH_SMOKE:+$BENCH_BIN}}"
[ -n "$before" ] && [ -n "$after" ] || { echo "usage: bench/before-after.sh BEFORE_BIN AFTER_BIN" >&2; exit 2; }
parts="${PARTS:-ingest fleet web}" rounds="${ROUNDS:-$(sized 5 1)}" nodes="${NODES:-$(sized 2000 10)}" seconds="${SECONDS_RUN:-$(sized 30 4)}"
web_nodes="${WEB_NODES:-$(sized 300 5)}"
interval=$(sized 10 2)
read -ra ingest_size <<<"$(sized "--agents 20 --series 100 --ticks 1200" "--agents 2 --series 10 --ticks 30")"
web_size=(--minutes "$(sized 45 10)" --rounds "$(sized 20 2)")
prom_port=$(free_port) port=$(free_port)
bench="$after/tokenwatt-bench"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/nodes-config.sh
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# start SIDE CONFIG PORT: the SIDE's aggregator on a fresh data directory; sets $pid.
start() {
    rm -rf "$work/data"
    "${!1}/tokenwatt-aggregator" --config "$2" --listen "127.0.0.1:$3" --data-dir "$work/data" >"$work/$1.log" 2>&1 &
    pid=$!
    until curl -sf "127.0.0.1:$3/-/ready" >/dev/null; do
        kill -0 "$pid" 2>/dev/null || { cat "$work/$1.log"; exit 1; }
        sleep 0.1
    done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; sync; }

if [[ " $parts " == *" ingest "* ]]; then
echo "== ingest: ${ingest_size[*]}, $rounds rounds"
{ printf 'storage:\n  maintenance_interval: 10s\n'; nodes_config "${ingest_size[1]}" INGEST; } >"$work/ingest.yml"
load=("${ingest_size[@]}" --interval 10)
rate() { grep -o 'durable ingest: [0-9]*' | grep -o '[0-9]*$'; }
for round in $(seq 1 "$rounds"); do
    rm -rf "$work/prom"
    prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/prom" \
        --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
    pid=$!
    wait_ready "127.0.0.1:$prom_port/-/ready"
    "$bench" ingest --url "http://127.0.0.1:$prom_port/api/v1/write" "${load[@]}" | rate >>"$work/ingest-prometheus"
    stop
    for side in before after; do
        start "$side" "$work/ingest.yml" "$port"
        "$bench" ingest --url "http://127.0.0.1:$port/api/v1/write" --token 'ingest-secret-{agent}' "${load[@]}" | rate >>"$work/ingest-$side"
        stop
    done
    echo "round $round: prometheus $(tail -1 "$work/ingest-prometheus"), before $(tail -1 "$work/ingest-before"), after $(tail -1 "$work/ingest-after") samples/s"
done
fi

if [[ " $parts " == *" fleet "* ]]; then
echo "== fleet: $nodes nodes × 100 series every $interval s for $seconds s"
nodes_config "$nodes" FLEET >"$work/fleet.yml"
for side in before after; do
    start "$side" "$work/fleet.yml" "$port"
    "$bench" fleet --url "http://127.0.0.1:$port/api/v1/write" --nodes "$nodes" --duration "$seconds" --interval "$interval" --token 'fleet-secret-{node}' | tee "$work/fleet-$side"
    awk -v s="$side" '{ printf "%s aggregator CPU: %.1f s, ", s, ($14 + $15) / 100 }' "/proc/$pid/stat"
    awk '/VmHWM/ { printf "peak RSS %d KiB\n", $2 }' "/proc/$pid/status"
    stop
done
fi

if [[ " $parts " == *" web "* ]]; then
echo "== web overview: $web_nodes nodes, ${web_size[1]} minutes of history, $rounds interleaved rounds"
{ cat bench/web-fleet.yml; nodes_config "$web_nodes" WEB; } >"$work/web.yml"
for round in $(seq 1 "$rounds"); do
    for side in before after; do
        start "$side" "$work/web.yml" "$port"
        "$bench" web --url "http://127.0.0.1:$port" --nodes "$web_nodes" --token 'web-secret-{node}' "${web_size[@]}" | tee -a "$work/web-$side"
        stop
    done
done
fi

echo
echo "== side by side"
for side in prometheus before after; do
    [ -f "$work/ingest-$side" ] || continue
    printf 'ingest samples/s, median of %d: %-10s %s\n' "$rounds" "$side" "$(median <"$work/ingest-$side")"
done
for side in before after; do [ -f "$work/fleet-$side" ] && grep -E 'push latency|missing' "$work/fleet-$side" | sed "s/^/fleet $side: /"; done
# Each page's median load, the median over the rounds.
for side in before after; do
    [ -f "$work/web-$side" ] || continue
    awk '/^tokenwatt \// { for (i = 1; i <= NF; i++) if ($i == "median") print $2, $(i + 1) }' "$work/web-$side" | sort -k1,1 -k2,2n |
        awk -v s="$side" '{ v[$1, ++n[$1]] = $2 } END { for (p in n) printf "web %s: %-9s median over %d rounds %.1f ms\n", s, p, n[p], v[p, int((n[p] + 1) / 2)] }' | sort
done
