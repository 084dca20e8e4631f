"""VAE training steps per second: genzoo against pythae 0.1.2 and two hand-written loops.

Setup (pythae's default MNIST MLP VAE): encoder 784-512-(16 mean, 16 log-variance), decoder
16-512-784 with a Bernoulli likelihood on MNIST intensities in [0, 1], batch 100, Adam lr
1e-3, CPU, ``--threads`` PyTorch threads (default 2), fp32 unless ``--precision bf16``.
Every contender trains on the 60k MNIST training images; after one warm-up epoch of 600 steps
it times ``--epochs`` epochs (data path, forward, loss, backward, optimizer step, and the
loss kept for logging).

Contenders, each in a fresh process, alternating (genzoo, pythae, reference, plain, genzoo...):

* genzoo: ``genzoo.build("vae", ...)`` trained by ``Trainer.fit`` (a whole ``fit`` is timed);
  ``genzoo_compiled`` the same with ``train.compile=true`` (compiled during the warm-up epoch).
* pythae: ``benchmarks/peers/pythae_vae_throughput.py`` in its own venv (``--pythae-python``).
* reference (the ceiling): the step written by hand, no autograd: forward and backward with
  ``torch.addmm``/``torch.mm`` into buffers allocated once, the gradients derived by hand
  (checked against autograd at start-up), fused Adam on those buffers, and the loss value
  computed and summed on device every step as a trainer logs it. Same networks, same
  initialisation, the same kind of batches (rows of a fresh permutation each epoch, gathered
  into one buffer).
* plain: the same model as an ordinary autograd loop (``nn.Linear`` modules, fused Adam).
* limit: only the step's eleven matrix products (four forward, seven backward, same shapes),
  into buffers, and the batch gather: the time no fp32 implementation of the step can beat.

Medians over ``--repeats``, ratios of medians, and every repeat's ratio are printed and
appended to RESULTS.md.

    bash benchmarks/peers/setup_pythae.sh /work/venvs/pythae     # once
    python benchmarks/bench_vae_throughput.py --repeats 5 --pythae-python /work/venvs/pythae/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
B, D, H, L = 100, 784, 512, 16


def _mnist(args: argparse.Namespace):
    sys.path.insert(0, str(REPO / "src"))
    import genzoo

    return genzoo.load_data("mnist", root=args.data_root)


def genzoo_worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data = _mnist(args)
    import genzoo
    from genzoo.train import TrainConfig, Trainer

    torch.manual_seed(0)
    model = genzoo.build("vae", data.info, latent_dim=L, encoder={"type": "mlp", "hidden": (H,)}, likelihood="bernoulli")

    def fit(steps: int) -> tuple[float, Trainer]:
        cfg = TrainConfig(steps=steps, batch_size=B, optimizer="adam", lr=1e-3, threads=args.threads, progress=False,
                          log_every=600, checkpoint_every=0, device="cpu", precision=args.precision, logger="none",
                          compile=args.compile)
        t = Trainer(model, data, cfg, run=None, callbacks=[])
        t0 = time.perf_counter()
        t.fit()
        return time.perf_counter() - t0, t

    fit(600)
    seconds, _ = fit(600 * args.epochs)
    print(json.dumps({"lib": "genzoo", "version": genzoo.__version__, "steps_per_s": round(600 * args.epochs / seconds, 2)}))


def reference_worker(args: argparse.Namespace) -> None:
    """The hand-written step: no autograd, no allocation in the loop (see the module notes)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    x_all = _mnist(args).x_train.flatten(1).contiguous()  # (60000, 784)
    torch.manual_seed(0)
    layers = [nn.Linear(D, H), nn.Linear(H, 2 * L), nn.Linear(L, H), nn.Linear(H, D)]  # nn.Linear's initialisation
    W1, b1, W2, b2, W3, b3, W4, b4 = [p.detach().clone() for m in layers for p in (m.weight, m.bias)]
    params = [W1, b1, W2, b2, W3, b3, W4, b4]
    grads = [torch.zeros_like(p) for p in params]
    gW1, gb1, gW2, gb2, gW3, gb3, gW4, gb4 = grads
    for p, g in zip(params, grads):
        p.grad = g  # the optimizer reads the buffers the backward writes into
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    z_ = lambda *s: torch.empty(*s)  # noqa: E731
    h1, e, std, eps, z, h2, logits = z_(B, H), z_(B, 2 * L), z_(B, L), z_(B, L), z_(B, L), z_(B, H), z_(B, D)
    dlogits, dh2, dz, de, dh1, t1, t2 = z_(B, D), z_(B, H), z_(B, L), z_(B, 2 * L), z_(B, H), z_(B, L), z_(B, L)
    m1, m2 = torch.empty(B, H, dtype=torch.bool), torch.empty(B, H, dtype=torch.bool)
    mu, logvar = e[:, :L], e[:, L:]
    acc = torch.zeros(())  # the loss summed on device between log points

    def step(x: torch.Tensor) -> None:
        # forward
        torch.addmm(b1, x, W1.t(), out=h1).relu_()
        torch.addmm(b2, h1, W2.t(), out=e)
        torch.mul(logvar, 0.5, out=std).exp_()
        torch.randn(B, L, out=eps)
        torch.addcmul(mu, eps, std, out=z)
        torch.addmm(b3, z, W3.t(), out=h2).relu_()
        torch.addmm(b4, h2, W4.t(), out=logits)
        # the loss, as a trainer logs it: rec + KL per example, batch mean
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * (mu.pow(2).sum() + std.pow(2).sum() - logvar.sum()) - 0.5 * B * L
        acc.add_((rec + kl) / B)
        # backward, by hand
        torch.sigmoid(logits, out=dlogits).sub_(x).div_(B)  # d/dlogits of BCE / B
        torch.mm(dlogits.t(), h2, out=gW4)
        torch.sum(dlogits, 0, out=gb4)
        torch.mm(dlogits, W4, out=dh2).mul_(torch.gt(h2, 0, out=m2))
        torch.mm(dh2.t(), z, out=gW3)
        torch.sum(dh2, 0, out=gb3)
        torch.mm(dh2, W3, out=dz)
        torch.add(dz, mu, alpha=1.0 / B, out=de[:, :L])  # dKL/dmu = mu / B
        torch.mul(dz, eps, out=t1).mul_(std)  # dz * dz/dstd... times std = dz eps std
        torch.mul(std, std, out=t2).sub_(1.0).div_(B)  # dKL/dlogvar * 2 = (exp(logvar) - 1) / B
        torch.add(t1, t2, out=de[:, L:]).mul_(0.5)
        torch.mm(de.t(), h1, out=gW2)
        torch.sum(de, 0, out=gb2)
        torch.mm(de, W2, out=dh1).mul_(torch.gt(h1, 0, out=m1))
        torch.mm(dh1.t(), x, out=gW1)
        torch.sum(dh1, 0, out=gb1)
        opt.step()

    # start-up check: the hand-derived gradients equal autograd's on one batch
    xb, rng = x_all[:B], torch.random.get_rng_state()
    w = [p.clone().requires_grad_(True) for p in params]
    torch.manual_seed(123)
    mu_, lv_ = (F.relu(xb @ w[0].t() + w[1]) @ w[2].t() + w[3]).chunk(2, 1)
    zz = mu_ + torch.randn(B, L) * (0.5 * lv_).exp()
    out = F.relu(zz @ w[4].t() + w[5]) @ w[6].t() + w[7]
    loss = F.binary_cross_entropy_with_logits(out, xb, reduction="sum") / B - 0.5 * (1 + lv_ - mu_.pow(2) - lv_.exp()).sum() / B
    auto = torch.autograd.grad(loss, w)
    torch.manual_seed(123)
    step(xb)
    for name, a, g in zip(["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"], auto, grads):
        if not torch.allclose(a, g, atol=1e-5, rtol=1e-4):
            raise SystemExit(f"hand-written gradient of {name} differs from autograd's by {float((a - g).abs().max()):.2e}")
    if abs(float(acc) - float(loss.detach())) > 1e-3 * abs(float(loss.detach())):
        raise SystemExit(f"hand-written loss {float(acc)} differs from autograd's {float(loss.detach())}")
    with torch.no_grad():  # back to the initial weights and a fresh optimizer
        for p, v in zip(params, w):
            p.copy_(v)
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    acc.zero_()
    torch.random.set_rng_state(rng)

    seconds = 0.0
    xb = torch.empty(B, D)
    for epoch in range(args.epochs + 1):  # epoch 0 warms up
        t0 = time.perf_counter()
        perm = torch.randperm(len(x_all))
        for i in range(600):  # each batch gathered into one buffer (measured cheaper than a permuted copy per epoch)
            step(torch.index_select(x_all, 0, perm[i * B : (i + 1) * B], out=xb))
        float(acc)  # one read per epoch, as a trainer logging every 600 steps
        if epoch > 0:
            seconds += time.perf_counter() - t0
    print(json.dumps({"lib": "reference", "version": torch.__version__, "steps_per_s": round(600 * args.epochs / seconds, 2),
                      "mean_loss": round(float(acc) / (600 * (args.epochs + 1)), 3)}))


def limit_worker(args: argparse.Namespace) -> None:
    """Only the step's matrix products (forward and backward, same shapes, into buffers): a bound
    no implementation of this step can beat in fp32 on these cores."""
    import torch

    torch.set_num_threads(args.threads)
    x_all = _mnist(args).x_train.flatten(1).contiguous()
    W1, W2, W3, W4 = torch.randn(H, D) * 0.03, torch.randn(2 * L, H) * 0.03, torch.randn(H, L) * 0.03, torch.randn(D, H) * 0.03
    b1, b2, b3, b4 = torch.zeros(H), torch.zeros(2 * L), torch.zeros(H), torch.zeros(D)
    h1, e, h2, logits, dh2, dz, dh1 = (torch.empty(*s) for s in ((B, H), (B, 2 * L), (B, H), (B, D), (B, H), (B, L), (B, H)))
    gW1, gW2, gW3, gW4 = torch.empty(H, D), torch.empty(2 * L, H), torch.empty(H, L), torch.empty(D, H)
    xb = torch.empty(B, D)

    def step(x: torch.Tensor) -> None:
        torch.addmm(b1, x, W1.t(), out=h1)
        torch.addmm(b2, h1, W2.t(), out=e)
        torch.addmm(b3, e[:, :L], W3.t(), out=h2)
        torch.addmm(b4, h2, W4.t(), out=logits)
        torch.mm(logits.t(), h2, out=gW4)
        torch.mm(logits, W4, out=dh2)
        torch.mm(dh2.t(), e[:, :L], out=gW3)
        torch.mm(dh2, W3, out=dz)
        torch.mm(e.t(), h1, out=gW2)
        torch.mm(e, W2, out=dh1)
        torch.mm(dh1.t(), x, out=gW1)

    seconds = 0.0
    for epoch in range(args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x_all))
        for i in range(600):
            step(torch.index_select(x_all, 0, perm[i * B : (i + 1) * B], out=xb))
        if epoch > 0:
            seconds += time.perf_counter() - t0
    print(json.dumps({"lib": "limit", "version": torch.__version__, "steps_per_s": round(600 * args.epochs / seconds, 2)}))


def plain_worker(args: argparse.Namespace) -> None:
    """The same model as an ordinary autograd loop."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    x_all = _mnist(args).x_train.flatten(1).contiguous()
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * L))
    dec = nn.Sequential(nn.Linear(L, H), nn.ReLU(), nn.Linear(H, D))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3, fused=True)
    acc = torch.zeros(())

    def step(xb: torch.Tensor) -> None:
        mu, logvar = enc(xb).chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="sum") / B
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / B
        loss = rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc.add_(loss.detach())

    seconds = 0.0
    for epoch in range(args.epochs + 1):
        perm = torch.randperm(len(x_all))
        t0 = time.perf_counter()
        for i in range(600):
            step(x_all[perm[i * B : (i + 1) * B]])
        float(acc)
        if epoch > 0:
            seconds += time.perf_counter() - t0
    print(json.dumps({"lib": "plain", "version": torch.__version__, "steps_per_s": round(600 * args.epochs / seconds, 2)}))


def main() -> None:
    from _results import run_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1, help="epochs timed per measurement, after one warm-up epoch")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="genzoo's side: fp32, or its opt-in bf16 autocast (the other contenders stay fp32)")
    p.add_argument("--compile", action="store_true", help="genzoo's side: train.compile=true")
    p.add_argument("--contenders", default="genzoo,pythae,reference,plain",
                   help="comma-separated subset of genzoo, genzoo_compiled, pythae, reference, plain, limit")
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA", str(REPO.parent / "shared/data")))
    p.add_argument("--pythae-python", default=next((str(v) for v in (Path("/work/venvs/pythae/bin/python"), REPO / ".venv-pythae/bin/python")
                                                    if v.exists()), str(REPO / ".venv-pythae/bin/python")),
                   help="python of pythae's venv (benchmarks/peers/setup_pythae.sh [DIR]; default /work/venvs/pythae or .venv-pythae)")
    p.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    p.add_argument("--note", default="", help="a sentence appended to the RESULTS.md notes")
    p.add_argument("--worker", choices=["genzoo", "reference", "plain", "limit"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return {"genzoo": genzoo_worker, "reference": reference_worker, "plain": plain_worker, "limit": limit_worker}[args.worker](args)
    names = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if "pythae" in names and not Path(args.pythae_python).exists():
        raise SystemExit(f"{args.pythae_python} is missing; run: bash benchmarks/peers/setup_pythae.sh /work/venvs/pythae")
    common = ["--epochs", str(args.epochs), "--threads", str(args.threads), "--data-root", args.data_root]
    cmds = {
        "genzoo": [sys.executable, __file__, "--worker", "genzoo", "--precision", args.precision, *common]
        + (["--compile"] if args.compile else []),
        "genzoo_compiled": [sys.executable, __file__, "--worker", "genzoo", "--precision", args.precision, "--compile", *common],
        "pythae": [args.pythae_python, str(HERE / "peers/pythae_vae_throughput.py"), "--data-root",
                   str(Path(args.data_root) / "mnist"), "--epochs", str(args.epochs + 1), "--threads", str(args.threads)],
        "reference": [sys.executable, __file__, "--worker", "reference", *common],
        "plain": [sys.executable, __file__, "--worker", "plain", *common],
        "limit": [sys.executable, __file__, "--worker", "limit", *common],
    }
    res: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        for n in names:
            res[n].append(run_json(cmds[n], cwd=REPO)["steps_per_s"])
        print(f"repeat {r + 1}: " + ", ".join(f"{n} {res[n][-1]:.1f}" for n in names), flush=True)
    med = {n: statistics.median(v) for n, v in res.items()}
    label = {"genzoo": f"genzoo ({args.precision}{', compiled' if args.compile else ''})", "pythae": "pythae 0.1.2 (fp32)",
             "genzoo_compiled": f"genzoo, train.compile=true ({args.precision})",
             "reference": "hand-written step, no autograd (fp32, the ceiling)", "plain": "plain autograd loop (fp32)",
             "limit": "the step's 11 matrix products alone (fp32, the bound)"}
    rows = []
    for n in names:
        v = res[n]
        cells = [f"| {label[n]} | {min(v):.1f} / {med[n]:.1f} / {max(v):.1f}"]
        cells.append(f"{med[n] / med['pythae']:.2f}x" if "pythae" in med else "")
        cells.append(f"{med[n] / med['reference']:.2f}x" if "reference" in med else "")
        pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(v, res["pythae"])) if "pythae" in res and n.startswith("genzoo") else ""
        rows.append(" | ".join(cells) + f" | {pairs} |")
    table = ("| contender | steps/s (min / median / max) | vs pythae | vs hand-written | genzoo / pythae per repeat |\n"
             "|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(table)
    if not args.no_append:
        sys.path.insert(0, str(HERE))
        from _results import append

        append(f"VAE training throughput (MNIST, 784-512-16 MLP, batch 100, Adam, CPU, {args.threads} threads)", table,
               f"{args.repeats} alternating repeats, each a fresh process timing {args.epochs} epoch(s) of 600 steps after a "
               "warm-up epoch; contenders at normal priority on a 2-core machine shared with other helpers' niced "
               f"background jobs. {args.note}")


if __name__ == "__main__":
    main()
