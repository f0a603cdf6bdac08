#!/usr/bin/env bash
# Installs TokenWatt on a systemd distribution without .deb packages (Fedora, RHEL, Arch, ...):
# binaries, units, default configs (kept when present), system users and state directories,
# the units enabled. Run as root from a clone after a release build, or give --bin.
# Usage: deploy/install.sh [agent|gateway|aggregator|both|all] [--bin DIR] [--root DIR]
#   both: the agent and the aggregator (a single host); all: the gateway too.
#   --root DIR installs under DIR (a staging tree: no users, nothing enabled).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
role="both" bin="" root=""
while [ $# -gt 0 ]; do
    case "$1" in
        agent|gateway|aggregator|both|all) role="$1"; shift ;;
        --bin) bin="$2"; shift 2 ;;
        --root) root="$2"; shift 2 ;;
        *) echo "usage: $0 [agent|gateway|aggregator|both|all] [--bin DIR] [--root DIR]" >&2; exit 2 ;;
    esac
done
[ -n "$bin" ] || bin="$(cd "$here/.." && swift build -c release --show-bin-path)"

# install_role NAME USER STATE CONFIG BINARIES...
install_role() {
    local name="$1" user="$2" state="$3" config="$4"
    shift 4
    for binary in "$@"; do
        [ -x "$bin/$binary" ] || { echo "$bin/$binary not found: build with swift build -c release first" >&2; exit 1; }
        install -D -m 0755 "$bin/$binary" "$root/usr/local/bin/$binary"
    done
    sed "s|/usr/bin/|/usr/local/bin/|g" "$here/systemd/$name.service" | install -D -m 0644 /dev/stdin "$root/etc/systemd/system/$name.service"
    # An existing config is the operator's: never overwritten.
    [ -e "$root/etc/tokenwatt/$config" ] || install -D -m 0640 "$here/package/$config" "$root/etc/tokenwatt/$config"
    install -d -m 0750 "$root/var/lib/$state"
    # The gateway's first caller gets a random key of its own (the packages' postinst does the same).
    if [ "$name" = tokenwatt-gateway ] && [ ! -e "$root/etc/tokenwatt/gateway-caller.key" ]; then
        (umask 027 && printf 'sk-tw-%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$root/etc/tokenwatt/gateway-caller.key")
        [ -n "$root" ] || chgrp "$user" /etc/tokenwatt/gateway-caller.key
    fi
    if [ -z "$root" ]; then
        getent group "$user" >/dev/null || groupadd --system "$user"
        getent passwd "$user" >/dev/null || useradd --system --gid "$user" --home-dir "/var/lib/$state" --shell /usr/sbin/nologin "$user"
        chown "$user:$user" "/var/lib/$state"
        chgrp "$user" "/etc/tokenwatt/$config"
        systemctl daemon-reload
        systemctl enable --now "$name.service"
    fi
    echo "installed $name (config /etc/tokenwatt/$config)"
}

case "$role" in agent|both|all) install_role tokenwatt-agent tokenwatt-agent tokenwatt-agent agent.yml tokenwatt-agent ;; esac
case "$role" in gateway|all) install_role tokenwatt-gateway tokenwatt-gateway tokenwatt-gateway gateway.yml tokenwatt-gateway ;; esac
case "$role" in aggregator|both|all) install_role tokenwatt-aggregator tokenwatt tokenwatt aggregator.yml tokenwatt-aggregator tokenwatt ;; esac
