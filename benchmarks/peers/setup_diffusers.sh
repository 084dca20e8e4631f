#!/usr/bin/env bash
# Create (idempotently) the virtualenv of the peer library diffusers for benchmarks/bench_diffusion_speed.py.
#
#   bash benchmarks/peers/setup_diffusers.sh            # venv in /work/venvs/diffusers (or $VENV)
#
# torch==2.13.0 (CPU build) is installed FIRST, so diffusers never pulls another torch; the
# genzoo library itself never imports diffusers (only the peer script run in this venv does).
set -euo pipefail

VENV="${VENV:-/work/venvs/diffusers}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    "${PIP[@]}" torch==2.13.0
fi
if ! "$VENV/bin/python" -c 'import diffusers' 2>/dev/null; then
    "${PIP[@]}" torch==2.13.0 diffusers
fi
"$VENV/bin/python" -c 'import torch, diffusers; print("diffusers venv ok: torch", torch.__version__, "| diffusers", diffusers.__version__)'
