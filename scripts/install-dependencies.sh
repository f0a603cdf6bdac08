#!/usr/bin/env bash
# Installs the Debian packages TokenWatt builds against and the peers its tests run beside,
# only those that are missing. Swift itself must already be installed (swift.org toolchain).
set -euo pipefail
build=(libsqlite3-dev libsystemd-dev libsnappy-dev pkg-config curl)
peers=(prometheus prometheus-node-exporter python3)
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
