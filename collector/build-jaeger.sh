#!/usr/bin/env bash
# Builds Jaeger v2 (all-in-one: collector, query API and UI, in-memory storage) from the
# tools module in collector/jaeger, reproducibly (-trimpath, no VCS stamping) and cached:
# the binary is kept under $TRAINERHUB_CACHE_DIR keyed by go.mod, go.sum and the Go
# version, so a warm run is a stat. Prints the path of the binary on its last line.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/jaeger" && pwd)
CACHE=${TRAINERHUB_CACHE_DIR:-/var/cache/otel-trainerhub}
key=$( (cat "$HERE/go.mod" "$HERE/go.sum"; go version) | sha256sum | cut -c1-16)
out="$CACHE/jaeger-$key"
if [ ! -x "$out" ]; then
  mkdir -p "$CACHE"
  started=$(date +%s)
  (cd "$HERE" && CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" \
     go build -ldflags="-s -w" -o "$out.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) >&2
  mv "$out.tmp" "$out"
  echo "jaeger: built in $(( $(date +%s) - started ))s" >&2
fi
echo "$out"
