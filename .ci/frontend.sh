#!/usr/bin/env bash
# The browser package (frontend/): installs its npm dependencies when package-lock.json
# changed (npm ci; npm's own cache keeps the downloads), builds it with esbuild (the package,
# its Sentry part and the fixture's trainer app; the build fails over the size budget) and,
# with --test, runs its unit tests under node's test runner. Idempotent; about 2 s when warm.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/frontend"
if ! command -v npm >/dev/null; then
  echo "frontend: npm is missing; installing Debian's nodejs and npm" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >&2 \
    || { echo "frontend: could not install Node.js; install Node.js 20 or newer with npm" >&2; exit 1; }
fi
lock=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.trainerhub-lock 2>/dev/null)" != "$lock" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock" > node_modules/.trainerhub-lock
fi
if [ "${1:-}" = "--test" ]; then
  npx --no-install tsc --noEmit -p . >&2
  node build.mjs --test >&2
else
  node build.mjs >&2
fi
