#!/usr/bin/env bash
# Creates .venv with the backend's pinned dependencies and the test tools, from pyproject.toml.
# Idempotent: re-running only installs what changed. Usage: scripts/setup_env.sh [--gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
extras="backend,test"
[ "${1:-}" = "--gpu" ] && extras="backend,test,gpu"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.smplpix-$(sha1sum pyproject.toml | cut -c1-12)-$extras"
if [ ! -f "$stamp" ]; then
  # torch==2.13.0 resolves to the CPU build; the gpu extra adds onnxruntime-gpu (install CUDA torch first).
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
# Anny builds its model data once (~1-3 min, cached under ~/.cache/anny); do it here, not in every test.
.venv/bin/python -m backend bodymodel warmup
