"""Semi-supervised (100 labels) and unsupervised (16 clusters) adversarial autoencoders on MNIST: test error.

Protocol (Makhzani et al. 2016, §5 and §6): MNIST intensities in [0, 1], Bernoulli
reconstruction; the encoder outputs a categorical code y (softmax over K) and a Gaussian style
code z; two latent critics push y to one-hot draws of a uniform categorical and z to N(0, I);
the players take the paper's phases in turn every round (reconstruction, both critics, the
encoder against them, and, with labels, the cross-entropy of q(y|x) on a minibatch of the
labelled examples). ``aae_semi`` keeps the labels of ``--labels`` training images, balanced
over the digits (10 per class, chosen by seed 0); ``aae_cluster`` uses none, with K = 16.

Test error (metric ``class_error``) on the 10,000 MNIST test images: semi-supervised, the
category is the predicted label; clusters, each cluster takes the label of the training image
(among the first 10,000) it is most confident of, as in the paper (the majority label of its
members is printed beside it).

Targets (issue 13): semi-supervised <= 5 % (paper 1.90 %), clustering <= 15 % (paper 9.55 %).
Every ``--eval`` rounds the run is evaluated, then continued (run folders under ``--out``
resume where they stopped), so the table is a learning curve at the stated budget.

Usage::

    python benchmarks/bench_aae_semi.py --rows aae_semi --eval 2000,6000,12000
    python benchmarks/bench_aae_semi.py --rows aae_semi --eval 20 --hidden 64 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402

from _results import add_common_args, append  # noqa: E402
from _resume import trained  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="aae_semi,aae_cluster")
    ap.add_argument("--eval", default="2000,6000,12000", help="rounds at which to evaluate (the run continues between them)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--clusters", type=int, default=16)
    ap.add_argument("--style-dim", type=int, default=10)
    ap.add_argument("--hidden", default="1000,1000", help="encoder (decoder mirrored) hidden widths")
    ap.add_argument("--critic-hidden", default="1000,1000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_aae_semi")
    add_common_args(ap)
    args = ap.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    critic = {"type": "mlp", "hidden": [int(h) for h in args.critic_hidden.split(",")], "act": "leaky_relu"}
    data_options = {"root": args.data_root} if args.data_root else {}
    lines = []
    for name in args.rows.split(","):
        opts = {"encoder": {"type": "mlp", "hidden": hidden}, "critic": critic, "style_dim": args.style_dim}
        opts.update({"labels": args.labels} if name == "aae_semi" else {"categories": args.clusters})
        for steps in (int(s) for s in args.eval.split(",")):
            t0 = time.time()
            model = trained(Path(args.out) / name, name, "mnist", steps, model_options=opts, data_options=data_options,
                            batch_size=args.batch, seed=args.seed, device=args.device, threads=args.threads)
            secs = time.time() - t0
            res = genzoo.evaluate(Path(args.out) / name, ["class_error"], n=10_000, seed=args.seed)["metrics"]["class_error"]
            extra = f"{100 * res['majority_error']:.2f} % ({res['clusters_used']} used)" if "majority_error" in res else "-"
            line = f"| {name} | {steps} | {100 * res['value']:.2f} % | {extra} | {secs:.0f} |"
            print(line, flush=True)
            lines.append(line)
            torch.set_num_threads(args.threads)
    table = ["| model | rounds | test error | majority-label error | train s (this leg) |", "|---|---|---|---|---|", *lines]
    notes = (f"- MNIST intensities, Bernoulli reconstruction; encoder MLP {args.hidden} (decoder mirrored), critics MLP "
             f"{args.critic_hidden} (LeakyReLU); style code {args.style_dim}-d; batch {args.batch}; autoencoder Adam 1e-3, "
             f"critics/encoder/classifier Adam 5e-4 β1=0.5; labels {args.labels} (balanced, seed 0) / {args.clusters} clusters; "
             f"one round = every player once; {args.threads} torch thread(s), niced, on a CPU shared with other jobs.\n"
             "- targets: semi-supervised <= 5 % (Makhzani et al. 1.90 %), clusters <= 15 % (9.55 %).")
    append(f"bench_aae_semi {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
