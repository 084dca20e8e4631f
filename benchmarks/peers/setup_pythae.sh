#!/usr/bin/env bash
# Create (idempotently) the virtualenv used to benchmark the peer library pythae.
#
#   bash benchmarks/peers/setup_pythae.sh [VENV_DIR]
#
# Venv: VENV_DIR, default <repo>/.venv-pythae (git-ignored); on the shared development machine
# peers live under /work/venvs/ (bash benchmarks/peers/setup_pythae.sh /work/venvs/pythae). torch==2.13.0 (CPU build) is
# installed FIRST, so pythae's "torch>=1.10.1" is already satisfied and pip
# never pulls the CUDA wheels. A plain install of pythae==0.1.2 does not try to
# change torch (checked with --dry-run), so no --no-deps is needed; torch is
# still pinned on the same command line as a guard.
#
# Installed when this was last run (Python 3.11.7):
#   torch 2.13.0+cpu, pythae 0.1.2, numpy 2.4.6, scipy 1.17.1,
#   pydantic 2.14.3, scikit-learn 1.9.1, cloudpickle 3.1.2, imageio 2.38.1,
#   tqdm 4.70.1, dataclasses 0.6 (unused backport; stdlib one wins on 3.11)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$REPO/.venv-pythae}"
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
peer_venv "$VENV" 'import importlib.metadata as m, sys; sys.exit(m.version("pythae") != "0.1.2")' pythae==0.1.2

"$VENV/bin/python" -c 'import torch, pythae, numpy; print("pythae venv ok:", "torch", torch.__version__, "| pythae", pythae.__version__ if hasattr(pythae, "__version__") else "0.1.2", "| numpy", numpy.__version__)'
