"""Domain adaptation on real digits: source-only, DANN and ADDA, digits -> MNIST and MNIST -> digits.

The ADDA paper's digit experiment (Tzeng et al. 2017, Table 2: MNIST -> USPS, source only
75.2 %, ADDA 89.4 %) with the two digit datasets genzoo has offline: MNIST (28x28, 60,000
training images) and scikit-learn's UCI optical digits (8x8, 16 grey levels, 1,500 training
images), brought to one size with ``--size`` (the datasets' own ``size=``). ``A+B`` adapts A
(labelled source) to B (target, labels unused in training). Every (direction, method, seed) is
its own run folder under ``--out``; a finished one is skipped and an unfinished one resumed,
so the script can be stopped and restarted. Each run is scored on the target test split
(``target_accuracy``). Prints mean ± std over the seeds, appends them to RESULTS.md, and
draws ADDA's feature embeddings before/after adaptation for the first seed.

Budget: source-only trains ``--source-steps`` rounds; ADDA the same source stage plus
``--adapt-steps`` adversarial rounds; DANN ``source + adapt`` rounds of its joint objective.

Example:
    python benchmarks/bench_domains.py --seeds 0,1,2,3,4 --out runs/bench_domains
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import add_common_args, append  # noqa: E402

import genzoo  # noqa: E402
from genzoo.data import load_data  # noqa: E402
from genzoo.metrics.base import EvalContext, run_metric  # noqa: E402
from genzoo.train import RunDir  # noqa: E402

NAMES = {"mnist": "MNIST", "digits": "digits"}


def run_one(out: Path, direction: str, method: str, seed: int, args: argparse.Namespace) -> dict:
    """Train (or resume) one run and score it; the result is cached in ``out/result.json``."""
    done = out / "result.json"
    if done.is_file():
        cached = json.loads(done.read_text())
        if "unadapted" in cached:
            return cached
    t0 = time.process_time()
    steps = args.source_steps + (0 if method == "source_only" else args.adapt_steps)
    model_options = {"source_only": {}, "adda": {"source_steps": args.source_steps, "align": args.align},
                     "dann": {"ramp_steps": steps}}[method]
    train = {"batch_size": args.batch, "seed": seed, "threads": 1, "progress": False, "log_every": 100,
             "checkpoint_every": 500, "device": args.device}
    ckpt = RunDir(out).latest_checkpoint() if (out / "config.yaml").is_file() else None
    reached = int(RunDir.load_checkpoint(ckpt)[1]["step"]) if ckpt is not None else 0
    if ckpt is None:
        if out.exists():  # started, but killed before its first checkpoint: start over
            import shutil

            shutil.rmtree(out)
        data_options = {"size": args.size, **({"root": args.data_root} if args.data_root else {})}
        genzoo.train(method, direction, out, model_options=model_options, data_options=data_options, callbacks=[],
                     steps=steps, **train)
    elif reached < steps:
        genzoo.resume(out, steps=steps, callbacks=[])
    model = genzoo.load(out)
    data = load_data(direction, size=args.size, root=args.data_root)
    res = run_metric("target_accuracy", EvalContext(model, data, device=torch.device("cpu")))
    cpu = cached["cpu_s"] if done.is_file() else round(time.process_time() - t0, 1)  # an older result: re-scored, same training
    result = {"direction": direction, "method": method, "seed": seed, "target": res["value"], "unadapted": res["unadapted"],
              "source": res["source_accuracy"], "steps": steps, "cpu_s": cpu, "protocol": res["protocol"],
              "resumed_from": cached.get("resumed_from", reached) if done.is_file() else reached}
    done.write_text(json.dumps(result))
    return result


def embedding(out: Path, direction: str, args: argparse.Namespace, path: Path) -> None:
    from genzoo.viz.domains import adaptation_embedding

    model = genzoo.load(out)
    data = load_data(direction, size=args.size, root=args.data_root)
    a, b = data.streams["a"], data.streams["b"]
    g = torch.Generator().manual_seed(0)
    ia, ib = torch.randperm(len(a.x_test), generator=g)[:500], torch.randperm(len(b.x_test), generator=g)[:500]
    names = tuple(NAMES.get(s, s) for s in direction.split("+"))
    adaptation_embedding(model, a.x_test[ia], a.y_test[ia], b.x_test[ib], b.y_test[ib], path, names=names,  # type: ignore[arg-type]
                         space=args.align)  # what the critic compared
    print(f"embedding -> {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap)
    ap.add_argument("--directions", default="digits+mnist,mnist+digits")
    ap.add_argument("--methods", default="source_only,dann,adda")
    ap.add_argument("--source-only-seeds", default="0", help="seeds of standalone source_only runs ('all': every seed); "
                    "the baseline of every seed is also read from ADDA's stage-1 classifier")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--source-steps", type=int, default=1500)
    ap.add_argument("--adapt-steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--align", default="logits", choices=("logits", "features"), help="what ADDA's critic reads")
    ap.add_argument("--out", default="runs/bench_domains")
    ap.add_argument("--embedding", default="docs/img/adda-embedding-{direction}.png", help="'' to skip")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--finished-only", action="store_true", help="report only the runs already finished under --out "
                    "(train nothing; the table's seeds column says how many each method has)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    only_seeds = seeds if args.source_only_seeds == "all" else [int(s) for s in args.source_only_seeds.split(",") if s]
    rows = []
    for direction in args.directions.split(","):
        res: dict[str, list[dict]] = {}
        for method in args.methods.split(","):
            for seed in (only_seeds if method == "source_only" else seeds):
                if args.finished_only and not (Path(args.out) / direction / method / f"seed{seed}" / "result.json").is_file():
                    continue
                r = run_one(Path(args.out) / direction / method / f"seed{seed}", direction, method, seed, args)
                res.setdefault(method, []).append(r)
                print(f"{direction:14s} {method:12s} seed {seed}: target {100 * r['target']:.1f} % (through the source encoder "
                      f"{100 * r['unadapted']:.1f} %)  source {100 * r['source']:.1f} %  ({r['cpu_s']:.0f} s CPU)", flush=True)
        a, b = direction.split("+")
        name = f"{NAMES.get(a, a)} → {NAMES.get(b, b)}"

        def row(label: str, rs: list[dict], key: str = "target", rounds: int | None = None) -> str:
            v = [100 * r[key] for r in rs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            src = statistics.mean(100 * r["source"] for r in rs)
            whole = [r["cpu_s"] for r in rs if not r["resumed_from"]]  # a resumed run's CPU counts only its last part
            return (f"| {name} | {label} | **{statistics.mean(v):.1f} ± {sd:.1f}** | {src:.1f} | {len(v)} | {rounds or rs[0]['steps']} | "
                    f"{'in ADDA' + chr(39) + 's' if key == 'unadapted' else f'{statistics.mean(whole):.0f}' if whole else '—'} |")

        if "adda" in res:  # the source-only baseline of every ADDA seed: its stage-1 classifier, before adaptation
            rows.append(row("source only (ADDA's stage 1)", res["adda"], "unadapted", args.source_steps))
        if "source_only" in res:
            rows.append(row("source_only (its own run)", res["source_only"]))
        for method in ("dann", "adda"):
            if method in res:
                rows.append(row(method.upper(), res[method]))
        if "adda" in res:
            gain = [100 * (r["target"] - r["unadapted"]) for r in res["adda"]]
            sd = statistics.stdev(gain) if len(gain) > 1 else 0.0
            rows.append(f"| {name} | ADDA − source only, paired by seed | **{statistics.mean(gain):+.1f} ± {sd:.1f}** points | | "
                        f"{len(gain)} | | |")
        if args.embedding and "adda" in res:
            path = Path(args.embedding.format(direction=direction.replace("+", "-")))
            path.parent.mkdir(parents=True, exist_ok=True)
            embedding(Path(args.out) / direction / "adda" / f"seed{seeds[0]}", direction, args, path)
    table = ("| direction | method | target test accuracy % (mean ± std) | source test accuracy % | seeds | rounds | CPU s per run |\n"
             "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(table)
    notes = (f"Images brought to {args.size}x{args.size} (digits enlarged bilinearly from 8x8, MNIST as is); batch {args.batch}; "
             f"LeNet encoder (conv 20, conv 50, 500 features). source_only: {args.source_steps} rounds of Adam 1e-3 on the source. "
             f"ADDA: the same source stage, then {args.adapt_steps} rounds of critic (500-500 ReLU, reading the {args.align}) "
             "and target encoder, Adam 2e-4 "
             f"β1 0.5. DANN: {args.source_steps + args.adapt_steps} rounds, SGD 0.01 momentum 0.9 annealed, GRL weight ramped "
             "over the run. Target labels are never used in training; test splits: MNIST 10,000, digits 297 (the last 297 of "
             "scikit-learn's order). One thread per run, niced, on a machine shared with other jobs (CPU seconds, not wall time; runs that were stopped and resumed are left out of that mean, as their first part went unmeasured).")
    if not args.no_append:
        append("Domain adaptation: digits ↔ MNIST, source-only vs DANN vs ADDA (issue 14)" + (f" {args.tag}" if args.tag else ""),
               table, notes, args.results)


if __name__ == "__main__":
    main()
