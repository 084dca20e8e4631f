"""Mode coverage on Stacked MNIST (1,000 modes): DCGAN, PacDCGAN, WGAN-GP, hinge GAN; seeds swept.

Protocol (Srivastava et al. 2017 "VEEGAN" §5.2; Lin et al. 2018 "PacGAN" Table 3): every
example stacks three random MNIST digits as the three channels (``load_data("stacked-mnist")``,
28x28x3, 1,000 digit-triple modes); DCGAN generator and discriminator (genzoo's ``dcgan``
networks, ``--width`` base channels) trained for ``--budget`` rounds (or minutes, ``30m``);
26,000 samples; each channel is labelled by genzoo's own MNIST classifier (the cached
feature net, >= 99% test accuracy; ``genzoo features train --data mnist``); a sample's mode is
its digit triple; reported: modes covered of 1,000 and KL(mode histogram || uniform) in nats,
mean ± standard deviation over ``--seeds`` seeds, which are trained together as one vmapped
model (``genzoo.sweep``; each seed is the run it would be alone). PacDCGANm rows feed the
critic ``--batch`` packs of m samples (as PacGAN's code does).

Published (DCGAN networks): DCGAN 99 modes / KL 3.4 (VEEGAN), WGAN-GP 959 / 0.73 and
PacDCGAN 1000 / 0.06 (PacGAN). Target (issue 4): >= 990 modes and KL <= 0.1 for the best
configuration.

Usage::

    python benchmarks/bench_stacked_mnist.py --budget 60m --seeds 3 --rows dcgan,pacdcgan2
    python benchmarks/bench_stacked_mnist.py --budget 5 --seeds 2 --n-samples 500 --width 16 --n-train 2000 --tag "SMOKE TEST" --results /tmp/s.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.config import load_yaml  # noqa: E402
from genzoo.loops.sweep import is_sweep, mean_std, pm, resume_sweep, sweep  # noqa: E402
from genzoo.metrics import EvalContext, run_metric  # noqa: E402
from genzoo.train import RunDir  # noqa: E402

from _budget import parse_budget  # noqa: E402
from _results import add_common_args, append  # noqa: E402

# row -> (registered model, options); each keeps its paper's optimizer (the model's suggestion)
ROWS = {
    "dcgan": ("DCGAN (non-saturating)", "dcgan", {}),
    "pacdcgan2": ("PacDCGAN2", "dcgan", {"pack": 2}),
    "pacdcgan4": ("PacDCGAN4", "dcgan", {"pack": 4}),
    "wgan_gp": ("WGAN-GP", "wgan_gp", {}),
    "hinge": ("hinge GAN", "hinge_gan", {}),
}


def _finished(folder: Path, steps: int | None) -> bool:
    """Every member of the sweep in ``folder`` trained to ``steps`` rounds (a time budget: to its end)."""
    for m in load_yaml(folder / "sweep.yaml")["members"]:
        rows = RunDir(folder / m).metrics()
        if not (folder / m / "model.safetensors").is_file() or not rows or (steps is not None and rows[-1]["step"] < steps):
            return False
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="60m", help="training rounds per row, or minutes as e.g. 30m")
    ap.add_argument("--rows", default="dcgan,pacdcgan2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--n-train", type=int, default=25_000)
    ap.add_argument("--n-samples", type=int, default=26_000)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per row, trained as one vmapped sweep")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_stacked_mnist", help="sweep folders (a rerun continues an interrupted row or re-evaluates a finished one)")
    add_common_args(ap)
    args = ap.parse_args(argv)

    steps, seconds = parse_budget(args.budget)
    data_opts = {"n_train": args.n_train, **({"root": args.data_root} if args.data_root else {})}
    data = genzoo.load_data("stacked-mnist", **data_opts)
    lines = []
    for key in args.rows.split(","):
        label, name, opts = ROWS[key]
        nets = {"type": "conv", "width": args.width}  # DCGAN networks for every row
        folder = Path(args.out) / key
        if is_sweep(folder) and _finished(folder, steps):  # a rerun re-evaluates a finished row
            manifest = load_yaml(folder / "sweep.yaml")
            models = [genzoo.load(folder / m) for m in manifest["members"]]
            last = RunDir(folder / manifest["members"][0]).metrics()[-1]
            rounds, secs, engine = int(last["step"]), float(last["time"]), manifest["engine"]
        else:
            if is_sweep(folder):  # ... and continues an interrupted one
                res = resume_sweep(folder, data=data, callbacks=list, steps=steps)
            else:
                res = sweep(name, data, args.seeds, folder, model_options={"generator": nets, "critic": nets, **opts},
                            callbacks=list, steps=steps, max_minutes=None if seconds is None else seconds / 60,
                            batch_size=args.batch * int(opts.get("pack", 1)), seed=args.seed, device=args.device,
                            progress=False, log_every=100, checkpoint_every=min(1000, steps or 1000), threads=args.threads,
                            logger="none")
            models, rounds, secs, engine = res.models, res.trainers[0].step, res.trainers[0].elapsed, res.engine
        modes, kls = [], []
        for i, model in enumerate(models):
            ctx = EvalContext(model=model.eval(), data=data, device=model.device, seed=args.seed + i)
            r = run_metric("stacked_modes", ctx, n_samples=args.n_samples)
            modes.append(r["value"])
            kls.append(r["kl"])
        line = (f"| {label} | {rounds} | {len(modes)} | {pm(mean_std(modes), '.0f')} | {pm(mean_std(kls), '.3f')} | "
                f"{engine} | {secs:.0f} |")
        print(line, flush=True)
        lines.append(line)
    proto = r["protocol"]
    table = ["| model | rounds | seeds | modes (of 1000) | KL to uniform (nats) | engine | train s (all seeds) |",
             "|---|---|---|---|---|---|---|", *lines]
    notes = (f"- DCGAN networks width {args.width}, batch {args.batch} (critic inputs; PacDCGANm: {args.batch}·m samples), "
             f"budget {args.budget} per row, {args.n_train} stacked training images; mean ± std over {args.seeds} seeds "
             f"trained as one vmapped sweep; {proto['n_samples']} samples per seed labelled per channel by "
             f"{proto['classifier']}; published: DCGAN 99 / 3.4, WGAN-GP 959 / 0.73, PacDCGAN 1000 / 0.06")
    append(f"bench_stacked_mnist {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
