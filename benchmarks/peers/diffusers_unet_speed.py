"""Peer side of ``benchmarks/bench_diffusion_speed.py``: diffusers' UNet2DModel trained and sampled on CPU.

Run in the diffusers venv (``bash benchmarks/peers/setup_diffusers.sh``)::

    /work/venvs/diffusers/bin/python benchmarks/peers/diffusers_unet_speed.py --steps 30 --images 64

The network matches genzoo's default ``ddpm`` UNet for 1x28x28 images: channels 32-64-64,
one ResNet block per down level (two per up level), downsampling twice (28 -> 14 -> 7), the time
embedding scaling and shifting the second GroupNorm of every block (as genzoo's),
self-attention at 7x7 and in the middle block, time embedding 4 x 32, GroupNorm of 8 groups.
Training follows diffusers' unconditional training example (``DDPMScheduler.add_noise``,
ε-MSE, Adam, lr 2e-4), without EMA; sampling is ``DDIMScheduler`` with 50 steps, η = 0.
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import diffusers
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel


def build() -> UNet2DModel:
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=16, resnet_time_scale_shift="scale_shift",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    unet = build()
    params = sum(p.numel() for p in unet.parameters())
    data = torch.rand(args.batch * 50, 1, 28, 28) * 2 - 1  # in-memory images in [-1, 1]
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.Adam(unet.parameters(), lr=2e-4)
    perm = torch.randperm(len(data))

    def step(i: int) -> None:
        idx = perm[(i * args.batch) % (len(data) - args.batch):][: args.batch]
        x0 = data[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],))
        pred = unet(sched.add_noise(x0, noise, t), t).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    unet.train()
    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    train_s = time.perf_counter() - t0

    unet.eval()
    ddim = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        ddim.set_timesteps(50)
        x = torch.randn(n, 1, 28, 28)
        for t in ddim.timesteps:
            x = ddim.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
        return x

    sample(min(args.batch, args.images))
    t0 = time.perf_counter()
    done = 0
    while done < args.images:
        k = min(args.batch, args.images - done)
        sample(k)
        done += k
    sample_s = time.perf_counter() - t0
    print(json.dumps({"side": "diffusers", "diffusers": diffusers.__version__, "params": params,
                      "train_steps_per_s": args.steps / train_s, "ddim50_images_per_s": args.images / sample_s,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
