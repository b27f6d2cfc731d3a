#!/usr/bin/env bash
# Creates (once) the Python environment for otel-trainerhub and links it as .venv.
# The environment is cached outside the checkout, keyed by pyproject.toml, so a fresh
# clone on the same machine reuses it; the package itself is installed editable from
# this checkout on every run (a few seconds).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
key=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
CACHE=${TRAINERHUB_CACHE_DIR:-/var/cache/otel-trainerhub}
VENV=${TRAINERHUB_VENV:-$CACHE/venv-$key}
PYTHON=${PYTHON:-python3}

if [ ! -f "$VENV/.complete" ]; then
  echo "setup: creating $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "$ROOT[dev]"
  touch "$VENV/.complete"
fi
"$VENV/bin/pip" install -q --no-deps -e "$ROOT" 2>/dev/null
ln -sfn "$VENV" "$ROOT/.venv"
echo "setup: python environment at $ROOT/.venv -> $VENV"
