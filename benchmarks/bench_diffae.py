"""Diffusion autoencoder on MNIST: reconstruction through DDIM inversion, a linear probe of z_sem, attribute edits.

Protocol (a trained ``diffae`` run, EMA weights):

- reconstruction: ``--n-recon`` test images are encoded (z_sem, and x_T by deterministic DDIM
  inversion with ``--steps`` steps and ``--refine`` fixed-point iterations per step) and decoded
  with η = 0 DDIM over the same steps, no clipping until the end; the figure is the mean
  squared error per pixel in [0, 1] (target ≤ 1e-3 at 100 steps). Also given: plain inversion
  (refine 0), and decoding z_sem with fresh noise (what z_sem alone keeps).
- linear probe: multinomial logistic regression (L-BFGS, L2 1e-4, standardised features) on
  z_sem of ``--n-probe`` training images, accuracy on the whole test set (target ≥ 95 %).
- editing: a logistic classifier on z_sem separates thick from thin digits (ink above or below
  the training median); test digits move along its weight vector by ``--amounts`` standard
  deviations of z_sem and are decoded with their own x_T (the picture's middle column is the
  reconstruction). The picture also shows samples drawn through the latent DDPM.

Usage::

    python benchmarks/bench_diffae.py runs/mnist-diffae --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.samplers.diffusion import ddim_decode, ddim_invert  # noqa: E402
from genzoo.viz.plots import _plt, image_grid, save_figure  # noqa: E402

from _results import append  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def codes(model, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([model.semantic(x[i : i + batch]) for i in range(0, len(x), batch)])


def logistic(z: torch.Tensor, y: torch.Tensor, k: int, l2: float = 1e-4, iters: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on standardised ``z``: returns (W, b, mean, std)."""
    mean, std = z.mean(0), z.std(0).clamp_min(1e-6)
    zs = (z - mean) / std
    W = torch.zeros(z.shape[1], k, requires_grad=True)
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(zs @ W + b, y) + l2 * W.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach(), mean, std


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--n-recon", type=int, default=200)
    ap.add_argument("--n-probe", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--refine", type=int, default=2)
    ap.add_argument("--amounts", type=lambda s: [float(v) for v in s.split(",")], default=[-3, -2, -1, 0, 1, 2, 3])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--picture-dir", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run = Path(args.run)
    model = genzoo.load(run)
    data = genzoo.load_data("mnist")
    cache_path = run / "bench_diffae.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    out: dict = {}

    # -- reconstruction -----------------------------------------------------------------------------------
    x = data.x_test[: args.n_recon]
    for refine in sorted({0, args.refine}):
        key = f"recon/steps={args.steps}/refine={refine}/n={args.n_recon}"
        if key not in cache:
            t0, errs = time.perf_counter(), []
            for i in range(0, len(x), args.batch):
                xb = x[i : i + args.batch]
                with torch.no_grad():
                    z = model.semantic(xb)
                    x_T = ddim_invert(model, model.from_data(xb), z, args.steps, refine)
                    rec = model.to_data(model.clip_x0(ddim_decode(model, x_T, z, args.steps)))
                errs.append((rec - xb).pow(2).flatten(1).mean(1))
                print(f"  {key}: {min(i + args.batch, len(x))}/{len(x)}", flush=True)
            e = torch.cat(errs)
            cache[key] = {"mse": float(e.mean()), "max_image_mse": float(e.max()), "seconds": time.perf_counter() - t0}
            cache_path.write_text(json.dumps(cache, indent=1))
        out[key] = cache[key]
        print(key, cache[key], flush=True)
    key = f"recon/z_sem-only/steps={args.steps}/n={args.n_recon}"
    if key not in cache:
        torch.manual_seed(args.seed)
        with torch.no_grad():
            rec = torch.cat([model.decode(model.semantic(x[i : i + args.batch])) for i in range(0, len(x), args.batch)])
        cache[key] = {"mse": float((rec - x).pow(2).mean())}
        cache_path.write_text(json.dumps(cache, indent=1))
    out[key] = cache[key]

    # -- linear probe -------------------------------------------------------------------------------------
    z_tr, y_tr = codes(model, data.x_train[: args.n_probe]), data.y_train[: args.n_probe]
    z_te, y_te = codes(model, data.x_test), data.y_test
    W, b, mean, std = logistic(z_tr, y_tr, 10)
    acc = float(((((z_te - mean) / std) @ W + b).argmax(1) == y_te).float().mean())
    out["probe"] = {"accuracy": acc, "n_train": args.n_probe, "n_test": len(z_te), "dim": z_tr.shape[1]}
    print("linear probe", out["probe"], flush=True)

    # -- attribute editing: thickness ------------------------------------------------------------------------
    ink_tr = data.x_train[: args.n_probe].flatten(1).mean(1)
    thick = (ink_tr > ink_tr.median()).long()
    Wt, bt, mt, st = logistic(z_tr, thick, 2)
    thick_acc = float(((((z_te - mt) / st) @ Wt + bt).argmax(1) == (data.x_test.flatten(1).mean(1) > ink_tr.median()).long()).float().mean())
    direction = Wt[:, 1] - Wt[:, 0]  # the normal of the decision boundary, in standardised z_sem units
    picks = torch.tensor([3, 2, 1, 18, 4, 8, 11, 0])  # one test digit of several classes
    xs = data.x_test[picks]
    edits = model.edit(xs, direction, args.amounts).transpose(0, 1).reshape(-1, *xs.shape[1:])  # row per digit
    torch.manual_seed(args.seed)
    with torch.no_grad():
        samples = model.sample(32)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), gridspec_kw={"width_ratios": [len(args.amounts), 4]})
    axes[0].imshow(image_grid(edits, nrow=len(args.amounts)).squeeze(-1), cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("thin  <-  z_sem + a * (linear 'thickness' direction)  ->  thick\n(middle: reconstruction)", fontsize=9)
    axes[1].imshow(image_grid(samples, nrow=4).squeeze(-1), cmap="gray", vmin=0, vmax=255)
    axes[1].set_title("samples: z_sem from the latent DDPM", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    pic = Path(args.picture_dir) / "diffae-edits.png"
    save_figure(fig, pic)
    # reconstructions picture: originals over reconstructions
    with torch.no_grad():
        rec = model.decode(model.encode(data.x_test[:16]))
    fig, ax = plt.subplots(figsize=(8, 1.4))
    ax.imshow(image_grid(torch.cat([data.x_test[:16], rec]), nrow=16).squeeze(-1), cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
    ax.set_title(f"test digits (top) and their diffAE reconstructions via {args.steps}-step DDIM inversion (bottom)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, Path(args.picture_dir) / "diffae-reconstructions.png")
    print(f"pictures -> {args.picture_dir}")

    r_ref = out[f"recon/steps={args.steps}/refine={args.refine}/n={args.n_recon}"]
    r_plain = out[f"recon/steps={args.steps}/refine=0/n={args.n_recon}"]
    table = "\n".join([
        "| figure | value | target |",
        "|---|---|---|",
        f"| encode -> decode MSE per pixel, {args.steps} steps, inversion with {args.refine} fixed-point iterations | "
        f"{r_ref['mse']:.2e} (worst image {r_ref['max_image_mse']:.2e}) | ≤ 1e-3: {'met' if r_ref['mse'] <= 1e-3 else 'NOT met'} |",
        f"| the same, plain DDIM inversion (refine 0) | {r_plain['mse']:.2e} | |",
        f"| decode z_sem with fresh noise x_T (what z_sem alone keeps) | {out[key]['mse']:.2e} | |",
        f"| linear probe of z_sem ({z_tr.shape[1]}-d), digit accuracy on the 10k test set | {100 * acc:.2f} % | ≥ 95 %: "
        f"{'met' if acc >= 0.95 else 'NOT met'} |",
        f"| linear 'thick vs thin' classifier on z_sem (the edit direction), test accuracy | {100 * thick_acc:.2f} % | |",
    ])
    print(table)
    if args.report:
        steps = json.loads((Path(run) / "checkpoints" / "latest.json").read_text())["step"]  # (genzoo.train is a function)
        append(f"bench_diffae{(' ' + args.tag) if args.tag else ''}", table,
               f"Run {run} ({steps} rounds), EMA weights; reconstructions on the first {args.n_recon} test images; probe trained on "
               f"{args.n_probe} training codes. Pictures: docs/img/diffae-edits.png, docs/img/diffae-reconstructions.png.",
               path=args.results)


if __name__ == "__main__":
    main()
