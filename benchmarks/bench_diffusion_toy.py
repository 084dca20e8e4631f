"""DDPM on the 2-D toys beside RealNVP and the GANs: test NLL (variational bound) and mode coverage.

Protocol: for each set, one ``genzoo bench`` run trains every model of ``--models`` with the
same wall-clock ``--budget`` (one thread each, registry defaults, seed 0; ddpm with learned
variances, Nichol & Dhariwal's setting for likelihoods), then scores all alike on the test
split: ``nll`` (ddpm: the variational bound L_T + Σ L_t + L_0 in nats, its sum over the T = 1000
timesteps estimated from ``--k`` stratified timesteps per point, unbiased; RealNVP: the exact
-log p), ``modes`` (PacGAN's 3σ rule on the mixtures: modes hit, the
fraction of high-quality samples, reverse KL of the mode histogram) and the sliced
Wasserstein distance (SW2) between samples and test points. ddpm samples with the DDIM
sampler of ``--sampler-steps`` (η = 0) unless ``--ancestral``. The true density's mean test
NLL (the mixtures and the checkerboard) is the floor every likelihood sits above.

Usage::

    python benchmarks/bench_diffusion_toy.py --budget 2m
    python benchmarks/bench_diffusion_toy.py --budget 20s --sets 8gaussians -n 300 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.data import toy_log_density  # noqa: E402
from genzoo.viz.plots import _plt, save_figure  # noqa: E402

from _results import add_common_args, append  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = "8gaussians,25gaussians,checkerboard,spirals"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--models", default="ddpm,realnvp,gan,wgan_gp")
    ap.add_argument("--budget", default="2m", help="per model, wall clock (2m) or rounds (5000)")
    ap.add_argument("-n", type=int, default=2000, help="test points / samples per metric")
    ap.add_argument("--k", type=int, default=100, help="timesteps per point of ddpm's bound estimate (>= 1000: all)")
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--sampler-steps", type=int, default=100)
    ap.add_argument("--ancestral", action="store_true", help="score ddpm's samples with the 1000-step ancestral sampler")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-diffusion-toy"))
    ap.add_argument("--picture", default=str(ROOT / "docs" / "img" / "diffusion-toy.png"))
    add_common_args(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = [s for s in args.sets.split(",") if s]
    sampler, sampler_opts = ("ancestral", None) if args.ancestral else ("ddim", {"steps": args.sampler_steps, "eta": 0.0})
    rows, boards = [], {}
    for name in sets:
        out = Path(args.out) / name
        board = genzoo.bench(
            name, args.models, budget=args.budget, out=out, metrics="nll,modes,sliced_wasserstein", n=args.n,
            seed=args.seed, progress=True, data_options={"n_train": args.n_train, "n_test": args.n},
            model_options={"ddpm": {"variance": "learned_range"}} if "ddpm" in args.models else None,
            train_options={"threads": args.threads, "device": args.device}, options={"nll": {"k": args.k}},
            sampler=sampler, sampler_opts=sampler_opts,
        )
        boards[name] = board
        data = genzoo.load_data(name, n_train=args.n_train, n_test=args.n)
        true = toy_log_density(data.info, data.x_test.double())
        floor = float(-true.mean()) if true is not None and bool(torch.isfinite(true).all()) else None
        for r in board["rows"]:
            m = r["metrics"]
            nll = m.get("nll", {}).get("value")
            how = (m.get("nll", {}).get("protocol") or {}).get("kind", "") if isinstance(nll, float) else ""
            modes = m.get("modes", {})
            rows.append({"set": name, "model": r["model"], "status": r["status"], "steps": r["steps"], "train_s": r["train_s"],
                         "nll": nll, "how": how, "floor": floor, "modes": modes.get("value"),
                         "n_modes": len(data.info.extras.get("centers", [])) or None,
                         "hq": modes.get("high_quality"), "sw2": m.get("sliced_wasserstein", {}).get("value")})
    fmt = lambda v, f=".3f": "—" if not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)) else format(v, f)  # noqa: E731
    lines = ["| set | model | rounds in budget | test NLL (nats) | true density's NLL | modes | high-quality samples | SW2 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nll = f"{fmt(r['nll'])} ({r['how']})" if r["how"] else "n/a"
        modes = f"{fmt(r['modes'], '.0f')} / {r['n_modes']}" if r["n_modes"] and isinstance(r["modes"], (int, float)) else "n/a"
        lines.append(f"| {r['set']} | {r['model']} | {r['steps'] or r['status']} | {nll} | {fmt(r['floor'])} | {modes} | "
                     f"{fmt(r['hq'], '.2f')} | {fmt(r['sw2'], '.4f')} |")
    table = "\n".join(lines)
    print(table)
    _picture(boards, sets, Path(args.picture), args.seed, sampler, sampler_opts)
    notes = (f"One `genzoo bench` run per set, budget {args.budget} of training per model (one thread each; the machine "
             f"was shared with other niced jobs, so rounds differ by model speed). ddpm: learned variances, T = 1000; its NLL "
             f"is the variational bound with the sum over t estimated from {args.k} stratified timesteps per test point; "
             f"its samples for modes/SW2 come from {sampler}{'' if sampler_opts is None else ' ' + str(sampler_opts)}. "
             f"RealNVP's NLL is exact. n = {args.n} test points and samples. Picture: {args.picture}.")
    append(f"bench_diffusion_toy{(' ' + args.tag) if args.tag else ''}", table, notes, path=args.results)


def _picture(boards: dict, sets: list[str], path: Path, seed: int, sampler: str, opts: dict | None) -> None:
    plt = _plt()
    models = boards[sets[0]]["models"]
    fig, axes = plt.subplots(len(sets), len(models) + 1, figsize=(2.2 * (len(models) + 1), 2.2 * len(sets)), squeeze=False)
    for i, name in enumerate(sets):
        board = boards[name]
        data = genzoo.load_data(name, n_train=10, n_test=2000)
        ref = data.x_test
        lo, hi = ref.min(0).values, ref.max(0).values
        pad = 0.15 * (hi - lo)
        for j, model_name in enumerate(["data", *models]):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(float(lo[0] - pad[0]), float(hi[0] + pad[0]))
            ax.set_ylim(float(lo[1] - pad[1]), float(hi[1] + pad[1]))
            if i == 0:
                ax.set_title(model_name, fontsize=9)
            if j == 0:
                pts = ref
                ax.set_ylabel(name, fontsize=9)
            else:
                row = next(r for r in board["rows"] if r["model"] == model_name)
                if row["status"] != "ok":
                    continue
                model = genzoo.load(row["run"])
                torch.manual_seed(seed)
                with torch.no_grad():
                    if row.get("sampler"):
                        pts = genzoo.api.make_sampler(sampler, opts, model)(model, 2000)
                    else:
                        pts = model.sample(2000)
            ax.scatter(pts[:, 0].float(), pts[:, 1].float(), s=1, alpha=0.4)
    fig.tight_layout()
    save_figure(fig, path)
    print(f"picture -> {path}")


if __name__ == "__main__":
    main()
