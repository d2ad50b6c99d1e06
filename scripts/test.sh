#!/usr/bin/env bash
# The README's test command: sets up a fresh machine (idempotent), checks style and types, then runs the whole
# suite. The tests start and stop the local stack themselves (Azurite, the Cosmos server, the local ingestion
# endpoint, the local host).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "test: ruff (style) and mypy (types) ..."
.venv/bin/ruff check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
