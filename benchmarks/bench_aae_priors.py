"""Adversarial autoencoders on MNIST with three priors, and the supervised form: pictures.

Protocol (Makhzani et al. 2016, Figs. 2, 4 and 7): MNIST intensities, Bernoulli
reconstruction, MLP encoder ``--hidden`` (decoder mirrored), a 2-d code, the latent critic
(MLP 256-256, LeakyReLU, Adam 5e-4 β1 = 0.5) and the paper's separate phases each round;
priors ``normal``, ``ring`` (10 Gaussians on a circle of radius 4, std 0.5) and ``swiss_roll``.
The figure ``docs/img/aae-priors.png`` shows, per prior, the codes of 5,000 test images
coloured by digit over draws of the prior (grey); the score printed beside it is the MMD
(IMQ kernel) between the test codes and as many prior draws, against the same MMD between two
independent prior samples.

The supervised AAE (``supervised=true``: the decoder also reads the label, the encoder does not,
an 8-d code) draws ``docs/img/aae-supervised.png``: each row one style code drawn from the prior,
each column the digits 0-9 decoded with it.

Usage::

    python benchmarks/bench_aae_priors.py --steps 6000
    python benchmarks/bench_aae_priors.py --steps 20 --hidden 64 --tag "SMOKE TEST" --img /tmp
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.divergences import mmd2  # noqa: E402
from genzoo.viz.plots import save_image_grid  # noqa: E402

from _results import add_common_args, append  # noqa: E402
from _resume import trained  # noqa: E402


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--priors", default="normal,ring,swiss_roll")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", default="512,512")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_aae_priors")
    ap.add_argument("--img", default="docs/img")
    add_common_args(ap)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enc = {"type": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]}
    data_options = {"root": args.data_root} if args.data_root else {}
    data = genzoo.load_data("mnist", **data_options)
    x, y = data.x_test[:5000], data.y_test[:5000]
    priors = args.priors.split(",")
    fig, axes = plt.subplots(1, len(priors), figsize=(4.2 * len(priors), 4.2))
    lines = []
    for ax, prior in zip([axes] if len(priors) == 1 else axes, priors):
        with torch.enable_grad():
            model = trained(Path(args.out) / prior, "aae", "mnist", args.steps, data_options=data_options,
                            model_options={"latent_dim": 2, "prior": prior, "encoder": enc, "likelihood": "bernoulli"},
                            batch_size=args.batch, seed=args.seed, device=args.device, threads=args.threads)
        torch.manual_seed(args.seed)
        z = torch.cat([model.encode(x[i : i + 1000]) for i in range(0, len(x), 1000)])
        p = model.target_prior()
        draws, other = p.sample(len(x)), p.sample(len(x))
        bw = tuple(math.sqrt(2 * 2 * float(draws.var(0).mean()) * s) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
        m_codes = float(mmd2(draws, z, bw, unbiased=True, kernel="wae_imq"))
        m_ref = float(mmd2(draws, other, bw, unbiased=True, kernel="wae_imq"))
        ax.scatter(draws[:, 0], draws[:, 1], s=1, c="0.85")
        sc = ax.scatter(z[:, 0], z[:, 1], s=1.5, c=y, cmap="tab10")
        ax.set_title(f"prior: {prior}  (MMD² codes {m_codes:.4f}, prior vs prior {m_ref:.4f})", fontsize=8)
        ax.set_aspect("equal")
        line = f"| aae, prior {prior} | {args.steps} | {m_codes:.4f} | {m_ref:.4f} |"
        print(line, flush=True)
        lines.append(line)
        torch.set_num_threads(args.threads)
    fig.colorbar(sc, ax=axes, shrink=0.8, label="digit")
    if args.img:
        fig.savefig(Path(args.img) / "aae-priors.png", dpi=110, bbox_inches="tight")
    with torch.enable_grad():
        sup = trained(Path(args.out) / "supervised", "aae", "mnist", args.steps, data_options=data_options,
                      model_options={"latent_dim": 8, "supervised": True, "encoder": enc, "likelihood": "bernoulli"},
                      batch_size=args.batch, seed=args.seed, device=args.device, threads=args.threads)
    torch.manual_seed(args.seed)
    styles = sup.target_prior().sample(8)  # (8, 8): one style per row
    z = styles.repeat_interleave(10, 0)
    labels = torch.arange(10).repeat(8)
    if args.img:
        save_image_grid(sup.decode(z, labels), Path(args.img) / "aae-supervised.png", nrow=10)
    table = ["| model | rounds | MMD² (test codes vs prior) | MMD² (prior vs prior) |", "|---|---|---|---|", *lines]
    notes = (f"- MNIST, MLP encoder {args.hidden} (decoder mirrored), 2-d code, Bernoulli reconstruction, batch {args.batch}, "
             f"{args.steps} rounds of the paper's phases (autoencoder Adam 1e-3; critic and encoder Adam 5e-4 β1=0.5); "
             "MMD² (IMQ kernel, C = 2·2·σ²_prior·(0.1 ... 10)) on 5,000 test codes; pictures docs/img/aae-priors.png and "
             f"docs/img/aae-supervised.png (8-d style, supervised); {args.threads} torch thread(s), niced, shared CPU.")
    append(f"bench_aae_priors {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
