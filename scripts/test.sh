#!/usr/bin/env bash
# Installs what is missing (build libraries and the real peers: Prometheus, node_exporter,
# promtool), builds everything once, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh --with-test-peers
swift build --build-tests
swift test --skip-build
