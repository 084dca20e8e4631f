"""CPU threads on a busy machine: steps/s of an MNIST VAE with 1 thread against every core.

Why genzoo's default is half the cores (``train.threads`` / ``$GENZOO_THREADS``): PyTorch's own
default is one thread per core, and when other processes already keep the cores busy its
threads wait for each other at every parallel region (oversubscription). This measures it:
the MLP VAE (784-512-16, Bernoulli, batch 128) trains ``--steps`` steps on MNIST with
``--threads`` in turn (default 1 and all cores), alternating ``--repeats`` times in separate
processes so slow periods of a shared machine hit both; the median steps/s of each and their
ratio are printed and appended to RESULTS.md, with the 1-minute load average during the runs.

    .venv/bin/python benchmarks/bench_threads.py --steps 300 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def worker(args: argparse.Namespace) -> None:
    import torch

    sys.path.insert(0, str(REPO / "src"))
    import genzoo
    from genzoo.train import TrainConfig, Trainer

    data = genzoo.load_data("mnist", root=args.data_root)
    torch.manual_seed(0)
    model = genzoo.build("vae", data.info, encoder={"type": "mlp", "hidden": [512]})
    cfg = TrainConfig(steps=args.steps, batch_size=128, threads=args.threads, progress=False, log_every=args.steps, logger="none")
    t = Trainer(model, data, cfg, callbacks=[])
    load0 = os.getloadavg()[0]
    t.fit()
    print(json.dumps({"threads": torch.get_num_threads(), "steps_per_s": args.steps / t.elapsed, "load": (load0 + os.getloadavg()[0]) / 2}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}", help="comma-separated thread counts to compare")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        worker(args)
        return
    counts = [int(x) for x in args.threads.split(",")]
    got: dict[int, list[float]] = {c: [] for c in counts}
    loads: list[float] = []
    for r in range(args.repeats):
        for c in counts:
            cmd = [sys.executable, __file__, "--worker", "--threads", str(c), "--steps", str(args.steps)]
            if args.data_root:
                cmd += ["--data-root", args.data_root]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            got[c].append(row["steps_per_s"])
            loads.append(row["load"])
            print(f"repeat {r + 1}: {c} thread(s): {row['steps_per_s']:.1f} steps/s (load {row['load']:.1f})", flush=True)
    med = {c: statistics.median(v) for c, v in got.items()}
    base = med[counts[0]]
    lines = ["| torch threads | steps/s (median of %d) | each run | relative to %d thread(s) |" % (args.repeats, counts[0]),
             "|---|---|---|---|"]
    for c in counts:
        lines.append(f"| {c} | {med[c]:.1f} | {', '.join(f'{v:.1f}' for v in got[c])} | {med[c] / base:.2f}x |")
    table = "\n".join(lines)
    print(table)
    notes = (f"MLP VAE 784-512-16 on MNIST, batch 128, {args.steps} steps per run, runs alternating in separate processes; "
             f"1-minute load average during the runs {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores (the machine is "
             "shared with other helpers' niced jobs). genzoo's default is half the cores (here 1); `train.threads` or "
             "`$GENZOO_THREADS` sets it.")
    if not args.no_append:
        sys.path.insert(0, str(HERE))
        from _results import append

        append("CPU threads on a busy machine (train.threads default)", table, notes, args.results)


if __name__ == "__main__":
    main()
