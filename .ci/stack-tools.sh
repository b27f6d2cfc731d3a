#!/usr/bin/env bash
# Installs what the local stack runs besides PostgreSQL and Redis, idempotently and cached:
# Prometheus, Alertmanager, the node, Redis, PostgreSQL and blackbox exporters, nginx (the
# TLS front), openssl, wrk, and Chromium with its driver (the browser tests) from Debian's packages; the TrainerHub collector and Jaeger v2 built from source
# (collector/build.sh, collector/build-jaeger.sh; cached binaries keyed by their manifests).
# Prints OTELCOL_BIN=... and JAEGER_BIN=... lines for `eval`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
need=()
for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
            prometheus-node-exporter:prometheus-node-exporter prometheus-redis-exporter:prometheus-redis-exporter \
            prometheus-postgres-exporter:prometheus-postgres-exporter \
            prometheus-blackbox-exporter:prometheus-blackbox-exporter wrk:wrk nginx:nginx openssl:openssl \
            chromium:chromium chromedriver:chromium-driver; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "stack-tools: installing ${need[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
echo "OTELCOL_BIN=$(bash "$ROOT/collector/build.sh" | tail -1)"
echo "JAEGER_BIN=$(bash "$ROOT/collector/build-jaeger.sh" | tail -1)"
