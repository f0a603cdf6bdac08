#!/usr/bin/env bash
# Installs what is missing, builds TokenWatt and runs the aggregator with built-in defaults:
# http://127.0.0.1:9470/metrics, data in ./tokenwatt-data, local pushes accepted without a token.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product tokenwatt-aggregator
exec "$(swift build -c release --show-bin-path)/tokenwatt-aggregator" "$@"
