#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Python venv with pinned deps, Node deps for the local stack (with patches).
# Re-running is cheap: each step is skipped when the stamp of its inputs has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

die() { echo "bootstrap: $*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

command -v "$PY" >/dev/null || die "no $PY on PATH: install Python 3.11"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || die "Python 3.11 is required (found $("$PY" --version 2>&1))"
command -v node >/dev/null || die "no node on PATH: install Node 20 (apt-get install nodejs npm)"
command -v npm >/dev/null || die "no npm on PATH: install npm"

mkdir -p var
py_stamp=$(stamp_of requirements.txt requirements-dev.txt)
if [[ ! -x .venv/bin/python || "$(cat .venv/.stamp 2>/dev/null)" != "$py_stamp" ]]; then
  echo "bootstrap: creating .venv and installing Python dependencies..."
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt \
    || die "pip install failed (see above); check the registry is reachable"
  echo "$py_stamp" > .venv/.stamp
fi

node_stamp=$(stamp_of local/node/package.json local/node/package-lock.json local/node/patches/*.patch)
if [[ ! -d local/node/node_modules || "$(cat local/node/node_modules/.stamp 2>/dev/null)" != "$node_stamp" ]]; then
  echo "bootstrap: installing Node dependencies for the local stack (Azurite, Cosmos server)..."
  (cd local/node && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in local/node (see above)"
  echo "$node_stamp" > local/node/node_modules/.stamp
fi
echo "bootstrap: ready"
