"""DCGAN training rounds per second: genzoo against PyTorch-GAN's ``dcgan.py``, same networks.

Setup (PyTorch-GAN's MNIST DCGAN, ``implementations/dcgan/dcgan.py``): 32 x 32 MNIST scaled to
[-1, 1], batch 64, Adam lr 2e-4, β = (0.5, 0.999) for both players, latent 100, and its own
``Generator`` and ``Discriminator`` with its ``weights_init_normal``. One round = one
generator update + one discriminator update; ``--threads`` PyTorch threads, CPU.

* PyTorch-GAN side: its script, unmodified, in its own venv (torch 2.13 + torchvision), run in a
  scratch folder where ``../../data/mnist`` holds the MNIST files (no download). Its loop prints
  one line per round; the harness times rounds ``W+1 .. W+N`` from the arrival of those lines
  (unbuffered output), then stops it. So its figure includes its data path (a torchvision
  ``DataLoader`` that resizes each image with PIL), its ``.item()`` logging and image saving.
* genzoo side: the same two classes, imported at run time from that same file (only the class
  and init definitions are executed, with its ``opt`` defaults), plugged into genzoo's
  ``GAN`` with the non-saturating loss; the discriminator's final ``Sigmoid`` is replaced by
  the identity because genzoo's loss table takes raw scores (softplus(-s) = -log sigmoid(s): the
  same loss, computed stably). MNIST comes from ``genzoo.load_data("mnist", size=32)`` (bilinear,
  as torchvision's ``Resize``), mapped to [-1, 1]. After ``W`` warm-up rounds, one
  ``Trainer.fit`` of ``N`` rounds is timed whole (data, both updates, logging every 100 rounds).
  ``--variants`` lists the genzoo settings timed: ``fresh`` (``reuse_fakes=False``, two
  generator forwards per round), ``reuse`` (``reuse_fakes=True``, one, as dcgan.py), and either
  with ``+cl`` (``train.channels_last=[generator]``: the generator's weights NHWC; not the
  discriminator's, whose forward ``.view``-s its convolution output).

The contenders alternate (peer, genzoo, peer, ...), each in a fresh process; medians and the
ratio of medians are reported, with every pair's ratio.

    git clone https://github.com/eriklindernoren/PyTorch-GAN  # anywhere; not part of genzoo
    python3 -m venv /work/venvs/pytorch-gan-cu && /work/venvs/pytorch-gan-cu/bin/pip install --isolated torch==2.13.0 torchvision==0.28.0
    python benchmarks/bench_dcgan_throughput.py --peer PyTorch-GAN/implementations/dcgan/dcgan.py \\
        --peer-python /work/venvs/pytorch-gan-cu/bin/python --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def peer_networks(path: str, img_size: int = 32, latent_dim: int = 100, channels: int = 1):
    """``(Generator, Discriminator, weights_init_normal)`` defined in PyTorch-GAN's ``dcgan.py``.

    Only the imports, the function and the two class definitions of the file are executed
    (its argument parsing and training loop are not), with ``opt`` set to its defaults.
    """
    import torch.nn as nn

    tree = ast.parse(Path(path).read_text(), filename=path)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) and all(a.name.split(".")[0] in ("torch", "numpy", "math") for a in n.names)]
    keep += [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in ("weights_init_normal", "Generator", "Discriminator")]
    if len([n for n in keep if isinstance(n, (ast.FunctionDef, ast.ClassDef))]) != 3:
        raise SystemExit(f"{path} does not define Generator, Discriminator and weights_init_normal")
    ns: dict = {"nn": nn, "opt": SimpleNamespace(img_size=img_size, latent_dim=latent_dim, channels=channels)}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)  # noqa: S102
    return ns["Generator"], ns["Discriminator"], ns["weights_init_normal"]


def genzoo_worker(args: argparse.Namespace) -> None:
    import torch
    from torch import nn

    sys.path.insert(0, str(REPO / "src"))
    import genzoo
    from genzoo.data import Data, DataInfo
    from genzoo.models.gan import ADAM_DCGAN, GAN, adversarial_loss
    from genzoo.train import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    Generator, Discriminator, init = peer_networks(args.peer)
    mnist = genzoo.load_data("mnist", root=args.data_root, size=32)
    info = DataInfo("mnist-32-pm1", mnist.info.shape, value_range=(-1.0, 1.0), num_classes=10, levels=256)
    data = Data(mnist.x_train * 2 - 1, mnist.x_test * 2 - 1, info, mnist.y_train, mnist.y_test)  # Normalize([0.5], [0.5])
    torch.manual_seed(0)
    g, d = Generator(), Discriminator()
    g.apply(init)
    d.apply(init)
    d.adv_layer[-1] = nn.Identity()  # raw scores: genzoo's loss table applies the log-sigmoid itself
    model = GAN(g, d, adversarial_loss("non_saturating"), info, latent_dim=100, out_act="none",
                critic_optim=dict(ADAM_DCGAN), generator_optim=dict(ADAM_DCGAN), reuse_fakes=args.variant.startswith("reuse"))

    def fit(rounds: int) -> float:
        cfg = TrainConfig(steps=rounds, batch_size=64, threads=args.threads, progress=False, log_every=100,
                          checkpoint_every=0, device="cpu", logger="none",
                          # PyTorch-GAN's discriminator .view()s its conv output, which NHWC activations refuse
                          channels_last=("generator",) if args.variant.endswith("+cl") else False)
        trainer = Trainer(model, data, cfg, run=None, callbacks=[])
        t0 = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - t0

    fit(args.warmup)
    seconds = fit(args.rounds)
    print(json.dumps({"lib": "genzoo", "version": genzoo.__version__, "variant": args.variant,
                      "rounds_per_s": round(args.rounds / seconds, 3), "rounds": args.rounds, "threads": args.threads}))


def mnist_scratch(data_root: str) -> Path:
    """A scratch folder ``S`` with ``S/data/mnist/MNIST/raw/`` (decompressed files) and the working dir ``S/a/b``."""
    scratch = Path(tempfile.mkdtemp(prefix="dcgan_peer_"))
    raw = scratch / "data/mnist/MNIST/raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        with gzip.open(Path(data_root) / "mnist" / f"{name}.gz", "rb") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (scratch / "a/b").mkdir(parents=True)
    return scratch


def peer_run(args: argparse.Namespace, scratch: Path) -> dict:
    """Run dcgan.py, time rounds warmup+1 .. warmup+rounds from its per-round lines, then stop it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    proc = subprocess.Popen([args.peer_python, str(Path(args.peer).resolve())], cwd=scratch / "a/b", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_start = t_end = None
    n = 0
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if not line.startswith("[Epoch"):
                continue
            n += 1
            if n == args.warmup:
                t_start = time.perf_counter()
            elif n == args.warmup + args.rounds:
                t_end = time.perf_counter()
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    if t_start is None or t_end is None:
        raise SystemExit(f"dcgan.py stopped after {n} rounds:\n{proc.stderr.read()[-2000:] if proc.stderr else ''}")
    import torch

    return {"lib": "PyTorch-GAN dcgan.py", "rounds_per_s": round(args.rounds / (t_end - t_start), 3), "threads": args.threads,
            "torch": subprocess.run([args.peer_python, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                    text=True).stdout.strip() or torch.__version__}


def main() -> None:
    from _results import run_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", required=True, help="path to PyTorch-GAN's implementations/dcgan/dcgan.py")
    p.add_argument("--peer-python", default="/work/venvs/pytorch-gan-cu/bin/python", help="a python with torch and torchvision")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="rounds run before timing")
    p.add_argument("--rounds", type=int, default=20, help="rounds timed")
    p.add_argument("--variants", default="reuse+cl,reuse,fresh", help="genzoo settings timed: fresh, reuse, fresh+cl, reuse+cl")
    p.add_argument("--variant", default="reuse+cl", help=argparse.SUPPRESS)
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA", str(REPO.parent / "shared/data")))
    p.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return genzoo_worker(args)
    scratch = mnist_scratch(args.data_root)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ("fresh", "reuse", "fresh+cl", "reuse+cl")]
    if bad:
        raise SystemExit(f"unknown variant {bad[0]!r}; use fresh, reuse, fresh+cl or reuse+cl")
    g_cmd = {v: [sys.executable, __file__, "--worker", "--peer", args.peer, "--threads", str(args.threads), "--warmup",
                 str(args.warmup), "--rounds", str(args.rounds), "--variant", v, "--data-root", args.data_root] for v in variants}
    peer: list[float] = []
    ours: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for r in range(args.repeats):
            peer.append(peer_run(args, scratch)["rounds_per_s"])
            for v in variants:
                ours[v].append(run_json(g_cmd[v], cwd=REPO)["rounds_per_s"])
            print(f"repeat {r + 1}: dcgan.py {peer[-1]:.2f} rounds/s, " +
                  ", ".join(f"genzoo {v} {ours[v][-1]:.2f}" for v in variants), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    mp = statistics.median(peer)
    rows = [f"| PyTorch-GAN dcgan.py | {min(peer):.3f} / {mp:.3f} / {max(peer):.3f} | 1 | |"]
    for v in variants:
        xs = ours[v]
        pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(xs, peer))
        label = {"fresh": "reuse_fakes=False", "reuse": "reuse_fakes=True"}[v.split("+")[0]] + (", channels_last" if v.endswith("+cl") else "")
        rows.append(f"| genzoo, {label} | {min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f} | "
                    f"**{statistics.median(xs) / mp:.2f}x** | {pairs} |")
    table = "| contender | rounds/s (min / median / max) | ratio of medians | per pair |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    print(table)
    if not args.no_append:
        sys.path.insert(0, str(HERE))
        from _results import append

        append(f"DCGAN rounds/s vs PyTorch-GAN dcgan.py (its own networks, 32x32 MNIST, batch 64, {args.threads} thread{'s' if args.threads > 1 else ''})",
               table, f"{args.repeats} alternating repeats; each timed {args.rounds} rounds after {args.warmup} warm-up rounds, "
               f"in a fresh process. Both sides at normal priority on a machine shared with other helpers' niced background jobs.")


if __name__ == "__main__":
    main()
