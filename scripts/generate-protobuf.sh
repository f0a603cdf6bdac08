#!/usr/bin/env bash
# Regenerates the committed Swift code of every .proto under Sources/TokenWattCore: remote write
# 1.0 and 2.0 (RemoteWrite/Proto/remote.proto, remote_v2.proto) and OTLP metrics export (OTLP/Proto/otlp_metrics.proto).
# Needs protoc (Debian: protobuf-compiler); builds protoc-gen-swift from the swift-protobuf
# version that Package.swift pins, so the generated code matches the runtime library.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product protoc-gen-swift
plugin="$(swift build --show-bin-path)/protoc-gen-swift"
for proto in Sources/TokenWattCore/RemoteWrite/Proto/remote.proto Sources/TokenWattCore/RemoteWrite/Proto/remote_v2.proto \
        Sources/TokenWattCore/OTLP/Proto/otlp_metrics.proto; do
    proto_dir="$(dirname "$proto")"
    protoc --plugin=protoc-gen-swift="$plugin" \
        --swift_opt=Visibility=Public \
        --swift_out="$proto_dir" \
        --proto_path="$proto_dir" \
        "$proto"
    echo "wrote ${proto%.proto}.pb.swift"
done
