#!/usr/bin/env bash
# Builds the TrainerHub collector from builder-config.yaml with the OpenTelemetry Collector
# Builder, reproducibly (-trimpath, no VCS stamping) and cached: the binary is kept under
# $TRAINERHUB_CACHE_DIR keyed by the manifest's hash, so a warm run is a copy.
# Prints the path of the binary on its last line.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${TRAINERHUB_CACHE_DIR:-/var/cache/otel-trainerhub}
BUILDER_VERSION=v0.161.0
key=$( (cat "$HERE/builder-config.yaml"; echo "$BUILDER_VERSION"; go version) | sha256sum | cut -c1-16)
out="$CACHE/otelcol-trainerhub-$key"
if [ ! -x "$out" ]; then
  mkdir -p "$CACHE"
  export GOBIN="$CACHE/gobin" GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0
  if [ ! -x "$GOBIN/builder-$BUILDER_VERSION" ]; then
    go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
    mv "$GOBIN/builder" "$GOBIN/builder-$BUILDER_VERSION"
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  sed "s#output_path: ./_build#output_path: $work/dist#" "$HERE/builder-config.yaml" > "$work/builder-config.yaml"
  started=$(date +%s)
  "$GOBIN/builder-$BUILDER_VERSION" --config "$work/builder-config.yaml" >&2
  cp "$work/dist/otelcol-trainerhub" "$out.tmp" && mv "$out.tmp" "$out"
  echo "collector: built in $(( $(date +%s) - started ))s" >&2
fi
echo "$out"
