#!/usr/bin/env bash
# The full test suite (the README's test command; .ci/run calls exactly this).
# Starts what the tests need (PostgreSQL, Redis), installs and builds what the end-to-end
# tests start (Prometheus and exporters from Debian's packages; the collector and Jaeger
# from source, cached by manifest), sets up Python, runs pytest.
# pytest's exit code passes through: 5 (no tests collected) fails like any other.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash .ci/services.sh
bash .ci/setup.sh
# the browser package: typecheck, build (with its size budget) and its unit tests (node --test)
bash .ci/frontend.sh --test
# tests/hostproject's environments (Django 4.2 pins on 3.11, Django 6.0 on 3.12, the newest Django on 3.13)
bash .ci/hostproject.sh django42 >/dev/null
bash .ci/hostproject.sh django60 >/dev/null
bash .ci/hostproject.sh latest >/dev/null
eval "$(bash .ci/stack-tools.sh)"
export OTELCOL_BIN JAEGER_BIN
exec .venv/bin/python -m pytest "$@"
