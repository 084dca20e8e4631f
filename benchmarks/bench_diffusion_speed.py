"""Diffusion speed side by side with diffusers: training steps/s and DDIM-50 images/s, same UNet size.

Protocol: the same small MNIST UNet on both sides, built by each library (genzoo's default
``ddpm`` denoiser: width 32, channels 32-64-64, one residual block per level, self-attention at
7x7 and in the middle, the time embedding scaling and shifting each block's second GroupNorm;
diffusers' ``UNet2DModel`` with ``block_out_channels=(32, 64, 64)``, ``layers_per_block=1``,
attention in the lowest down/up blocks and the middle, GroupNorm of 8 groups,
``resnet_time_scale_shift="scale_shift"``: 1,191,233 and 1,191,105 parameters), batch ``--batch`` of 1x28x28 images in [-1, 1]
held in memory, Adam (lr 2e-4), ε-prediction MSE at t ~ U{0..999} with the linear β
schedule, no EMA on either side (it is a separate cost both libraries can add).

- genzoo: ``genzoo.build("ddpm", mnist_info, ema=0)`` trained by the genzoo ``Trainer`` on
  in-memory MNIST (the full library path: batch slicing, loss, backward, Adam, logging);
  DDIM-50 is ``model.sample(batch, sampler=DDIM(steps=50, eta=0))``.
- diffusers: a hand-written loop as in its training examples: ``DDPMScheduler.add_noise``,
  ``unet(x_t, t).sample``, MSE, backward, Adam; DDIM-50 is ``DDIMScheduler`` (50 steps,
  η = 0, clipping on) stepping ``unet(x, t).sample``.

Each side runs in its own process (diffusers in its own venv, never imported by genzoo),
``--repeats`` times, alternating; every process measures ``--steps`` training steps after
``--warmup`` and ``--images`` DDIM-50 images after one warm-up batch. Figures are medians;
the ratio is genzoo / diffusers.

Usage::

    bash benchmarks/peers/setup_diffusers.sh     # once: /work/venvs/diffusers
    python benchmarks/bench_diffusion_speed.py --repeats 3 --threads 2
    python benchmarks/bench_diffusion_speed.py --side genzoo --steps 5 --images 8    # one side, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER = HERE / "peers" / "diffusers_unet_speed.py"


def genzoo_side(args: argparse.Namespace) -> dict:
    import torch

    import genzoo
    from genzoo.data.base import Data, DataInfo
    from genzoo.samplers.diffusion import DDIM
    from genzoo.train import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        data = genzoo.load_data("mnist", n_train=args.batch * 50) if args.real_data else None
    except genzoo.GenzooError:
        data = None
    if data is None:  # speed does not depend on pixel values: uniform images of MNIST's shape
        info = DataInfo("mnist", (1, 28, 28), value_range=(0.0, 1.0), num_classes=10, levels=256)
        data = Data(torch.rand(args.batch * 50, 1, 28, 28), torch.rand(64, 1, 28, 28), info)
    model = genzoo.build("ddpm", data.info, ema=0.0)
    params = sum(p.numel() for p in model.parameters())

    def fit(steps: int) -> float:
        cfg = TrainConfig(steps=steps, batch_size=args.batch, lr=2e-4, progress=False, log_every=10**9, threads=args.threads,
                          checkpoint_every=0)
        t = Trainer(model, data, cfg, run=None, callbacks=[])
        t0 = time.perf_counter()
        t.fit()
        return time.perf_counter() - t0

    fit(args.warmup)
    train_s = fit(args.steps)
    model.eval()
    ddim = DDIM(steps=50, eta=0.0)
    with torch.no_grad():
        model.sample(min(args.batch, args.images), sampler=ddim)
        t0 = time.perf_counter()
        done = 0
        while done < args.images:
            k = min(args.batch, args.images - done)
            model.sample(k, sampler=ddim)
            done += k
        sample_s = time.perf_counter() - t0
    return {"side": "genzoo", "params": params, "train_steps_per_s": args.steps / train_s, "ddim50_images_per_s": args.images / sample_s,
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def run_side(side: str, args: argparse.Namespace) -> dict:
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--images", str(args.images), "--batch", str(args.batch),
              "--threads", str(args.threads)]
    if side == "genzoo":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--side", "genzoo", *common] + (["--real-data"] if args.real_data else [])
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    else:
        cmd = [args.peer_python, str(PEER), *common]
        env = dict(os.environ)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{side} side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=["both", "genzoo"], default="both")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--real-data", action="store_true", help="genzoo trains on MNIST itself (same speed, slower start)")
    ap.add_argument("--peer-python", default="/work/venvs/diffusers/bin/python")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if args.side == "genzoo":
        print(json.dumps(genzoo_side(args)))
        return
    rows: dict[str, list[dict]] = {"genzoo": [], "diffusers": []}
    for r in range(args.repeats):
        for side in (("genzoo", "diffusers") if r % 2 == 0 else ("diffusers", "genzoo")):
            res = run_side(side, args)
            rows[side].append(res)
            print(f"repeat {r + 1} {side}: {res['train_steps_per_s']:.3f} steps/s, {res['ddim50_images_per_s']:.3f} DDIM-50 images/s",
                  flush=True)
    med = {s: {k: statistics.median(x[k] for x in v) for k in ("train_steps_per_s", "ddim50_images_per_s")} for s, v in rows.items()}
    g, d = med["genzoo"], med["diffusers"]
    table = "\n".join([
        "| | parameters | training steps/s (median) | DDIM-50 images/s (median) |",
        "|---|---|---|---|",
        f"| diffusers {rows['diffusers'][0].get('diffusers', '?')} (UNet2DModel + DDPMScheduler / DDIMScheduler) | "
        f"{rows['diffusers'][0]['params']:,} | {d['train_steps_per_s']:.3f} | {d['ddim50_images_per_s']:.3f} |",
        f"| genzoo (ddpm, default UNet, Trainer / DDIM sampler) | {rows['genzoo'][0]['params']:,} | {g['train_steps_per_s']:.3f} | "
        f"{g['ddim50_images_per_s']:.3f} |",
        f"| ratio genzoo / diffusers | | **{g['train_steps_per_s'] / d['train_steps_per_s']:.2f}x** | "
        f"**{g['ddim50_images_per_s'] / d['ddim50_images_per_s']:.2f}x** |",
    ])
    print(table)
    sys.path.insert(0, str(HERE))
    from _results import append

    notes = (f"batch {args.batch}, {args.threads} torch threads per process, {args.steps} timed training steps after {args.warmup} "
             f"warm-up, {args.images} DDIM-50 images after one warm-up batch, {args.repeats} alternating repeats per side, "
             "fp32, CPU. The machine was shared with other helpers' niced background jobs during the measurement.")
    append(f"Diffusion speed vs diffusers{(' ' + args.tag) if args.tag else ''}", table, notes, path=args.results)


if __name__ == "__main__":
    main()
