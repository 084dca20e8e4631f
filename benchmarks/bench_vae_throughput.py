"""Training throughput of genzoo's VAE against pythae 0.1.2, side by side in one run.

Setup (pythae's default MNIST MLP VAE): encoder 784-512-(16 mean, 16 log-variance),
decoder 16-512-784 with a Bernoulli likelihood on MNIST intensities in [0, 1], batch 100,
Adam lr 1e-3, CPU, ``--threads`` PyTorch threads (default 2). Both sides train on the 60k
MNIST training images and time whole epochs of 600 steps after a warm-up epoch; the timed
part includes each library's data path, forward, loss, backward and optimizer step.

    bash benchmarks/peers/setup_pythae.sh          # once: pythae in its own venv (.venv-pythae)
    .venv/bin/python benchmarks/bench_vae_throughput.py --repeats 3

The two libraries run alternately (genzoo, pythae, genzoo, ...) in separate processes so
that slow periods of a shared machine hit both; the ratio of medians is reported.
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
REPO = HERE.parent


def genzoo_worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO / "src"))
    import genzoo
    from genzoo.train import TrainConfig, Trainer

    data = genzoo.load_data("mnist", root=args.data_root)
    torch.manual_seed(0)
    model = genzoo.build("vae", data.info, latent_dim=16, encoder={"type": "mlp", "hidden": (512,)}, likelihood="bernoulli")
    steps = 600 * args.epochs
    cfg = TrainConfig(steps=steps, batch_size=100, optimizer="adam", lr=1e-3, threads=args.threads,
                      progress=False, log_every=600, checkpoint_every=0, device="cpu", precision=args.precision)
    rows: list[dict] = []
    t = Trainer(model, data, cfg, run=None, callbacks=[])
    orig = t._log
    t._log = lambda *a, **k: rows.append(orig(*a, **k)) or rows[-1]  # type: ignore[method-assign]
    t.fit()
    timed = rows[1:] if len(rows) > 1 else rows  # drop the warm-up epoch
    seconds = sum(600 / r["steps_per_s"] for r in timed)
    print(json.dumps({"lib": "genzoo", "version": genzoo.__version__, "precision": args.precision, "steps_per_s": round(600 * len(timed) / seconds, 2),
                      "steps": 600 * len(timed), "seconds": round(seconds, 2), "threads": args.threads, "batch": 100,
                      "final_loss": round(rows[-1]["loss"], 3)}))


def bare_worker(args: argparse.Namespace) -> None:
    """The same VAE step as a plain hand-written PyTorch loop: the ceiling any library can reach.

    Pre-shuffled in-memory batches, fused Adam, no logging or checks; same networks, loss and
    batch as both libraries.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO / "src"))
    import genzoo

    x = genzoo.load_data("mnist", root=args.data_root).x_train.flatten(1).contiguous()  # (60000, 784)
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 32))
    dec = nn.Sequential(nn.Linear(16, 512), nn.ReLU(), nn.Linear(512, 784))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3, fused=True)

    def step(xb: torch.Tensor) -> None:
        mu, logvar = enc(xb).chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="sum") / xb.shape[0]
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        (rec + kl).backward()
        opt.step()

    seconds = 0.0
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        t0 = time.perf_counter()
        for i in range(600):
            step(x[perm[i * 100 : (i + 1) * 100]])
        if epoch > 0 or args.epochs == 1:
            seconds += time.perf_counter() - t0
    timed = max(1, args.epochs - 1)
    print(json.dumps({"lib": "plain PyTorch loop", "version": torch.__version__, "steps_per_s": round(600 * timed / seconds, 2)}))


def run_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2, help="epochs per measurement; the first is warm-up")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="genzoo's side: fp32, or its opt-in bf16 autocast (pythae has no CPU mixed precision; it stays fp32)")
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA", str(REPO.parent / "shared/data")))
    p.add_argument("--pythae-python", default=str(REPO / ".venv-pythae/bin/python"))
    p.add_argument("--bare", action="store_true", help="also time a plain hand-written PyTorch loop of the same step (the ceiling)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return genzoo_worker(args)
    if args.bare_worker:
        return bare_worker(args)
    if not Path(args.pythae_python).exists():
        raise SystemExit("pythae's venv is missing; run: bash benchmarks/peers/setup_pythae.sh")
    common = ["--epochs", str(args.epochs), "--threads", str(args.threads)]
    g_cmd = [sys.executable, __file__, "--worker", "--data-root", args.data_root, "--precision", args.precision, *common]
    p_cmd = [args.pythae_python, str(HERE / "peers/pythae_vae_throughput.py"), "--data-root", str(Path(args.data_root) / "mnist"), *common]
    b_cmd = [sys.executable, __file__, "--bare-worker", "--data-root", args.data_root, *common]
    g, q, b = [], [], []
    for r in range(args.repeats):
        g.append(run_json(g_cmd))
        q.append(run_json(p_cmd))
        if args.bare:
            b.append(run_json(b_cmd))
        bare = f", plain loop {b[-1]['steps_per_s']:.1f} steps/s" if b else ""
        print(f"repeat {r + 1}: genzoo {g[-1]['steps_per_s']:.1f} steps/s, pythae {q[-1]['steps_per_s']:.1f} steps/s{bare}", flush=True)
    gs, qs = [x["steps_per_s"] for x in g], [x["steps_per_s"] for x in q]
    ratio = statistics.median(gs) / statistics.median(qs)
    table = (
        "| library | steps/s (min / median / max) | |\n|---|---|---|\n"
        f"| genzoo {g[0]['version']} ({args.precision}) | {min(gs):.1f} / {statistics.median(gs):.1f} / {max(gs):.1f} | |\n"
        f"| pythae {q[0]['version']} (fp32) | {min(qs):.1f} / {statistics.median(qs):.1f} / {max(qs):.1f} | |\n"
        f"| **ratio (medians)** | **{ratio:.2f}x** | per-repeat: {', '.join(f'{a / c:.2f}' for a, c in zip(gs, qs))} |\n"
    )
    if b:
        bs = [x["steps_per_s"] for x in b]
        table += (f"| plain PyTorch loop, fp32 (ceiling) | {min(bs):.1f} / {statistics.median(bs):.1f} / {max(bs):.1f} | "
                  f"{statistics.median(bs) / statistics.median(qs):.2f}x pythae |\n")
    print(table)
    from _results import append

    append("VAE training throughput vs pythae (MNIST, 784-512-16 MLP, batch 100, Adam, CPU)", table,
           f"{args.repeats} alternating repeats, {args.epochs} epochs each (first dropped), {args.threads} threads; "
           f"genzoo {args.precision}, final training loss {g[-1]['final_loss']} (pythae fp32).")


if __name__ == "__main__":
    main()
