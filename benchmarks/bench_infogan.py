"""InfoGAN on MNIST: the categorical code as an unsupervised classifier, and the code traversal.

Protocol (Chen et al. 2016, §7.1 and Fig. 2): InfoGAN with one 10-way categorical code and
two continuous codes ~ U(-1, 1) on MNIST intensities in [0, 1] (``load_data("mnist")``),
genzoo's default DCGAN-style networks and optimizers (Adam 2e-4, β1 = 0.5) for ``--budget``
rounds (or minutes, ``30m``). After training, Q's most probable category of every MNIST test
image is matched one-to-one to the labels by the assignment that maximises agreement
(Hungarian algorithm on the 10x10 confusion matrix); the error of that classifier is the
figure (paper: 5% ± 0.01; target <= 10%). InfoGAN sometimes fails to disentangle digit
identity from style in a given run (the paper reports the 5% from its good runs), so
``--seeds`` trains several and reports each.

The traversal picture has one row per category and columns sweeping the first continuous
code from -2 to 2 (beyond the training range [-1, 1], as in the paper), with one fixed
noise vector and the second code at 0.

Usage::

    python benchmarks/bench_infogan.py --budget 30m --seeds 1
    python benchmarks/bench_infogan.py --budget 20 --n-test 500 --tag "SMOKE TEST" --picture /tmp/t.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.viz.plots import save_image_grid  # noqa: E402

from _budget import fit  # noqa: E402
from _results import add_common_args, append  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def matched_error(pred: np.ndarray, labels: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    """Error of ``pred`` after the one-to-one relabelling of categories that maximises agreement."""
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (pred, labels), 1)
    rows, cols = linear_sum_assignment(-conf)
    return 1.0 - conf[rows, cols].sum() / len(labels), cols[np.argsort(rows)]


@torch.no_grad()
def traversal(model, steps: int = 9, span: float = 2.0, seed: int = 0) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Images ``(cat_dim * steps, C, H, W)``: rows = categories, columns = first continuous code."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, model.noise_dim, generator=g).expand(model.cat_dim * steps, -1)
    cat = torch.arange(model.cat_dim).repeat_interleave(steps)[:, None].expand(-1, model.n_cat)
    cont = torch.zeros(model.cat_dim * steps, model.n_cont)
    cont[:, 0] = torch.linspace(-span, span, steps).repeat(model.cat_dim)
    onehot = torch.nn.functional.one_hot(cat, model.cat_dim).float().flatten(1)
    return model.generate(torch.cat([z, onehot, cont], 1).to(model.device))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="30m", help="training rounds, or minutes as e.g. 30m")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--net", default="conv", help="conv (DCGAN, the paper's kind) or mlp (faster on a CPU)")
    ap.add_argument("--width", type=int, default=64, help="DCGAN base channels")
    ap.add_argument("--noise-dim", type=int, default=16, help="incompressible noise dims (the paper: 62)")
    ap.add_argument("--g-lr", type=float, default=2e-4, help="generator (and Q) learning rate (the paper: 1e-3; critic stays 2e-4)")
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--picture", default=str(ROOT / "docs" / "img" / "infogan-traversal.png"))
    add_common_args(ap)
    args = ap.parse_args(argv)

    data = genzoo.load_data("mnist", root=args.data_root)
    x, y = data.x_test[: args.n_test], data.y_test[: args.n_test].numpy()
    lines, best = [], None
    for seed in range(args.seed, args.seed + args.seeds):
        torch.manual_seed(seed)
        nets = {"type": args.net, **({"width": args.width} if args.net == "conv" else {})}
        model = genzoo.build("infogan", data.info, generator=nets, critic=nets, latent_dim=args.noise_dim)
        model, secs, steps = fit(model, data, args.budget, batch_size=args.batch, seed=seed, device=args.device,
                                 players={"generator": {"lr": args.g_lr}})
        pred = torch.cat([model.infer_codes(x[i : i + 1000].to(model.device))[0][:, 0].cpu() for i in range(0, len(x), 1000)]).numpy()
        err, mapping = matched_error(pred, y)
        line = f"| {seed} | {steps} | {100 * err:.2f} | {' '.join(map(str, mapping))} | {secs:.0f} |"
        print(line, flush=True)
        lines.append(line)
        if best is None or err < best[0]:
            best = (err, model, seed)
    assert best is not None
    save_image_grid(traversal(best[1]).cpu(), args.picture, nrow=9)
    print(f"traversal of seed {best[2]} -> {args.picture}")
    table = ["| seed | rounds | test error % (matched) | digit of category 0..9 | train s |", "|---|---|---|---|---|", *lines]
    notes = (f"- one 10-way categorical + 2 continuous codes, 16 noise dims, {args.net} nets (width {args.width}), Adam 2e-4 β1 0.5, batch {args.batch}, "
             f"budget {args.budget}; {len(y)} MNIST test images; paper 5% (target <= 10%); traversal: {Path(args.picture).name}")
    append(f"bench_infogan {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
