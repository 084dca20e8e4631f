"""Binarized-MNIST test log-likelihood of RBMs with 500 hidden units, by AIS.

Protocol (Salakhutdinov & Murray 2008; DESIGN §8): Bernoulli-Bernoulli RBM, 784 visible and
500 hidden units, trained on dynamically binarized MNIST training images (``load_data(
"binarized-mnist")``) with SGD (``--lr``, momentum 0.5, batch ``--batch``) for ``--budget``
rounds (or minutes, ``30m``) per row; test log-likelihood = mean over the fixed-binarized test
set of -F(x) - log Ẑ, with log Ẑ from AIS: 100 runs, base-rate RBM from the training-data
pixel marginals, β in steps of 1e-3 up to 0.5, 1e-4 up to 0.9, 1e-5 up to 1 (14 500
distributions; ``--ais-scale`` multiplies every segment's count, 1 = the paper's). The AIS
estimate of log Z tends to be low, so the reported LL tends to be optimistic; the ± is
3 standard errors of the AIS estimate of Z (delta method).

Rows and targets (issue 6): CD-1 about -125; CD-25 and PCD >= -88 (paper: CD-25 -86.34).

Usage::

    python benchmarks/bench_rbm.py                                  # full budget (hours on a CPU)
    python benchmarks/bench_rbm.py --budget 20 --ais-scale 0.01 --n-test 500 --rows cd1 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.models.rbm import ais_schedule  # noqa: E402

from _budget import fit  # noqa: E402
from _results import add_common_args, append  # noqa: E402

ROWS = {"cd1": ("CD-1", {"k": 1}), "cd25": ("CD-25", {"k": 25}), "pcd": ("PCD-1 (100 chains)", {"k": 1, "pcd": True})}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="300000", help="training rounds per row, or minutes as e.g. 30m")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.5)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--schedule", default="constant", help="learning-rate schedule: constant, linear (to 0) or cosine")
    ap.add_argument("--rows", default="cd1,cd25,pcd")
    ap.add_argument("--ais-runs", type=int, default=100)
    ap.add_argument("--ais-scale", type=float, default=1.0, help="multiplies the 500/4000/10000 AIS step counts")
    ap.add_argument("--n-test", type=int, default=10000)
    add_common_args(ap)
    args = ap.parse_args(argv)

    data = genzoo.load_data("binarized-mnist", root=args.data_root)
    betas = ais_schedule(tuple((b, max(1, round(n * args.ais_scale))) for b, n in ((0.5, 500), (0.9, 4000), (1.0, 10000))))
    lines = []
    for key in args.rows.split(","):
        label, opts = ROWS[key]
        torch.manual_seed(args.seed)
        model = genzoo.build("rbm", data.info, n_hidden=500, **opts)
        model, secs, steps = fit(model, data, args.budget, batch_size=args.batch, lr=args.lr, momentum=args.momentum,
                                 weight_decay=args.weight_decay, schedule=args.schedule, seed=args.seed, device=args.device)
        dev = model.W.device
        with torch.no_grad():
            log_z, width = model.log_partition_ais(data.x_train.to(dev), n_runs=args.ais_runs, betas=betas)
            x = data.x_test[: args.n_test].to(dev)
            ll = float((-model.free_energy(x).double()).mean() - log_z)
        line = f"| {label} | {steps} | {ll:.2f} | {float(log_z):.2f} ± {float(width):.2f} | {secs:.0f} |"
        print(line, flush=True)
        lines.append(line)
    extra = [f"- budget (every row): SGD lr {args.lr} ({args.schedule} schedule) momentum {args.momentum}, weight decay {args.weight_decay}, batch {args.batch}, budget {args.budget} (rounds or minutes); "
             f"AIS {args.ais_runs} runs, {len(betas) - 1} temperatures; {min(args.n_test, len(data.x_test))} test images"]
    table = ["| row | rounds | test LL (nats) | AIS log Z | train s |", "|---|---|---|---|---|", *lines]
    append(f"bench_rbm {args.tag}".rstrip(), "\n".join(table), "\n".join(extra), path=args.results)


if __name__ == "__main__":
    main()
