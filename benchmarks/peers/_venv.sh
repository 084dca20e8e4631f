# Sourced by the setup_*.sh scripts: one idempotent recipe for a peer library's virtualenv.
#
#   peer_venv VENV CHECK PACKAGE...
#
# Creates VENV if needed, installs torch==2.13.0 (the CPU build) FIRST so the peer's own torch
# requirement is already met and pip never pulls CUDA wheels, then installs PACKAGE... (torch
# pinned on the same line as a guard) unless the Python snippet CHECK already exits 0 in VENV.

peer_venv() {
    local venv="$1" check="$2"
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    local pip=("$venv/bin/python" -m pip install --quiet)
    if ! "$venv/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
        "${pip[@]}" torch==2.13.0
    fi
    if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
        "${pip[@]}" torch==2.13.0 "$@"
    fi
}
