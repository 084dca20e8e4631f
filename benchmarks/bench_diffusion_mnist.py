"""DDPM on MNIST: sample quality per sampler, classifier-free guidance, and the pictures.

Protocol (every figure on genzoo's own MNIST feature classifier, EMA weights of the run):

- ``samplers``: FID, KID, precision and recall (k = 3) of ``-n`` samples against the first
  ``-n`` test images, for the 1000-step ancestral sampler and DDIM (η = 0) at 100/50/20/10
  steps; all at the same n and seed. A class-conditional run is sampled with uniformly random
  labels and no guidance (w = 0), as genzoo scores cvae / cgan. Pass/fail: DDIM-50's FID within
  10 % of the ancestral one.
- ``guidance``: classifier-free guidance w ∈ ``--scales`` (DDIM ``--steps``), ``-n`` samples with
  balanced labels (n/10 per digit): FID against the test set, and the accuracy of the feature
  classifier on the samples (the fraction classified as the digit they were asked for). Writes
  the FID-versus-accuracy curve and a grid of samples per scale.
- ``pictures``: the denoising trajectory strip (x_T -> x_0, ancestral and DDIM-50) and samples.

Results are cached per configuration in ``RUN/bench_mnist.json`` (a killed run resumes where it
stopped); ``--report`` appends the table to RESULTS.md.

Usage::

    python benchmarks/bench_diffusion_mnist.py samplers runs/mnist-ddpm -n 1000
    python benchmarks/bench_diffusion_mnist.py guidance runs/mnist-ddpm -n 1000 --scales 0,1,2,3,4,5,6
    python benchmarks/bench_diffusion_mnist.py pictures runs/mnist-ddpm
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.config import atomic_write_bytes  # noqa: E402
from genzoo.metrics.features import embed, feature_id, feature_net  # noqa: E402
from genzoo.metrics.quality import fid_from_features, kid, precision_recall  # noqa: E402
from genzoo.samplers.diffusion import DDIM, Ancestral  # noqa: E402
from genzoo.samplers.guidance import ClassifierFree  # noqa: E402

from _results import append  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cache(run: Path) -> dict:
    p = run / "bench_mnist.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def _save(run: Path, cache: dict) -> None:
    atomic_write_bytes(run / "bench_mnist.json", (json.dumps(cache, indent=1) + "\n").encode())


def _draw(model, sampler, n: int, seed: int, batch: int, c: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    torch.manual_seed(seed)
    out, t0 = [], time.perf_counter()
    with torch.no_grad():
        for i in range(0, n, batch):
            cc = None if c is None else c[i : i + batch]
            out.append(sampler(model, min(batch, n - i), cc).float().cpu())
            print(f"  {sampler!r}: {min(i + batch, n)}/{n} samples, {time.perf_counter() - t0:.0f} s", flush=True)
    return torch.cat(out), time.perf_counter() - t0


def _pm(std: float | None) -> str:
    return "" if std is None else f" ± {std:.3f}"  # no spread when the KID subsets are the whole sets


def _scores(net, real_f: torch.Tensor, x: torch.Tensor, seed: int) -> dict:
    f = embed(net, x)
    kid_mean, kid_std = kid(real_f, f, 100, min(1000, len(f)), torch.Generator().manual_seed(seed))
    p, r = precision_recall(real_f, f, 3)
    return {"fid": float(fid_from_features(real_f, f)), "kid": kid_mean, "kid_std": kid_std, "precision": p, "recall": r}


def _setup(args: argparse.Namespace) -> tuple:
    """The run, its model (EMA weights), the feature net, the first n test images' features and the score cache."""
    run = Path(args.run)
    data = genzoo.load_data("mnist")
    net = feature_net(data, train=False)
    return run, genzoo.load(run), net, embed(net, data.x_test[: args.n]), _cache(run)


def samplers(args: argparse.Namespace) -> None:
    run, model, net, real_f, cache = _setup(args)
    eta = f"-eta{args.eta:g}" if args.eta else ""  # DDIM rows with eta > 0 are stochastic (eta = 1: ancestral-like noise)
    todo = [(f"ddim-{s}{eta}", DDIM(steps=s, eta=args.eta)) for s in args.ddim]
    if not args.no_ancestral:  # the most expensive one last: a budget that runs out still leaves the DDIM rows
        todo.append(("ancestral-1000", Ancestral()))
    for key, sampler in todo:
        full = f"samplers/{key}/n={args.n}/seed={args.seed}"
        if full in cache:
            continue
        print(f"{key}: sampling {args.n}", flush=True)
        x, secs = _draw(model, sampler, args.n, args.seed, args.batch)
        cache[full] = {**_scores(net, real_f, x, args.seed), "sample_s": secs, "sampler": repr(sampler)}
        _save(run, cache)
        print(key, cache[full], flush=True)
    rows = [(k, cache[f"samplers/{k}/n={args.n}/seed={args.seed}"]) for k, _ in todo]
    anc = dict(rows).get("ancestral-1000", {}).get("fid")
    lines = ["| sampler | network evaluations | FID ↓ | KID ↓ | precision ↑ | recall ↑ | sampling s (n) |", "|---|---|---|---|---|---|---|"]
    for k, r in rows:
        evals = 1000 if k.startswith("ancestral") else int(k.split("-")[1])  # ddim-S or ddim-S-etaE
        lines.append(f"| {k} | {evals} | {r['fid']:.2f} | {r['kid']:.3f}{_pm(r['kid_std'])} | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{r['sample_s']:.0f} |")
    d50 = dict(rows).get("ddim-50")
    verdict = "" if d50 is None or anc is None else (f"DDIM-50 FID {d50['fid']:.2f} vs ancestral {anc:.2f}: {100 * (d50['fid'] / anc - 1):+.1f} % "
                                      f"({'within' if d50['fid'] <= 1.1 * anc else 'NOT within'} 10 %).")
    table = "\n".join(lines)
    print(table + "\n" + verdict)
    if args.report:
        from genzoo.train.checkpoint import RunDir  # (genzoo.train is the train() function)

        cfg = RunDir.existing(run).config()
        steps = json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
        append(f"bench_diffusion_mnist samplers{(' ' + args.tag) if args.tag else ''}", table,
               f"{verdict} Run {run} ({cfg['model']}), {steps} training rounds, EMA weights; n = {args.n} samples vs the first "
               f"{args.n} test images, seed {args.seed}; features {feature_id(net)}. Sampling times are wall clock on the shared "
               "machine (one niced thread).", path=args.results)


def guidance(args: argparse.Namespace) -> None:
    run, model, net, real_f, cache = _setup(args)
    labels = torch.arange(args.n) % 10
    eta = f"/eta={args.eta:g}" if args.eta else ""
    for w in args.scales:
        key = f"cfg/w={w:g}/steps={args.steps}{eta}/n={args.n}/seed={args.seed}"
        if key in cache:
            continue
        print(f"w = {w}: sampling {args.n}", flush=True)
        x, secs = _draw(model, ClassifierFree(scale=w, steps=args.steps, eta=args.eta), args.n, args.seed, args.batch, labels)
        with torch.no_grad():
            pred = torch.cat([net(x[i : i + 500]).argmax(-1) for i in range(0, len(x), 500)])
        cache[key] = {**_scores(net, real_f, x, args.seed), "accuracy": float((pred == labels).float().mean()), "sample_s": secs}
        _save(run, cache)
        print(key, cache[key], flush=True)
    rows = [(w, cache[f"cfg/w={w:g}/steps={args.steps}{eta}/n={args.n}/seed={args.seed}"]) for w in args.scales]
    lines = ["| guidance w | accuracy of the asked digit ↑ | FID ↓ | precision ↑ | recall ↑ |", "|---|---|---|---|---|"]
    for w, r in rows:
        lines.append(f"| {w:g} | {100 * r['accuracy']:.2f} % | {r['fid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |")
    best = max(rows, key=lambda wr: wr[1]["accuracy"])
    verdict = f"best accuracy {100 * best[1]['accuracy']:.2f} % at w = {best[0]:g} ({'met' if best[1]['accuracy'] >= 0.98 else 'NOT met'}: ≥ 98 %)."
    table = "\n".join(lines)
    print(table + "\n" + verdict)
    from genzoo.viz.plots import _plt, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    acc = [100 * r["accuracy"] for _, r in rows]
    fid = [r["fid"] for _, r in rows]
    ax.plot(acc, fid, "o-")
    for (w, _), a, f in zip(rows, acc, fid):
        ax.annotate(f"w={w:g}", (a, f), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("accuracy of guided samples (%)")
    ax.set_ylabel("FID (genzoo MNIST features)")
    ax.set_title(f"classifier-free guidance, DDIM-{args.steps} (eta {args.eta:g}), n={args.n}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tail = f"-eta{args.eta:g}" if args.eta else ""
    save_figure(fig, Path(args.picture_dir) / f"ddpm-cfg-curve{tail}.png")
    from genzoo.viz.diffusion import guidance_grid

    guidance_grid(model, Path(args.picture_dir) / f"ddpm-cfg-grid{tail}.png", scales=(0.0, 1.0, 3.0, 6.0), per_class=6, steps=args.steps,
                  eta=args.eta)
    if args.report:
        append(f"bench_diffusion_mnist guidance{(' ' + args.tag) if args.tag else ''}", table,
               f"{verdict} Run {run}, EMA weights, DDIM-{args.steps} (η = {args.eta:g}) with classifier-free guidance ε = (1+w) ε(c) - w ε(∅); "
               f"n = {args.n} samples, n/10 per digit, seed {args.seed}; FID against the first {args.n} test images; accuracy by "
               f"the feature classifier {feature_id(net)}. Curve: docs/img/ddpm-cfg-curve{tail}.png, grid: docs/img/ddpm-cfg-grid{tail}.png.",
               path=args.results)


def pictures(args: argparse.Namespace) -> None:
    from genzoo.viz.diffusion import trajectory_strip
    from genzoo.viz.plots import save_image_grid

    model = genzoo.load(args.run)
    out = Path(args.picture_dir)
    torch.manual_seed(args.seed)
    trajectory_strip(model, DDIM(steps=50), out / "ddpm-trajectory-ddim50.png", n=8, frames=11)
    if not args.no_ancestral:
        torch.manual_seed(args.seed)
        trajectory_strip(model, Ancestral(), out / "ddpm-trajectory-ancestral.png", n=8, frames=11)
    torch.manual_seed(args.seed)
    c = torch.arange(10).repeat_interleave(8) if model.conditional else None
    x = DDIM(steps=50)(model, 80, c)
    save_image_grid(x, out / "ddpm-samples.png", nrow=8 if c is not None else 10)
    print(f"pictures -> {out}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["samplers", "guidance", "pictures"])
    ap.add_argument("run")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--ddim", type=lambda s: [int(v) for v in s.split(",")], default=[100, 50, 20, 10])
    ap.add_argument("--eta", type=float, default=0.0, help="eta of the DDIM rows (0: deterministic)")
    ap.add_argument("--scales", type=lambda s: [float(v) for v in s.split(",")], default=[0, 1, 2, 3, 4, 5, 6])
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps under guidance")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-ancestral", action="store_true", help="DDIM rows only (the 1000-step ancestral sampler is the costly one)")
    ap.add_argument("--report", action="store_true", help="append the table to RESULTS.md")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--picture-dir", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"samplers": samplers, "guidance": guidance, "pictures": pictures}[args.what](args)


if __name__ == "__main__":
    main()
