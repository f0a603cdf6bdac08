#!/usr/bin/env bash
# The docs' screenshots of the web overview: an aggregator fed 45 minutes of a simulated fleet
# of 24 nodes (bench/web-fleet.yml, `tokenwatt-bench web --fill-only`), each page checked by
# scripts/layout-check.js and taken by headless Chromium at 1,280 and 1,920 pixels wide into
# docs/screenshots/PAGE-WIDTH.png. Exits 1 when a page breaks a layout rule.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=24
swift build
bin="$(swift build --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/nodes-config.sh
. bench/common.sh
port="$(free_port)"
{ cat bench/web-fleet.yml; nodes_config "$nodes" WEB; } >"$work/tw.yml"
"$bin/tokenwatt-aggregator" --config "$work/tw.yml" --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/aggregator.log" 2>&1 &
until curl -sf "127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.2; done
"$bin/tokenwatt-bench" web --url "http://127.0.0.1:$port" --nodes "$nodes" --token 'web-secret-{node}' --fill-only
sleep 12  # a round of the ledger, the budgets and the advisor (costs.interval 10s)
mkdir -p docs/screenshots
chrome() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/chromium" "$@" 2>/dev/null; }
failed=0
for page in fleet costs budgets advice gateway; do
    path=$([ "$page" = fleet ] && echo "" || echo "$page")
    curl -sf "http://127.0.0.1:$port/$path" | python3 -c 'import sys; page = sys.stdin.read(); script = open("scripts/layout-check.js").read(); sys.stdout.write(page.replace("</body>", "<script>" + script + "</script></body>"))' >"$work/$page.html"
    for size in 1280,800 1920,1080; do
        width="${size%,*}"
        report="$(chrome --window-size="$size" --dump-dom "file://$work/$page.html" | sed -n 's:.*<pre id="layout-report">\(.*\)</pre>.*:\1:p')"
        echo "$page at $size: $report"
        python3 -c 'import json, sys; r = json.loads(sys.argv[1].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")); sys.exit(1 if r["wide"] or r["svgText"] or r["timeAxes"] or r["iso"] else 0)' "$report" || failed=1
        chrome --window-size="$width,1400" --screenshot="docs/screenshots/$page-$width.png" "http://127.0.0.1:$port/$path"
    done
done
ls -l docs/screenshots
exit "$failed"
