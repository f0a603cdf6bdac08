#!/usr/bin/env bash
# Installs the Debian packages TokenWatt builds against and the peers its tests run beside,
# only those that are missing. Swift itself must already be installed (swift.org toolchain).
set -euo pipefail
build=(libsqlite3-dev libsystemd-dev libsnappy-dev zlib1g-dev pkg-config curl)
peers=(openssl prometheus victoria-metrics prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway python3 python3-venv systemd adduser init-system-helpers mount chromium fonts-liberation)
wanted=("${build[@]}")
[ "${1:-}" = "--with-test-peers" ] && wanted+=("${peers[@]}")
missing=()
for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain first" >&2; exit 1; }
if [ "${1:-}" = "--with-test-peers" ]; then
    # Independent clients the tests check against (PyPI), in a virtual environment of their own:
    # webhook signatures, bcrypt, Prometheus' client, the OpenAI and Anthropic SDKs the
    # gateway must serve as their own APIs do, and OpenTelemetry's SDK with its OTLP/HTTP
    # exporters and the official OpenAI instrumentation (one release set that works together:
    # the JSON exporter is a beta that pins the SDK's shared parts; the instrumentation's 2.4b0
    # imports a module no released opentelemetry-util-genai has, and it wraps with wrapt 1's API).
    venv="$(dirname "$0")/../.build/test-venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    otel=(opentelemetry-sdk==1.45.1 opentelemetry-exporter-otlp-proto-http==1.45.1 opentelemetry-exporter-otlp-json-http==0.66b1
          opentelemetry-instrumentation==0.66b1 opentelemetry-instrumentation-openai-v2==2.3b0 "wrapt<2" httpx)
    "$venv/bin/python" -c "import standardwebhooks, bcrypt, prometheus_client, openai, anthropic
import opentelemetry.exporter.otlp.json.http, opentelemetry.exporter.otlp.proto.http, opentelemetry.instrumentation.openai_v2" 2>/dev/null ||
        "$venv/bin/pip" install -q standardwebhooks bcrypt prometheus_client openai anthropic "${otel[@]}"
    # The peer of the gateway benchmark, which the tests run in its smoke mode.
    "$(dirname "$0")/../bench/litellm-venv.sh" >/dev/null
fi
