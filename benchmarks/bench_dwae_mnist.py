"""Disentangled WAE on MNIST (label = function): swap z_f to another digit, keep the style in z_s.

Protocol (Li et al. 2023, here on images): the code is z = [z_f, z_s]; a classifier must read
the digit from z_f; the MMD (IMQ kernels, λ = ``--weight``) matches [z_f, z_s] to N(0, I).
After training, each of ``--n`` test images x gets the z_f of a test image of another digit
(the donor, drawn at random) and keeps its own z_s: x' = decode([z_f(donor), z_s(x)]).

Figures:
- edit success: genzoo's own MNIST classifier (the FID feature network, trained on the MNIST
  training set, cached) reads the donor's digit in x' (target >= 90 %);
- style kept: the structural code of the edited image, re-encoded, against the original's:
  cos(z_s(x'), z_s(x)) of the codes centred on the test set's mean z_s, averaged over edits, beside the same similarity for random pairs of
  test images (the chance level) and for x' against its donor (what copying the donor's style
  would give); also the fraction of edits whose z_s(x') is nearer to z_s(x) than to z_s(donor);
- a picture: originals down the left, each column the same z_s with z_f of a donor of digit
  0-9 (``docs/img/dwae-mnist-swap.png``).

Usage::

    python benchmarks/bench_dwae_mnist.py --steps 12000
    python benchmarks/bench_dwae_mnist.py --steps 20 --hidden 64 --n 200 --tag "SMOKE TEST" --img ""
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.metrics.features import feature_net  # noqa: E402
from genzoo.viz.plots import save_image_grid  # noqa: E402

from _results import add_common_args, append  # noqa: E402
from _resume import trained  # noqa: E402


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--func-dim", type=int, default=4)
    ap.add_argument("--struct-dim", type=int, default=12)
    ap.add_argument("--hidden", default="512,512")
    ap.add_argument("--weight", type=float, default=10.0)
    ap.add_argument("--class-weight", type=float, default=1.0)
    ap.add_argument("--n", type=int, default=5000, help="test images edited")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_dwae_mnist")
    ap.add_argument("--img", default="docs/img")
    add_common_args(ap)
    args = ap.parse_args(argv)
    data_options = {"root": args.data_root} if args.data_root else {}
    opts = {"func_dim": args.func_dim, "struct_dim": args.struct_dim, "encoder": {"type": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]},
            "likelihood": "bernoulli", "weight": args.weight, "class_weight": args.class_weight}
    t0 = time.time()
    with torch.enable_grad():
        model = trained(Path(args.out) / "dwae", "dwae", "mnist", args.steps, model_options=opts, data_options=data_options,
                        batch_size=args.batch, seed=args.seed, device=args.device, threads=args.threads, betas=(0.5, 0.999))
    secs = time.time() - t0
    torch.set_num_threads(args.threads)
    data = genzoo.load_data("mnist", **data_options)
    judge = feature_net(data, train=False)
    g = torch.Generator().manual_seed(args.seed)
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    # a donor of another digit for each image
    shift = torch.randint(1, 10, (len(x),), generator=g)
    want = (y + shift) % 10
    pools = [torch.nonzero(data.y_test == k).flatten() for k in range(10)]
    donor_idx = torch.stack([pools[int(k)][torch.randint(len(pools[int(k)]), (1,), generator=g)][0] for k in want])
    donors = data.x_test[donor_idx]

    def chunks(fn, *ts):  # noqa: ANN001, ANN202
        return torch.cat([fn(*(t[i : i + 500] for t in ts)) for i in range(0, len(ts[0]), 500)])

    edited = chunks(model.swap, x, donors)
    read = chunks(lambda e: judge(e).argmax(1), edited)
    success = float((read == want).float().mean())
    kept_label = float((chunks(lambda e: judge(e).argmax(1), x) == y).float().mean())
    zs = lambda t: model.split(chunks(model.encode, t))[1]  # noqa: E731
    zs_x, zs_e, zs_d = zs(x), zs(edited), zs(donors)
    centre = zs_x.mean(0)  # cosines of centred codes (correlations): a shared offset would make every pair look alike
    zs_x, zs_e, zs_d = zs_x - centre, zs_e - centre, zs_d - centre
    cos_kept = float(F.cosine_similarity(zs_e, zs_x).mean())
    cos_donor = float(F.cosine_similarity(zs_e, zs_d).mean())
    perm = torch.randperm(len(x), generator=g)
    cos_chance = float(F.cosine_similarity(zs_x, zs_x[perm]).mean())
    nearer = float(((zs_e - zs_x).norm(dim=1) < (zs_e - zs_d).norm(dim=1)).float().mean())
    clf_acc = float((chunks(model.classify, x).argmax(1) == y).float().mean())
    line = (f"| dwae | {args.steps} | {100 * success:.1f} % | {cos_kept:.3f} | {cos_donor:.3f} | {cos_chance:.3f} | {100 * nearer:.1f} % "
            f"| {100 * clf_acc:.1f} % | {secs:.0f} |")
    print(line, flush=True)
    if args.img:  # originals (left), then the same style with the z_f of a donor of each digit
        rows = [torch.nonzero(data.y_test == k).flatten()[1] for k in range(10)]
        originals = data.x_test[torch.stack(rows)]
        donors10 = data.x_test[torch.stack([p[0] for p in pools])]
        grid = [torch.cat([o[None], model.swap(o[None].expand(10, -1, -1, -1), donors10)]) for o in originals]
        save_image_grid(torch.cat(grid), Path(args.img) / "dwae-mnist-swap.png", nrow=11)
    table = ["| model | rounds | edits read as the donor's digit | cos(z_s(x'), z_s(x)) | cos(z_s(x'), z_s(donor)) | "
             "cos of random pairs | z_s(x') nearer x than donor | z_f classifier test acc. | train s |",
             "|---|---|---|---|---|---|---|---|---|", line]
    notes = (f"- MLP encoder {args.hidden} (decoder mirrored), z_f {args.func_dim}-d, z_s {args.struct_dim}-d, Bernoulli cost, "
             f"MMD λ {args.weight} (IMQ, paper scales), classifier weight {args.class_weight}, batch {args.batch}, Adam 1e-3 β1=0.5, "
             f"{args.steps} rounds; {len(x)} test images edited, each with a random test image of another digit as donor; "
             f"judge: genzoo's MNIST feature classifier ({getattr(judge, 'genzoo_accuracy', float('nan')):.4f} test acc., "
             f"which reads the unedited originals right {100 * kept_label:.1f} % of the time); {args.threads} torch thread(s), niced, shared CPU.\n"
             "- target: >= 90 % of edits read as the new digit while z_s keeps the style (cos with the original above chance and above the donor's).")
    append(f"bench_dwae_mnist {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
