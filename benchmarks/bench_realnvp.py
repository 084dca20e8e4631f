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
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402

from _budget import fit  # noqa: E402
from _results import add_common_args, append  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="100000", help="training rounds, or minutes as e.g. 30m")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--scales", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--n-test", type=int, default=10000)
    add_common_args(ap)
    args = ap.parse_args(argv)

    data = genzoo.load_data("mnist", root=args.data_root)
    torch.manual_seed(args.seed)
    model = genzoo.build("realnvp", data.info, arch="multiscale", n_scales=args.scales, width=args.width, n_blocks=args.blocks)
    model, secs, steps = fit(model, data, args.budget, batch_size=args.batch, lr=args.lr, seed=args.seed,
                             device=args.device, grad_clip=100.0)
    dev = next(model.parameters()).device
    with torch.no_grad():
        x = data.x_test[: args.n_test]
        bpd = torch.cat([model.bits_per_dim(x[i : i + 500].to(dev)) for i in range(0, len(x), 500)])
    n_params = sum(p.numel() for p in model.parameters())
    line = f"| RealNVP {args.scales} scales, width {args.width}, {args.blocks} blocks ({n_params / 1e6:.2f} M params) | {steps} | {float(bpd.mean()):.3f} | {secs:.0f} |"
    print(line, flush=True)
    extra = [f"- budget: Adam lr {args.lr}, batch {args.batch}, budget {args.budget} (rounds or minutes), grad clip 100; {len(x)} test images, one dequantisation each"]
    table = ["| model | rounds | test bits/dim | train s |", "|---|---|---|---|", line]
    append(f"bench_realnvp {args.tag}".rstrip(), "\n".join(table), "\n".join(extra), path=args.results)


if __name__ == "__main__":
    main()
