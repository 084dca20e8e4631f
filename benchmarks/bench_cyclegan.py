"""CycleGAN between MNIST and scikit-learn's digits: label preservation, cycle error, FID, the grid.

Unpaired translation (Zhu et al. 2017) on ``mnist+digits`` at ``--size`` (digits enlarged from
8x8). Each seed is its own run folder under ``--out`` (finished ones skipped, unfinished ones
resumed from their checkpoint). Every run is scored on the test splits:

- label preservation: a classifier of the target domain (genzoo's cached feature network of
  that dataset at this size) reads the source image's digit from its translation; beside it
  the same classifier on the untranslated source images;
- cycle error: mean |x - F(G(x))| per pixel, both ways;
- FID to the target domain in that classifier's features, and of the untranslated images.

Prints mean ± std over seeds, appends them to RESULTS.md and saves the translation grid of
the first seed (rows: MNIST, MNIST -> digits, back; digits, digits -> MNIST, back).

Example:
    python benchmarks/bench_cyclegan.py --seeds 0,1,2,3,4 --steps 1500 --out runs/bench_cyclegan
"""

from __future__ import annotations

import argparse
import json
import shutil
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
from genzoo.viz.domains import translation_grid  # noqa: E402


def run_one(out: Path, seed: int, args: argparse.Namespace, data) -> dict:  # noqa: ANN001
    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    t0 = time.process_time()
    ckpt = RunDir(out).latest_checkpoint() if (out / "config.yaml").is_file() else None
    reached = int(RunDir.load_checkpoint(ckpt)[1]["step"]) if ckpt is not None else 0
    if ckpt is None:
        if out.exists():
            shutil.rmtree(out)
        opts = {"generator": {"width": args.width, "n_blocks": args.blocks}, "critic": {"width": args.critic_width},
                "identity": args.identity}
        genzoo.train("cyclegan", args.data, out, model_options=opts, data_options={"size": args.size}, callbacks=[],
                     steps=args.steps, batch_size=args.batch, seed=seed, threads=1, progress=False, log_every=50,
                     checkpoint_every=100, device=args.device)
    elif reached < args.steps:
        genzoo.resume(out, steps=args.steps, callbacks=[])
    train_cpu = time.process_time() - t0
    model = genzoo.load(out)
    ctx = EvalContext(model, data, device=torch.device("cpu"), batch_size=250)
    res = {m: run_metric(m, ctx) for m in ("label_preservation", "cycle_error", "translation_fid")}
    result = {"seed": seed, "steps": args.steps, "train_cpu_s": round(train_cpu, 1), "resumed_from": reached,
              **{f"{m}_{d}": res[m][d] for m in res for d in ("a2b", "b2a")},
              **{f"{m}_untranslated_{d}": res[m]["untranslated"][d] for m in ("label_preservation", "translation_fid") for d in ("a2b", "b2a")},
              "protocol": {m: res[m]["protocol"] for m in res}}
    done.write_text(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap)
    ap.add_argument("--data", default="mnist+digits")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--critic-width", type=int, default=32)
    ap.add_argument("--identity", type=float, default=0.5)
    ap.add_argument("--out", default="runs/bench_cyclegan")
    ap.add_argument("--grid", default="docs/img/cyclegan-mnist-digits.png", help="'' to skip")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--finished-only", action="store_true", help="report only the seeds already finished under --out (train nothing)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = load_data(args.data, size=args.size)
    results = []
    if args.finished_only:
        seeds = [s for s in seeds if (Path(args.out) / f"seed{s}" / "result.json").is_file()]
    for seed in seeds:
        r = run_one(Path(args.out) / f"seed{seed}", seed, args, data)
        results.append(r)
        print(f"seed {seed}: labels kept a2b {100 * r['label_preservation_a2b']:.1f} % b2a {100 * r['label_preservation_b2a']:.1f} %, "
              f"cycle {r['cycle_error_a2b']:.4f}/{r['cycle_error_b2a']:.4f}, FID {r['translation_fid_a2b']:.2f}/{r['translation_fid_b2a']:.2f} "
              f"({r['train_cpu_s']:.0f} s CPU)", flush=True)
    a, b = (s.upper() if s == "mnist" else s for s in args.data.split("+"))

    def cell(key: str, scale: float = 1.0, fmt: str = ".1f") -> str:
        v = [scale * r[key] for r in results]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f"{statistics.mean(v):{fmt}} ± {sd:{fmt}}"

    rows = []
    for d, (src, tgt) in (("a2b", (a, b)), ("b2a", (b, a))):
        rows.append(f"| {src} → {tgt} | **{cell(f'label_preservation_{d}', 100)}** | {cell(f'label_preservation_untranslated_{d}', 100)} | "
                    f"{cell(f'cycle_error_{d}', 1, '.4f')} | {cell(f'translation_fid_{d}', 1, '.2f')} | {cell(f'translation_fid_untranslated_{d}', 1, '.2f')} |")
    table = ("| direction | labels kept % (mean ± std) | same classifier on untranslated images % | cycle error (L1/pixel) | FID to target | FID untranslated |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(table)
    if args.grid:
        path = Path(args.grid)
        path.parent.mkdir(parents=True, exist_ok=True)
        model = genzoo.load(Path(args.out) / f"seed{seeds[0]}")
        translation_grid(model, data.streams["a"].x_test[:12], data.streams["b"].x_test[:12], path)
        print(f"grid -> {path}")
    p = results[0]["protocol"]["label_preservation"]
    whole = [r["train_cpu_s"] for r in results if not r["resumed_from"]]  # a resumed run's CPU counts only its last part
    cpu = f"{statistics.mean(whole) / 60:.0f} CPU minutes per seed" if whole else "CPU time unmeasured (resumed runs)"
    notes = (f"{len(results)} seeds ({', '.join(str(s) for s in seeds)}), each {args.steps} rounds of batch {args.batch} "
             f"(≈ {args.steps * args.batch / 60000:.2f} MNIST epochs, {args.steps * args.batch / 1500:.0f} digits epochs), "
             f"{cpu} on one thread. Images {args.size}x{args.size}; ResNet generators (stem "
             f"{args.width} channels, two stride-2 downs, {args.blocks} residual blocks), PatchGAN critics ({args.critic_width} "
             f"channels, 5x5 patch scores), least squares, λ = 10, identity {args.identity}·λ, history of 50 fakes, Adam 2e-4 "
             "β1 0.5, constant learning rate for half the rounds then linear to 0 (the paper's schedule, compressed; the "
             f"paper trains 200 epochs at batch 1). Test splits: MNIST 10,000, digits 297. Classifiers: "
             f"{p['a2b']['classifier']} (test acc {p['a2b']['classifier_test_accuracy']:.4f}) judges a2b, "
             f"{p['b2a']['classifier']} (test acc {p['b2a']['classifier_test_accuracy']:.4f}) judges b2a. FID of 297 digits "
             "is biased upwards; compare it only with the untranslated column.")
    if not args.no_append:
        append(f"CycleGAN {a} ↔ {b} (issue 14)" + (f" {args.tag}" if args.tag else ""), table, notes, args.results)


if __name__ == "__main__":
    main()
