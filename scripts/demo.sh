#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the main job (scripts/demo.py; arguments pass through).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh || exit 1
exec .venv/bin/python scripts/demo.py "$@"
