#!/bin/sh
# gen.sh regenerates onnx.pb.go from onnx.proto.
#
# Usage: sh gen.sh [OUTDIR]   (run from internal/onnxpb; `go generate ./internal/onnxpb` does this)
#
# Needs protoc (Debian package protobuf-compiler). The protoc-gen-go plugin is
# built from the google.golang.org/protobuf version pinned in go.mod, so the
# output depends only on the module's requirements and on protoc.
set -eu
out=${1:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" \
	--go_out="$out" --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/a2qtoolkit/a2q/internal/onnxpb \
	onnx.proto
