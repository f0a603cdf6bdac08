#!/usr/bin/env bash
# Installs what is missing, builds TokenWatt and runs it on this machine with built-in defaults:
# the aggregator (data in ./tokenwatt-data, local pushes accepted without a token) and an agent
# that samples this machine and pushes to it. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product tokenwatt-aggregator
swift build -c release --product tokenwatt-agent
swift build -c release --product tokenwatt
bin="$(swift build -c release --show-bin-path)"

"$bin/tokenwatt-aggregator" &
aggregator=$!
trap 'kill -TERM $aggregator ${agent:-} 2>/dev/null; wait' EXIT INT TERM
until curl -sf http://127.0.0.1:9470/-/ready >/dev/null; do
    kill -0 $aggregator 2>/dev/null || { echo "the aggregator did not start" >&2; exit 1; }
    sleep 0.2
done
"$bin/tokenwatt-agent" &
agent=$!
cat <<'TEXT'

TokenWatt is running on this machine:
  http://127.0.0.1:9470/metrics   the aggregator: this machine's series, labelled with its node name
  http://127.0.0.1:9471/metrics   the agent's own view (what it samples, its spool and pushes)
  http://127.0.0.1:9470/api/v1/query_range?query=tokenwatt_cpu_utilization_ratio&start=...&end=...&step=15
  http://127.0.0.1:9470/api/v1/tokens?by=model,source   tokens counted (inference servers found on the usual ports)
  http://127.0.0.1:9470/api/v1/costs?by=node            the cost ledger (energy, hardware, cloud-equivalent)
  POST http://127.0.0.1:9471/v1/usage                   report an application's cloud API usage, e.g.
      curl -H 'Content-Type: application/json' 127.0.0.1:9471/v1/usage \
           -d '{"model":"gpt-5-mini","provider":"openai","input_tokens":1200,"output_tokens":300}'
  .build/release/tokenwatt report                       costs in a table
Ctrl-C stops both.
TEXT
wait
