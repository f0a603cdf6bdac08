#!/usr/bin/env bash
# Installs the Debian packages TokenWatt builds against and the peers its tests run beside,
# only those that are missing. Swift itself must already be installed (swift.org toolchain).
set -euo pipefail
build=(libsqlite3-dev libsystemd-dev libsnappy-dev zlib1g-dev pkg-config curl)
peers=(openssl prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway python3 python3-venv systemd adduser init-system-helpers mount chromium fonts-liberation)
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
    # webhook signatures, bcrypt, Prometheus' client, and the OpenAI and Anthropic SDKs the
    # gateway must serve as their own APIs do.
    venv="$(dirname "$0")/../.build/test-venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -c "import standardwebhooks, bcrypt, prometheus_client, openai, anthropic" 2>/dev/null ||
        "$venv/bin/pip" install -q standardwebhooks bcrypt prometheus_client openai anthropic
    # The peer of the gateway benchmark, which the tests run in its smoke mode.
    "$(dirname "$0")/../bench/litellm-venv.sh" >/dev/null
fi
