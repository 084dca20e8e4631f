"""``genzoo eval`` speed: this tree against an older genzoo, on one run folder, same seed.

Runs ``python -m genzoo.cli eval RUN --metrics M -n N --seed S`` with ``PYTHONPATH`` set to this
tree's ``src`` and to ``--before-src`` (an older genzoo's ``src``, e.g. made with
``git archive <commit> src | tar -x -C /tmp/before``), alternating (before, after, before, ...),
each in a fresh process. For every run it records the whole process's wall time and its CPU
time split into user and system (``resource.getrusage(RUSAGE_CHILDREN)``), and the metric's
value and standard error from ``RUN/eval.json``; it prints medians, the ratio of medians, and
whether the values agree.

    git archive efd8dcb src | tar -x -C /tmp/before
    python benchmarks/bench_eval_speed.py runs/vae-bmnist --before-src /tmp/before/src --metric nll -n 500
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run_once(src: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    if args.data_root:
        env["GENZOO_DATA"] = args.data_root
    cmd = [sys.executable, "-m", "genzoo.cli", "eval", args.run, "--metrics", args.metric, "-n", str(args.n), "--seed", str(args.seed),
           *[a for s in args.set for a in ("--set", s)]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"failed ({src}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    metric = json.loads((Path(args.run) / "eval.json").read_text())["metrics"][args.metric]
    return {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
            "value": metric["value"], "stderr": metric.get("stderr")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a run folder")
    p.add_argument("--before-src", required=True, help="the src folder of the genzoo to compare against")
    p.add_argument("--metric", default="nll")
    p.add_argument("-n", type=int, default=500, help="test examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="metric options, e.g. nll.k=1000")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA"))
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args()
    srcs = {"before": args.before_src, "after": str(REPO / "src")}
    res: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.repeats):
        for name in ("before", "after"):
            res[name].append(run_once(srcs[name], args))
        b, a = res["before"][-1], res["after"][-1]
        print(f"repeat {r + 1}: before {b['wall']:.1f} s wall ({b['user']:.1f} user + {b['sys']:.1f} sys), "
              f"after {a['wall']:.1f} s wall ({a['user']:.1f} user + {a['sys']:.1f} sys)", flush=True)
    med = {n: {k: statistics.median(x[k] for x in v) for k in ("wall", "user", "sys")} for n, v in res.items()}
    cpu = {n: statistics.median(x["user"] + x["sys"] for x in v) for n, v in res.items()}
    vals = {n: (v[0]["value"], v[0]["stderr"]) for n, v in res.items()}
    same = all(abs(x["value"] - vals["before"][0]) <= 1e-4 * max(1.0, abs(vals["before"][0])) for v in res.values() for x in v)
    rows = [f"| {n} | {med[n]['wall']:.1f} | {med[n]['user']:.1f} | {med[n]['sys']:.1f} | {cpu[n]:.1f} | {vals[n][0]:.6f} ± {vals[n][1]:.3f} |"
            for n in ("before", "after")]
    table = ("| genzoo | wall s | user s | sys s | CPU s | value ± stderr |\n|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
             f"| **after / before** | **{med['before']['wall'] / med['after']['wall']:.2f}x faster** | | | "
             f"**{cpu['before'] / cpu['after']:.2f}x** | {'same value' if same else 'VALUES DIFFER'} |\n")
    print(table)
    if not args.no_append:
        sys.path.insert(0, str(HERE))
        from _results import append

        append(f"genzoo eval --metrics {args.metric}: speed against an older genzoo", table,
               f"Run folder {args.run}; -n {args.n}, seed {args.seed} {' '.join(args.set)}; before = {args.before_src}. "
               f"Medians of {args.repeats} alternating whole-process runs (startup, data and model loading included), "
               "at normal priority on a 2-core machine shared with other helpers' niced background jobs.")


if __name__ == "__main__":
    main()
