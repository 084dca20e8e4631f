"""Mode coverage of GAN losses on the 2-D ring and grid (the PacGAN Table 1 protocol).

Protocol (Lin et al. 2018, "PacGAN", Table 1, after Srivastava et al. 2017, "VEEGAN"):

- data: 2D-ring, 8 Gaussians on a circle of radius 1 with σ = 0.01 (``8gaussians`` with
  ``radius=1, std=0.01``); 2D-grid, 25 Gaussians at {-4,-2,0,2,4}² with σ = 0.05
  (``25gaussians``); 100 000 training points each.
- networks (PacGAN's code): generator z ∈ R², N(0, I) -> 4 hidden layers of 400 ReLU units
  with batch norm -> R²; discriminator 3 hidden layers of 200 units -> 1. PacGAN's
  discriminator uses LinearMaxout (5 pieces); genzoo has no maxout layer, so this script uses
  LeakyReLU(0.2) units instead (a stated deviation).
- training: PacGAN uses Adam lr 1e-4, β1 = 0.8, batch 100, 400 epochs (400 000 rounds). The
  log-loss rows (GAN, f-GANs) use that optimizer; WGAN and WGAN-GP keep their own papers'
  settings (RMSprop 5e-5, c = 0.01, n_critic 5; Adam 1e-4, β = (0, 0.9), λ = 10, n_critic 5).
  ``--steps`` sets the rounds (default 20 000: far fewer than the paper; state it with results).
- evaluation on 2 500 samples: a sample is *high quality* if it lies within 3σ of some
  centre; a mode is *captured* if at least one sample lies within 3σ of it; *reverse KL* is
  KL(q || uniform) between the histogram q of high-quality samples over modes and the true
  uniform mode weights. Mean ± standard error over ``--seeds`` seeds.

Usage::

    python benchmarks/bench_gan_modes.py                                   # 5 seeds, 20k rounds
    python benchmarks/bench_gan_modes.py --steps 30 --seeds 1 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.metrics.modes import mode_coverage  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

from _results import RESULTS, append  # noqa: E402

PACGAN_ADAM = {"name": "adam", "lr": 1e-4, "betas": (0.8, 0.999)}
PACGAN_G = {"type": "mlp", "hidden": (400,) * 4, "act": "relu", "batch_norm": True}
PACGAN_D = {"type": "mlp", "hidden": (200,) * 3, "act": "leaky_relu"}
# row name -> (registered model, options, optimizer override or None to keep the model's own)
LOSSES = {
    "GAN": ("gan", {"loss": "non_saturating"}, PACGAN_ADAM),
    "WGAN": ("wgan", {}, None),
    "WGAN-GP": ("wgan_gp", {}, None),
    "f-GAN (KL)": ("fgan", {"divergence": "kl"}, PACGAN_ADAM),
    "f-GAN (reverse KL)": ("fgan", {"divergence": "reverse_kl"}, PACGAN_ADAM),
    "f-GAN (Pearson χ²)": ("fgan", {"divergence": "pearson"}, PACGAN_ADAM),
    "PacGAN2": ("gan", {"loss": "non_saturating", "pack": 2}, PACGAN_ADAM),
    "PacGAN4": ("gan", {"loss": "non_saturating", "pack": 4}, PACGAN_ADAM),
    "WGAN-GP pack4": ("wgan_gp", {"pack": 4}, None),
}
DATASETS = {"ring": ("8gaussians", {"radius": 1.0, "std": 0.01}), "grid": ("25gaussians", {})}


def mean_se(values: list[float]) -> str:
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return f"{m:.2f}"
    se = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)
    return f"{m:.2f} ± {se:.2f}"


# -- one run ----------------------------------------------------------------------------------


def run(row: str, dataset: str, seed: int, steps: int, n_samples: int, adam: dict | None = None) -> dict[str, float]:
    name, options, optim = LOSSES[row]
    if adam is not None and optim is not None:  # --lr/--beta1 override the log-loss rows' Adam
        optim = {**optim, **adam}
    data_name, data_opts = DATASETS[dataset]
    data = genzoo.load_data(data_name, n_train=100_000, n_test=2_500, seed=seed, **data_opts)
    torch.manual_seed(seed)
    # PacGAN's networks; a packed critic reads m samples side by side
    model = genzoo.build(name, data.info, latent_dim=2, generator=PACGAN_G, critic=PACGAN_D, **options)
    players = {} if optim is None else {"critic": dict(optim), "generator": dict(optim)}
    cfg = TrainConfig(steps=steps, batch_size=100, seed=seed, progress=False, log_every=max(1, steps),
                      checkpoint_every=0, players=players)
    Trainer(model, data, cfg, run=None, callbacks=[]).fit()
    model.eval()
    with torch.no_grad():
        x = model.sample(n_samples)
    stats = mode_coverage(x, data.info.extras["centers"], float(data.info.extras["std"]))  # genzoo.metrics.modes rules
    return {"modes": stats["modes"], "high_quality": 100.0 * stats["high_quality"], "reverse_kl": stats["reverse_kl"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20_000, help="training rounds per run")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=2_500)
    ap.add_argument("--datasets", default="ring,grid")
    ap.add_argument("--losses", default=",".join(LOSSES), help="comma-separated rows: " + ", ".join(LOSSES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=None, help="Adam lr of the log-loss rows (default PacGAN's 1e-4)")
    ap.add_argument("--beta1", type=float, default=None, help="Adam beta1 of the log-loss rows (default PacGAN's 0.8)")
    ap.add_argument("--tag", default="", help="e.g. 'SMOKE TEST', appended to the section title")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    ap.add_argument("--results", default=str(RESULTS), help="markdown file the section is appended to")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    adam = None
    if args.lr is not None or args.beta1 is not None:
        adam = {"lr": args.lr or PACGAN_ADAM["lr"], "betas": (PACGAN_ADAM["betas"][0] if args.beta1 is None else args.beta1, 0.999)}
    rows = [r.strip() for r in args.losses.split(",") if r.strip()]
    sets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    lines = ["| dataset | loss | modes captured | high-quality samples (%) | reverse KL | seconds/run |",
             "|---|---|---|---|---|---|"]
    for ds in sets:
        total = 8 if ds == "ring" else 25
        for row in rows:
            stats, secs = [], []
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                stats.append(run(row, ds, seed, args.steps, args.samples, adam))
                secs.append(time.perf_counter() - t0)
            line = (f"| {ds} ({total} modes) | {row} | {mean_se([s['modes'] for s in stats])} | "
                    f"{mean_se([s['high_quality'] for s in stats])} | {mean_se([s['reverse_kl'] for s in stats])} | "
                    f"{sum(secs) / len(secs):.1f} |")
            print(line, flush=True)
            lines.append(line)
    optim = "PacGAN's Adam (lr 1e-4, β1 0.8)" if adam is None else f"Adam lr {adam['lr']:g}, β1 {adam['betas'][0]:g}"
    notes = (f"{args.seeds} seed(s), {args.steps} rounds per run, batch 100, {args.samples} samples; "
             f"log-loss rows: {optim}; WGAN rows: their papers' optimizers; "
             "mean ± standard error over seeds. PacGAN Table 1 trained 400 epochs of 100k points "
             "(400k rounds) with a maxout discriminator; compare figures only at that budget.")
    print(notes)
    if not args.no_write:
        append(f"GAN mode coverage (PacGAN Table 1 protocol) {args.tag}".rstrip(), "\n".join(lines), notes, path=args.results)


if __name__ == "__main__":
    main()
