#!/usr/bin/env bash
# Issue 16's target: every page of the web overview loads in at most 200 ms at 1,000 nodes.
# A simulated fleet (bench/web-fleet.yml: two GPUs a node, four models, queues, idle nodes)
# pushes 45 minutes of history, with a token per node, to the aggregator and to Prometheus's
# remote-write receiver; then each page is loaded 20 times (time to the last byte: the pages
# load nothing else), beside the instant queries a fleet table asks Prometheus of the same
# fleet. Release builds, loopback, the same 2 cores.
# Usage: bench/web-overview.sh [nodes]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:-1000}"
swift build -c release --product tokenwatt-aggregator
swift build -c release --product tokenwatt-bench
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

prometheus --config.file=/dev/null --web.enable-remote-write-receiver --storage.tsdb.path="$work/prom" \
    --web.listen-address=127.0.0.1:19092 >"$work/prom.log" 2>&1 &
until curl -sf 127.0.0.1:19092/-/ready >/dev/null; do sleep 0.2; done
{
    cat bench/web-fleet.yml
    echo "nodes:"
    for node in $(seq 0 $((nodes - 1))); do
        echo "  - {name: node-$node, token_env: WEB_TOKEN_$node}"
        export "WEB_TOKEN_$node=web-secret-$node"
    done
} >"$work/tw.yml"
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen 127.0.0.1:19481 --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
until curl -sf 127.0.0.1:19481/-/ready >/dev/null; do sleep 0.2; done
"$bin/tokenwatt-bench" web --url http://127.0.0.1:19481 --nodes "$nodes" --token 'web-secret-{node}' --peer http://127.0.0.1:19092
