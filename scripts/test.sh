#!/usr/bin/env bash
# Installs what is missing (build libraries and the real peers: Prometheus, VictoriaMetrics,
# Alertmanager, node_exporter, Pushgateway, promtool, Chromium and its fonts, a Python venv with
# standardwebhooks, bcrypt, prometheus_client, the openai and anthropic SDKs and OpenTelemetry's
# SDK, OTLP exporters and OpenAI instrumentation, LiteLLM's proxy from PyPI under
# ~/.cache/tokenwatt-bench: scripts/install-dependencies.sh --with-test-peers), builds everything
# once, and runs every test, and every benchmark in its smoke mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh --with-test-peers
swift build --build-tests
# The gateway's race test (10,000 requests through three gateway replicas) takes both cores for half a
# minute: it runs on its own, after the rest, so that the tests that time things are not
# starved by it.
race="GatewayTests/concurrentRequestsThroughTheGatewayNeverOvershootACap"
# ConnectionLimitTests holds some 600 sockets open in the test process, and under the rest of the
# suite its closes arrived late: it runs on its own too, as does the fleet of 2,000 nodes and
# 2,000 flood sockets behind one address, which takes both cores for a minute.
sockets="ConnectionLimitTests|FleetBehindOneAddressTests"
# The leases' end-to-end tests time things in seconds with real binaries (an aggregator killed for
# 30 s under steady traffic, traffic moving between replicas, a session's rate): among the rest
# of the suite's processes their gateways were starved, so they run on their own too.
leases="LeaseTests"
# Every benchmark in bench/ in its smoke mode (tiny sizes, the binaries just built): each starts
# its peers and takes both cores for a while, so they run last, on their own.
smoke="BenchSmokeTests"
swift test --skip-build --skip "$race" --skip "$sockets" --skip "$leases" --skip "$smoke"
swift test --skip-build --filter "$sockets"
swift test --skip-build --filter "$leases"
swift test --skip-build --filter "$race"
swift test --skip-build --filter "$smoke"
