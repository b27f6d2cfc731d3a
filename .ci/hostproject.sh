#!/usr/bin/env bash
# Builds (once, cached by what they install) the environments of tests/hostproject, the
# second Django project: for NAME (django42 | django60 | latest)
#   host-NAME-pins-*  the project's own requirements only (it runs there uninstrumented)
#   host-NAME-app-*   the same, then `pip install otel-trainerhub` into it, with `pip freeze`
#                     before and after kept beside it for the test that nothing moved.
# The package is re-pointed at this checkout (editable, no deps) on every call.
# Prints NAME_PINS=... NAME_APP=... lines for eval.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TRAINERHUB_CACHE_DIR:-/var/cache/otel-trainerhub}
name=$1
case "$name" in
  django42) python=python3.11; requirements=$ROOT/tests/hostproject/requirements-django42.txt ;;
  django60) python=python3.12; requirements=$ROOT/tests/hostproject/requirements-django60.txt ;;
  latest) python=python3.13; requirements=$ROOT/tests/hostproject/requirements-latest.txt ;;
  *) echo "hostproject.sh: NAME must be django42, django60 or latest, not '$name'" >&2; exit 2 ;;
esac
# pyenv's shims answer for every version but run only the selected one: take the
# interpreter itself from pyenv's versions where it has one.
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"${python#python}".*/bin/python; do
  [ -x "$candidate" ] && python=$candidate && break
done
"$python" -c 'import sys' 2>/dev/null || { echo "hostproject.sh: $python not found (pyenv versions: $(ls "$HOME/.pyenv/versions" 2>/dev/null | tr '\n' ' '))" >&2; exit 1; }

pins_key=$(cat "$requirements" | sha256sum | cut -c1-16)
app_key=$(cat "$requirements" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
pins=$CACHE/host-$name-pins-$pins_key
app=$CACHE/host-$name-app-$app_key

if [ ! -f "$pins/.complete" ]; then
  echo "hostproject: creating $pins" >&2
  rm -rf "$pins"; mkdir -p "$CACHE"
  "$python" -m venv "$pins"
  "$pins/bin/pip" install -q -r "$requirements" >&2
  touch "$pins/.complete"
fi
if [ ! -f "$app/.complete" ]; then
  echo "hostproject: creating $app" >&2
  rm -rf "$app"
  "$python" -m venv "$app"
  "$app/bin/pip" install -q -r "$requirements" >&2
  "$app/bin/pip" freeze --all --exclude-editable > "$app/freeze-before.txt"
  "$app/bin/pip" install -q -e "$ROOT" >&2
  "$app/bin/pip" freeze --all --exclude-editable > "$app/freeze-after.txt"
  touch "$app/.complete"
fi
"$app/bin/pip" install -q --no-deps -e "$ROOT" >&2 2>/dev/null
echo "HOST_${name^^}_PINS=$pins"
echo "HOST_${name^^}_APP=$app"
