"""Parzen-window test log-likelihood of GMMN and GMMN+AE on MNIST.

Protocol (Li et al. 2015; Goodfellow et al. 2014): MNIST intensities in [0, 1]
(``load_data("mnist")``); the last 10 000 training images are the validation split, the
first 50 000 train the models for ``--budget`` rounds (or minutes, ``30m``) with Adam
``--lr`` and minibatches of ``--batch``. Each model draws 10 000 samples; a Gaussian Parzen
window on them (:mod:`genzoo.metrics.likelihood`) gets its σ from a log-spaced grid on
``--n-val`` validation images, and the mean test log-likelihood (nats) over ``--n-test``
test images is reported with that σ.

Row ``data`` is the reference: ``--n-samples`` real training images in place of samples,
i.e. the Parzen figure of a perfect sampler (Theis et al. 2016 note that blurred or
prototype-like samples can score above it).

Rows and targets (issue 6): GMMN (data space, kernel widths 2..80) >= 140 (paper 147);
GMMN+AE (AE 784-1024-32 sigmoid codes, ``--ae-steps`` AE rounds first) >= 270 (paper 282).

Usage::

    python benchmarks/bench_gmmn.py                                 # full budget
    python benchmarks/bench_gmmn.py --budget 20 --ae-steps 10 --batch 100 --n-val 200 --n-test 200 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.data.base import Data  # noqa: E402
from genzoo.metrics.likelihood import parzen_log_likelihood, select_sigma  # noqa: E402

from _budget import fit  # noqa: E402
from _results import add_common_args, append  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="40000", help="training rounds per model (GMMN+AE: including --ae-steps), or minutes as e.g. 30m")
    ap.add_argument("--ae-steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rows", default="gmmn,gmmn_ae")
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-val", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=10000)
    add_common_args(ap)
    args = ap.parse_args(argv)

    full = genzoo.load_data("mnist", root=args.data_root)
    data = Data(full.x_train[:50000], full.x_test, full.info, full.y_train[:50000], full.y_test)
    x_val = full.x_train[50000:][: args.n_val]
    x_test = full.x_test[: args.n_test]
    lines = []
    for name in args.rows.split(","):
        torch.manual_seed(args.seed)
        if name == "data":  # the reference: real training images as the "samples" of a perfect model
            samples, secs, steps = data.x_train[torch.randperm(len(data.x_train))[: args.n_samples]], 0.0, 0
        else:
            opts = {"ae_steps": args.ae_steps} if name == "gmmn_ae" else {}
            model = genzoo.build(name, data.info, **opts)
            model, secs, steps = fit(model, data, args.budget, batch_size=args.batch, lr=args.lr, seed=args.seed, device=args.device)
            with torch.no_grad():
                samples = torch.cat([model.sample(1000) for _ in range(0, args.n_samples, 1000)])[: args.n_samples]
        sigma, val_ll = select_sigma(samples, x_val.to(samples.device))
        ll = parzen_log_likelihood(samples, x_test.to(samples.device), sigma)
        se = float(ll.std()) / len(ll) ** 0.5
        line = f"| {name} | {steps} | {float(ll.mean()):.1f} ± {se:.1f} | {sigma:.3f} | {val_ll:.1f} | {secs:.0f} |"
        print(line, flush=True)
        lines.append(line)
    extra = [f"- budget (every row): Adam lr {args.lr}, batch {args.batch}, budget {args.budget} (rounds or minutes; GMMN+AE: first {args.ae_steps} train the AE); "
             f"Parzen: {args.n_samples} samples, σ on {len(x_val)} validation images, {len(x_test)} test images (± 1 s.e.)"]
    table = ["| model | rounds | Parzen test LL (nats) | σ | val LL | train s |", "|---|---|---|---|---|---|", *lines]
    append(f"bench_gmmn {args.tag}".rstrip(), "\n".join(table), "\n".join(extra), path=args.results)


if __name__ == "__main__":
    main()
