#!/usr/bin/env bash
# Builds the tokenwatt-agent, tokenwatt-gateway and tokenwatt-aggregator .deb packages with dpkg-deb.
# Usage: deploy/package/build-debs.sh [--bin DIR] [--out DIR] [--version X.Y.Z] [--compression xz|gzip|none]
# Without --bin it makes a release build (static Swift runtime, so the packages depend only on
# the system libraries listed in Depends).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="" out="$root/.build/packages" version="0.1.0" compression="xz"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --compression) compression="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --product tokenwatt-agent &&
        swift build -c release --static-swift-stdlib --product tokenwatt-gateway &&
        swift build -c release --static-swift-stdlib --product tokenwatt-aggregator &&
        swift build -c release --static-swift-stdlib --product tokenwatt)
    bin="$(cd "$root" && swift build -c release --show-bin-path)"
fi
arch="$(dpkg --print-architecture)"
mkdir -p "$out"

# package NAME ROLE USER STATE CONFIG DEPENDS BINARIES...
package() {
    local name="$1" role="$2" user="$3" state="$4" config="$5" depends="$6"
    shift 6
    local stage
    stage="$(mktemp -d)"
    chmod 0755 "$stage"
    install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/tokenwatt" "$stage/usr/share/doc/$name"
    for binary in "$@"; do install -m 0755 "$bin/$binary" "$stage/usr/bin/$binary"; done
    install -m 0644 "$root/deploy/systemd/$name.service" "$stage/lib/systemd/system/$name.service"
    install -m 0644 "$here/$config" "$stage/etc/tokenwatt/$config"
    install -m 0644 "$root/README.md" "$stage/usr/share/doc/$name/README.md"
    echo "/etc/tokenwatt/$config" >"$stage/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        sed -e "s|@PACKAGE@|$name|g; s|@USER@|$user|g; s|@STATE@|$state|g; s|@CONFIG@|$config|g; s|@UNIT@|$name.service|g; s|@ROLE@|$role|g" \
            "$here/$script" >"$stage/DEBIAN/$script"
        chmod 0755 "$stage/DEBIAN/$script"
    done
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: TokenWatt <tokenwatt@example.com>
Depends: $depends, adduser, init-system-helpers
Section: net
Priority: optional
Installed-Size: $(du -sk "$stage" | cut -f1)
Homepage: https://github.com/tokenwatt/tokenwatt
Description: TokenWatt $role
 TokenWatt measures what an AI inference fleet produces and burns: tokens, watts,
 utilisation and money per node, GPU and model, against the cloud price of the same tokens.
CONTROL
    dpkg-deb --root-owner-group -Z"$compression" --build "$stage" "$out/${name}_${version}_${arch}.deb" >/dev/null
    rm -rf "$stage"
    echo "$out/${name}_${version}_${arch}.deb"
}

package tokenwatt-agent "agent" tokenwatt-agent tokenwatt-agent agent.yml "libc6, libsqlite3-0, libsnappy1v5, libsystemd0" tokenwatt-agent
package tokenwatt-gateway "metering gateway" tokenwatt-gateway tokenwatt-gateway gateway.yml "libc6, libsqlite3-0, libsnappy1v5, libsystemd0" tokenwatt-gateway
package tokenwatt-aggregator "aggregator" tokenwatt tokenwatt aggregator.yml "libc6, libsqlite3-0, libsnappy1v5, libsystemd0" tokenwatt-aggregator tokenwatt
