#!/usr/bin/env bash
# The README's screenshots of the web overview: an aggregator fed 45 minutes of a simulated
# fleet of 24 nodes (bench/web-fleet.yml, `tokenwatt-bench web --fill-only`), each page taken
# by headless Chromium into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=24
swift build
bin="$(swift build --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/nodes-config.sh
{ cat bench/web-fleet.yml; nodes_config "$nodes" WEB; } >"$work/tw.yml"
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen 127.0.0.1:19482 --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
until curl -sf 127.0.0.1:19482/-/ready >/dev/null; do sleep 0.2; done
"$bin/tokenwatt-bench" web --url http://127.0.0.1:19482 --nodes "$nodes" --token 'web-secret-{node}' --fill-only
sleep 12  # a round of the ledger, the budgets and the advisor (costs.interval 10s)
mkdir -p docs/screenshots
for page in fleet costs budgets advice gateway; do
    path=$([ "$page" = fleet ] && echo "" || echo "$page")
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/chromium" --window-size=1280,1200 \
        --screenshot="docs/screenshots/$page.png" "http://127.0.0.1:19482/$path" 2>/dev/null
done
ls -l docs/screenshots
