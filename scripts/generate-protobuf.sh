#!/usr/bin/env bash
# Regenerates Sources/TokenWattCore/RemoteWrite/Proto/remote.pb.swift from remote.proto.
# Needs protoc (Debian: protobuf-compiler); builds protoc-gen-swift from the swift-protobuf
# version that Package.swift pins, so the generated code matches the runtime library.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product protoc-gen-swift
plugin="$(swift build --show-bin-path)/protoc-gen-swift"
proto_dir=Sources/TokenWattCore/RemoteWrite/Proto
protoc --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public \
    --swift_out="$proto_dir" \
    --proto_path="$proto_dir" \
    "$proto_dir/remote.proto"
echo "wrote $proto_dir/remote.pb.swift"
