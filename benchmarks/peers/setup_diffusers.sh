#!/usr/bin/env bash
# Create (idempotently) the virtualenv of the peer library diffusers for benchmarks/bench_diffusion_speed.py.
#
#   bash benchmarks/peers/setup_diffusers.sh            # venv in /work/venvs/diffusers (or $VENV)
#
# torch==2.13.0 (CPU build) is installed FIRST, so diffusers never pulls another torch; the
# genzoo library itself never imports diffusers (only the peer script run in this venv does).
set -euo pipefail

VENV="${VENV:-/work/venvs/diffusers}"
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
peer_venv "$VENV" 'import diffusers' diffusers
"$VENV/bin/python" -c 'import torch, diffusers; print("diffusers venv ok: torch", torch.__version__, "| diffusers", diffusers.__version__)'
