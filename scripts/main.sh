#!/usr/bin/env bash
# The README's main command: sets up a fresh machine (idempotent), then runs the main job end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m local.mainjob "$@"
