"""RealNVP on the 2-D toy sets: test log-likelihoods and learned densities beside the true ones.

Protocol: for each set, ``realnvp`` with ``--layers`` affine couplings (alternating masks,
MLP conditioners of ``--hidden`` units) trains for ``--steps`` rounds (Adam ``--lr``, batch
``--batch``) on the set's training points; the test log-likelihood is the mean exact
log p(x) (nats) over its test points. Where the data density is known in closed form (the
Gaussian mixtures and the checkerboard) the table also gives the true density's mean test
log-likelihood, the ceiling a perfect model reaches (up to sampling noise of the test set),
and the gap. The figure shows, per set, the true density (or a histogram of the test points
where it is unknown) next to the learned one, on the same grid.

Usage::

    python benchmarks/bench_flow_toy.py
    python benchmarks/bench_flow_toy.py --steps 50 --sets moons --picture /tmp/f.png --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.data import toy_log_density  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402
from genzoo.viz.plots import _plt, save_figure  # noqa: E402

from _results import add_common_args, append  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = "8gaussians,25gaussians,checkerboard,moons,spirals,pinwheel"
# the mixtures' GAN-benchmark widths (σ 0.01 / 0.05) are needle-thin on a plot; flows are shown wider ones
OPTIONS = {"8gaussians": {"radius": 2.0, "std": 0.1}, "25gaussians": {"std": 0.1}}


def grid(points: torch.Tensor, n: int) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """An ``n x n`` grid of query points covering the data with a margin, and its extent."""
    lo, hi = points.min(0).values, points.max(0).values
    pad = 0.1 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    xs, ys = torch.linspace(float(lo[0]), float(hi[0]), n), torch.linspace(float(lo[1]), float(hi[1]), n)
    g = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    return g, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--grid", type=int, default=160)
    ap.add_argument("--picture", default=str(ROOT / "docs" / "img" / "realnvp-toy.png"))
    add_common_args(ap)
    args = ap.parse_args(argv)

    names = args.sets.split(",")
    plt = _plt()
    fig, axes = plt.subplots(2, len(names), figsize=(2.6 * len(names), 5.4), squeeze=False)
    lines = []
    for j, name in enumerate(names):
        data = genzoo.load_data(name, **OPTIONS.get(name, {}))
        torch.manual_seed(args.seed)
        model = genzoo.build("realnvp", data.info, flow={"type": "coupling", "n_layers": args.layers, "hidden": (args.hidden, args.hidden)})
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, seed=args.seed, device=args.device,
                          progress=False, log_every=10**9, checkpoint_every=0)
        t0 = time.perf_counter()
        Trainer(model, data, cfg, run=None, callbacks=[]).fit()
        secs = time.perf_counter() - t0
        model.eval()
        x = data.x_test.to(model.device)
        with torch.no_grad():
            ll = model.log_prob(x).double()
            true = toy_log_density(data.info, x.double())
        g, extent = grid(data.x_test, args.grid)
        with torch.no_grad():
            learned = torch.cat([model.log_prob(c.to(model.device)).exp().cpu() for c in g.split(8192)]).reshape(args.grid, args.grid)
        if true is not None:
            t_ll = float(true.mean())
            lines.append(f"| {name} | {float(ll.mean()):.3f} ± {float(ll.std() / len(ll) ** 0.5):.3f} | {t_ll:.3f} | {t_ll - float(ll.mean()):.3f} | {secs:.0f} |")
            ref = toy_log_density(data.info, g.double()).exp().reshape(args.grid, args.grid).float()
            top = axes[0, j].imshow(ref.numpy(), origin="lower", extent=extent, cmap="magma", aspect="auto")
            axes[0, j].set_title(f"{name}: true", fontsize=9)
        else:
            lines.append(f"| {name} | {float(ll.mean()):.3f} ± {float(ll.std() / len(ll) ** 0.5):.3f} | n/a | n/a | {secs:.0f} |")
            top = axes[0, j].hist2d(data.x_test[:, 0].numpy(), data.x_test[:, 1].numpy(), bins=args.grid // 2,
                                    range=[extent[:2], extent[2:]], cmap="magma")
            axes[0, j].set_title(f"{name}: test points", fontsize=9)
        axes[1, j].imshow(learned.numpy(), origin="lower", extent=extent, cmap="magma", aspect="auto")
        axes[1, j].set_title(f"RealNVP  {float(ll.mean()):.2f} nats", fontsize=9)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
        print(lines[-1], flush=True)
    del top
    fig.tight_layout()
    save_figure(fig, args.picture)
    table = ["| data | RealNVP test log p (nats) | true density's test log p | gap | train s |", "|---|---|---|---|---|", *lines]
    notes = (f"- {args.layers} affine couplings, MLP conditioners {args.hidden}x2, Adam {args.lr}, batch {args.batch}, "
             f"{args.steps} rounds per set; data options {OPTIONS}; ± is the standard error over the test points; picture {Path(args.picture).name}")
    append(f"bench_flow_toy {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
