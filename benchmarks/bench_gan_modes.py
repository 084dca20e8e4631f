"""Mode coverage of GAN losses on the 2-D ring and grid (the PacGAN Table 1 protocol), seeds swept.

Protocol (Lin et al. 2018, "PacGAN", Table 1, after Srivastava et al. 2017, "VEEGAN"):

- data: 2D-ring, 8 Gaussians on a circle of radius 1 with σ = 0.01 (``8gaussians`` with
  ``radius=1, std=0.01``); 2D-grid, 25 Gaussians at {-4,-2,0,2,4}² with σ = 0.05
  (``25gaussians``); 100 000 training points each, drawn once (data seed 0) and shared by
  the seeds, which differ in initialisation, batch order and noise.
- networks (PacGAN's code): generator z ∈ R², N(0, I) -> 4 hidden layers of 400 ReLU units
  with batch norm -> R²; discriminator 3 hidden layers of 200 units -> 1, taking m samples
  side by side for PacGANm. PacGAN's discriminator uses LinearMaxout (5 pieces); genzoo has
  no maxout layer, so this script uses LeakyReLU(0.2) units instead (a stated deviation).
- training: PacGAN uses Adam lr 1e-4, β1 = 0.8, batch 100 (100 packs of m samples for PacGANm),
  400 epochs (400 000 rounds). The
  log-loss rows use that optimizer; WGAN and WGAN-GP keep their own papers' settings
  (RMSprop 5e-5, c = 0.01, n_critic 5; Adam 1e-4, β = (0, 0.9), λ = 10, n_critic 5).
  ``--steps`` sets the rounds (the budget; state it with the results).
- the seeds of a row are trained as one vmapped model (``genzoo.sweep``): each seed is the run
  it would be alone, at a fraction of the cost. Runs go to ``--out`` (one sweep folder per
  dataset and row) and a killed job continues where it stopped when started again.
- evaluation on 2 500 samples: a sample is *high quality* if it lies within 3σ of some
  centre; a mode is *captured* if at least one sample lies within 3σ of it; *reverse KL* is
  KL(q || uniform) between the histogram q of high-quality samples over modes and the true
  uniform mode weights. Mean ± standard deviation over ``--seeds`` seeds.

Usage::

    python benchmarks/bench_gan_modes.py --steps 20000                      # 5 seeds
    python benchmarks/bench_gan_modes.py --steps 30 --seeds 2 --tag "SMOKE TEST" --no-write --out /tmp/gm
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.config import load_yaml  # noqa: E402
from genzoo.loops.sweep import is_sweep, mean_std, pm, resume_sweep, sweep  # noqa: E402
from genzoo.metrics.modes import mode_coverage  # noqa: E402
from genzoo.train import RunDir  # noqa: E402

from _results import RESULTS, append  # noqa: E402

PACGAN_ADAM = {"name": "adam", "lr": 1e-4, "betas": (0.8, 0.999)}
PACGAN_G = {"type": "mlp", "hidden": (400,) * 4, "act": "relu", "batch_norm": True}
PACGAN_D = {"type": "mlp", "hidden": (200,) * 3, "act": "leaky_relu"}
# row name -> (registered model, options, optimizer override or None to keep the model's own)
LOSSES = {
    "GAN": ("gan", {"loss": "non_saturating"}, PACGAN_ADAM),
    "PacGAN2": ("gan", {"loss": "non_saturating", "pack": 2}, PACGAN_ADAM),
    "PacGAN3": ("gan", {"loss": "non_saturating", "pack": 3}, PACGAN_ADAM),
    "PacGAN4": ("gan", {"loss": "non_saturating", "pack": 4}, PACGAN_ADAM),
    "WGAN": ("wgan", {}, None),
    "WGAN-GP": ("wgan_gp", {}, None),
    "WGAN-GP pack4": ("wgan_gp", {"pack": 4}, None),
    "f-GAN (KL)": ("fgan", {"divergence": "kl"}, PACGAN_ADAM),
    "f-GAN (reverse KL)": ("fgan", {"divergence": "reverse_kl"}, PACGAN_ADAM),
    "f-GAN (Pearson χ²)": ("fgan", {"divergence": "pearson"}, PACGAN_ADAM),
}
PAPER_ROWS = "GAN,PacGAN2,PacGAN3,PacGAN4,WGAN-GP"
DATASETS = {"ring": ("8gaussians", {"radius": 1.0, "std": 0.01}), "grid": ("25gaussians", {})}


# -- one row: a sweep of seeds ----------------------------------------------------------------


def run_row(row: str, dataset: str, seeds: int, steps: int, n_samples: int, out: Path, adam: dict | None = None,
            threads: int = 1) -> tuple[list[dict[str, float]], float]:
    """Train (or finish, or reload) the row's sweep; returns per-seed figures and training seconds."""
    name, options, optim = LOSSES[row]
    if adam is not None and optim is not None:  # --lr/--beta1 override the log-loss rows' Adam
        optim = {**optim, **adam}
    data_name, data_opts = DATASETS[dataset]
    data_opts = {"n_train": 100_000, "n_test": 2_500, "seed": 0, **data_opts}
    data = genzoo.load_data(data_name, **data_opts)
    # PacGAN's networks; a packed critic reads m samples side by side
    model_opts = {"latent_dim": 2, "generator": PACGAN_G, "critic": PACGAN_D, **options}
    folder = out / f"{dataset}-{row.replace(' ', '_')}"
    players = {} if optim is None else {"critic": dict(optim), "generator": dict(optim)}
    t0 = time.perf_counter()
    quiet = lambda msg: print(f"  [{dataset} {row}] {msg}", flush=True)  # noqa: E731
    if is_sweep(folder):
        res = resume_sweep(folder, data=data, callbacks=list, on_message=quiet, steps=steps) if _unfinished(folder, steps) else None
        models = res.models if res is not None else [genzoo.load(folder / m) for m in load_yaml(folder / "sweep.yaml")["members"]]
    else:
        pack = int(options.get("pack", 1))  # PacGAN's code feeds 100 packs of m samples each
        res = sweep(name, data_name, seeds, folder, model_options=model_opts, data_options=data_opts, callbacks=list, on_message=quiet, steps=steps, batch_size=100 * pack,
                    players=players, progress=False, logger="none", log_every=max(1, min(1000, steps)),
                    checkpoint_every=max(1, min(500, steps)), threads=threads)
        models = res.models
    # the sweep's own training-loop seconds (all seeds at once; checkpoints carry them across resumes)
    rows = RunDir(folder / load_yaml(folder / "sweep.yaml")["members"][0]).metrics()
    secs = float(rows[-1]["time"]) if rows else time.perf_counter() - t0
    stats = []
    for i, model in enumerate(models):
        model.eval()
        torch.manual_seed(10_000 + i)
        with torch.no_grad():
            x = model.sample(n_samples)
        st = mode_coverage(x, data.info.extras["centers"], float(data.info.extras["std"]))  # genzoo.metrics.modes rules
        stats.append({"modes": st["modes"], "high_quality": 100.0 * st["high_quality"], "reverse_kl": st["reverse_kl"]})
    return stats, secs


def _unfinished(folder: Path, steps: int) -> bool:
    for m in load_yaml(folder / "sweep.yaml")["members"]:
        rows = RunDir(folder / m).metrics()
        if not rows or rows[-1]["step"] < steps or not (folder / m / "model.safetensors").is_file():
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20_000, help="training rounds per run")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=2_500)
    ap.add_argument("--datasets", default="ring,grid")
    ap.add_argument("--losses", default=PAPER_ROWS, help="comma-separated rows: " + ", ".join(LOSSES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_gan_modes", help="sweep folders (a rerun continues or reuses them)")
    ap.add_argument("--lr", type=float, default=None, help="Adam lr of the log-loss rows (default PacGAN's 1e-4)")
    ap.add_argument("--beta1", type=float, default=None, help="Adam beta1 of the log-loss rows (default PacGAN's 0.8)")
    ap.add_argument("--finished-only", action="store_true",
                    help="table only the (dataset, row) sweeps already trained to --steps; list the others as not run")
    ap.add_argument("--tag", default="", help="e.g. 'SMOKE TEST', appended to the section title")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    ap.add_argument("--results", default=str(RESULTS), help="markdown file the section is appended to")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    adam = None
    if args.lr is not None or args.beta1 is not None:
        adam = {"lr": args.lr or PACGAN_ADAM["lr"], "betas": (PACGAN_ADAM["betas"][0] if args.beta1 is None else args.beta1, 0.999)}
    rows = [r.strip() for r in args.losses.split(",") if r.strip()]
    unknown = [r for r in rows if r not in LOSSES]
    if unknown:
        ap.error(f"unknown row {unknown[0]!r}; rows: {', '.join(LOSSES)}")
    sets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    lines = ["| dataset | loss | modes captured | high-quality samples (%) | reverse KL | seeds | train s (all seeds) |",
             "|---|---|---|---|---|---|---|"]
    skipped = []
    for ds in sets:
        total = 8 if ds == "ring" else 25
        for row in rows:
            folder = Path(args.out) / f"{ds}-{row.replace(' ', '_')}"
            if args.finished_only and (not is_sweep(folder) or _unfinished(folder, args.steps)):
                skipped.append(f"{ds} {row}")
                continue
            stats, secs = run_row(row, ds, args.seeds, args.steps, args.samples, Path(args.out), adam, args.threads)
            line = (f"| {ds} ({total} modes) | {row} | {pm(mean_std([s['modes'] for s in stats]), '.2f')} | "
                    f"{pm(mean_std([s['high_quality'] for s in stats]), '.1f')} | "
                    f"{pm(mean_std([s['reverse_kl'] for s in stats]), '.3f')} | {len(stats)} | {secs:.0f} |")
            print(line, flush=True)
            lines.append(line)
    optim = "PacGAN's Adam (lr 1e-4, β1 0.8)" if adam is None else f"Adam lr {adam['lr']:g}, β1 {adam['betas'][0]:g}"
    notes = (f"{args.seeds} seeds per row trained as one vmapped sweep (`genzoo.sweep`), {args.steps} rounds each, batch 100 critic inputs (100·m samples for PacGANm), "
             f"{args.samples} samples; log-loss rows: {optim}; WGAN rows: their papers' optimizers; mean ± standard "
             "deviation over seeds (reverse KL over the seeds with high-quality samples). PacGAN Table 1 trained 400 epochs "
             "of 100k points (400k rounds) with a maxout discriminator; compare with it only at that budget. "
             "Train s: the sweep's training-loop seconds (all seeds at once, resumed parts summed), wall time on the "
             "shared 2-core machine (niced background job, one thread).")
    if skipped:
        notes += f" Not trained to {args.steps} rounds within this session's budget (not in the table): {', '.join(skipped)}."
    print(notes)
    if not args.no_write:
        append(f"GAN mode coverage (PacGAN Table 1 protocol, seeds swept) {args.tag}".rstrip(), "\n".join(lines), notes,
               path=args.results)


if __name__ == "__main__":
    main()
