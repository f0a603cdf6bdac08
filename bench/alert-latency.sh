#!/usr/bin/env bash
# Issue 5's figure: a token burst reported at an agent until the budget's signed webhook is
# received, release builds on loopback. The agent collects and pushes every second (the push
# interval); the aggregator evaluates budgets as pushes arrive. 20 trials, p50 and p99.
# Target: at most 2 push intervals (2 s).
# Usage: bench/alert-latency.sh [trials]   (BENCH_SMOKE=1: see bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
trials="${1:-$(sized 20 2)}"
bench_build tokenwatt-aggregator tokenwatt-agent tokenwatt-bench
work="$(mktemp -d)"
aggregator_port=$(free_port) agent_port=$(free_port) receiver_port=$(free_port)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

printf 'whsec_%s\n' "$(head -c 24 /dev/urandom | base64)" >"$work/secret"
echo "bench-token" >"$work/token"
{
    echo "listen: 127.0.0.1:$aggregator_port"
    echo "data_dir: $work/data"
    echo "nodes: [{name: bench-node, token_file: $work/token}]"
    echo "receivers: [{name: bench, webhook: {url: \"http://127.0.0.1:$receiver_port/hook\", secret_file: $work/secret}}]"
    echo "budgets:"
    for trial in $(seq 1 "$trials"); do
        echo "  - {name: trial-$trial, match: {team: trial-$trial}, measure: tokens, limit: 1000, thresholds: [1.0], receivers: [bench]}"
    done
} >"$work/aggregator.yml"
printf 'collectors: [memory]\nspool: {directory: %s/agent}\n' "$work" >"$work/agent.yml"

"$bin/tokenwatt-aggregator" --config "$work/aggregator.yml" >"$work/aggregator.log" 2>&1 &
wait_ready "127.0.0.1:$aggregator_port/-/ready"
"$bin/tokenwatt-agent" --config "$work/agent.yml" --listen 127.0.0.1:$agent_port --interval 1s --no-discovery --token-file "$work/token" \
    --aggregator "http://127.0.0.1:$aggregator_port/api/v1/write" >"$work/agent.log" 2>&1 &
wait_ready "127.0.0.1:$agent_port/-/healthy"
"$bin/tokenwatt-bench" alert-latency --agent "http://127.0.0.1:$agent_port/v1/usage" --port "$receiver_port" --trials "$trials"
