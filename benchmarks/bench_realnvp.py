"""MNIST bits per dimension of a multi-scale RealNVP.

Protocol (DESIGN §8; Dinh et al. 2017): 8-bit MNIST (``load_data("mnist")``, values k/255),
uniform dequantisation y = (k + u)/256, logit transform with α = 0.05 whose Jacobian is part
of the likelihood; multi-scale RealNVP (``--scales`` scales of checkerboard/channel
couplings with ResNet conditioners of ``--width`` channels, ``--blocks`` blocks); Adam
``--lr``, batch ``--batch``, ``--budget`` rounds (or minutes, ``30m``). Test bits/dim =
mean over the test set of -(log p(y) - D log 256) / (D ln 2) with one dequantisation per
image (an upper bound on the discrete model's bits/dim in expectation).

Target (issue 6): test bits/dim <= 1.20.

Usage::

    python benchmarks/bench_realnvp.py                              # full budget (GPU advised)
    python benchmarks/bench_realnvp.py --budget 10 --width 16 --blocks 1 --n-test 200 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.train.callbacks import Callback  # noqa: E402

from _budget import fit  # noqa: E402
from _results import add_common_args, append  # noqa: E402


@torch.no_grad()
def test_bpd(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Bits/dim of every test image (one dequantisation each), in eval mode."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = torch.cat([model.bits_per_dim(x[i : i + 500].to(dev)).cpu() for i in range(0, len(x), 500)])
    model.train(was)
    return out


class Curve(Callback):
    """Test bits/dim on a fixed subset every ``sample_every`` rounds: (rounds, seconds, bpd)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.points, self.t0 = x, [], time.perf_counter()

    def on_sample(self, trainer, tag: str) -> None:  # type: ignore[no-untyped-def]
        self.points.append((trainer.step, time.perf_counter() - self.t0, float(test_bpd(trainer.model, self.x).mean())))
        print(f"curve: {self.points[-1]}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="100000", help="training rounds, or minutes as e.g. 30m")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--scales", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--curve-every", type=int, default=0, help="rounds between points of the test curve (0: none)")
    ap.add_argument("--curve-n", type=int, default=1000, help="test images per curve point")
    ap.add_argument("--plot", default=None, help="PNG of the test bits/dim curve (needs --curve-every)")
    add_common_args(ap)
    args = ap.parse_args(argv)

    data = genzoo.load_data("mnist", root=args.data_root)
    torch.manual_seed(args.seed)
    model = genzoo.build("realnvp", data.info, flow={"type": "multiscale", "n_scales": args.scales, "width": args.width, "n_blocks": args.blocks})
    curve = Curve(data.x_test[: args.curve_n])
    model, secs, steps = fit(model, data, args.budget, batch_size=args.batch, lr=args.lr, seed=args.seed,
                             device=args.device, grad_clip=100.0, callbacks=[curve] if args.curve_every else [],
                             sample_every=args.curve_every)
    bpd = test_bpd(model, data.x_test[: args.n_test])
    x = data.x_test[: args.n_test]
    n_params = sum(p.numel() for p in model.parameters())
    line = f"| RealNVP {args.scales} scales, width {args.width}, {args.blocks} blocks ({n_params / 1e6:.2f} M params) | {steps} | {float(bpd.mean()):.3f} | {secs:.0f} |"
    print(line, flush=True)
    extra = [f"- budget: Adam lr {args.lr}, batch {args.batch}, budget {args.budget} (rounds or minutes), grad clip 100; {len(x)} test images, one dequantisation each"]
    if curve.points:
        curve.points.append((steps, secs, float(bpd.mean())))
        extra.append(f"- test curve (first {args.curve_n} test images; the last point is the full test set): "
                     + ", ".join(f"{s} rounds ({t / 60:.0f} min) {b:.3f}" for s, t, b in curve.points))
        if args.plot:
            from genzoo.viz.plots import _plt, save_figure

            plt = _plt()
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.plot([p[0] for p in curve.points], [p[2] for p in curve.points], "o-", label="genzoo RealNVP (test)")
            ax.axhline(1.06, ls="--", c="gray", label="RealNVP paper 1.06")
            ax.axhline(1.20, ls=":", c="red", label="target 1.20")
            ax.set_xlabel("training rounds")
            ax.set_ylabel("bits / dim")
            ax.legend()
            save_figure(fig, args.plot)
    table = ["| model | rounds | test bits/dim | train s |", "|---|---|---|---|", line]
    append(f"bench_realnvp {args.tag}".rstrip(), "\n".join(table), "\n".join(extra), path=args.results)


if __name__ == "__main__":
    main()
