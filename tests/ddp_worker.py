"""A torchrun worker for tests: ``genzoo`` with every file write of this process recorded.

``torchrun --nproc_per_node 2 tests/ddp_worker.py train ...`` runs the genzoo command line in
each process; at exit each rank prints one line ``AUDIT <rank> <json list of writes>`` (files
opened for writing, folders made, files renamed or removed), so a test can check that only
rank 0 touched the disk.
"""

import atexit
import json
import os
import sys

RANK = os.environ.get("RANK", "?")
WRITES: list[str] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def audit(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and isinstance(path, (str, bytes, os.PathLike)) and "__pycache__" not in str(path):
            WRITES.append(f"open {path}")
    elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree", "os.symlink", "os.link"):
        WRITES.append(f"{event} {args[0]}")


sys.addaudithook(audit)
atexit.register(lambda: print(f"AUDIT {RANK} {json.dumps(WRITES)}", flush=True))

from genzoo.cli import main  # noqa: E402

code = main(sys.argv[1:])
print(f"EXIT {RANK} {code}", flush=True)
sys.exit(code)
