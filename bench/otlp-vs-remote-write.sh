#!/usr/bin/env bash
# OTLP ingest beside remote write on the aggregator: the same load (tokenwatt-bench ingest's
# agents, series and rounds) sent as remote write 1.0, remote write 2.0 and OTLP/HTTP exports
# (protobuf, gzip, as the OpenTelemetry Collector sends them), each to a fresh aggregator,
# interleaved over ROUNDS (default 5) rounds; prints each round, then each protocol's median
# samples/s and its ratio to remote write 1.0.
# Usage: [ROUNDS=5] bench/otlp-vs-remote-write.sh [extra tokenwatt-bench ingest options]
#   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_build tokenwatt-aggregator tokenwatt-bench
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
read -ra size <<<"$(sized "--agents 20 --series 100 --ticks 600" "--agents 2 --series 10 --ticks 30")"
load=("${size[@]}" --interval 10 "$@")
rounds="${ROUNDS:-$(sized 5 1)}"
port=$(free_port)
. bench/nodes-config.sh
# Each agent is a node of its own with its own token (`--token bench-secret-{agent}`), as in a fleet.
agents=$(awk '{ for (i = 1; i < NF; i++) if ($i == "--agents") n = $(i + 1) } END { print n }' <<<"${load[*]}")
{ printf 'storage:\n  maintenance_interval: 10s\n'; nodes_config "$agents" BENCH; } >"$work/tw.yml"
rate() { grep -o 'durable ingest: [0-9]*' "$1" | grep -o '[0-9]*$'; }
protocols=(remote-write remote-write-2 otlp)
for round in $(seq 1 "$rounds"); do
    line="round $round:"
    for protocol in "${protocols[@]}"; do
        rm -rf "$work/data"
        "$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
        pid=$!
        wait_ready "127.0.0.1:$port/-/ready"
        path=/api/v1/write
        [ "$protocol" = otlp ] && path=/v1/metrics
        "$bin/tokenwatt-bench" ingest --url "http://127.0.0.1:$port$path" --protocol "$protocol" --token 'bench-secret-{agent}' "${load[@]}" \
            >"$work/$protocol-$round.txt"
        kill "$pid"; wait "$pid" 2>/dev/null || true; sync
        line+=" $protocol $(rate "$work/$protocol-$round.txt")"
    done
    echo "$line samples/s"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(for round in $(seq 1 "$rounds"); do rate "$work/remote-write-$round.txt"; done | median)
echo "== median durable ingest over $rounds rounds ($(grep '^load:' "$work/remote-write-1.txt" | cut -d' ' -f2-))"
for protocol in "${protocols[@]}"; do
    value=$(for round in $(seq 1 "$rounds"); do rate "$work/$protocol-$round.txt"; done | median)
    printf '%-15s %10.0f samples/s  %.2f× remote write 1.0\n' "$protocol" "$value" "$(awk -v v="$value" -v b="$base" 'BEGIN { print v / b }')"
done
