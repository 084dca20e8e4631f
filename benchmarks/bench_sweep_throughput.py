"""Seeds per second: N seeds trained as one vmapped model vs the same N runs one after another.

Both contenders run the very same Trainer objects (one per seed, each the run ``genzoo train
--seed S`` would make); the vmapped contender hands them to :class:`~genzoo.train.vmap.VmapTrainer`,
the sequential one calls ``fit`` on each in turn. Reported: aggregate rounds per second (rounds
done by all seeds / training seconds; training seconds are the trainers' own ``elapsed``, the
loop alone), medians over ``--repeats`` blocks that alternate the contenders, and the ratio.
The sequential contender times ``--seq-runs`` of the N runs per block (every run costs the
same); the vmapped one all N.

Models:

- ``pacgan``: the 2-D GAN of the PacGAN protocol (``bench_gan_modes.py``): generator 2 -> 4 x 400
  ReLU + batch norm -> 2, discriminator 2 -> 3 x 200 LeakyReLU -> 1, ring of 8, batch 100;
- ``gan2d``: genzoo's default GAN on the same ring (MLPs 128-128, latent 2), batch 100;
- ``gan2d_tiny``: the same with MLPs 32-32 (a step that is almost all overhead);
- ``vae2d``: genzoo's default MLP VAE on the ring, batch 100;
- ``vae_mnist``: the MLP VAE 784-512-16 on binarized MNIST, batch 100 (issue 18's model).

Usage::

    python benchmarks/bench_sweep_throughput.py --models pacgan,gan2d,vae2d,vae_mnist --seeds 16
    python benchmarks/bench_sweep_throughput.py --models gan2d --seeds 4 --rounds 20 --repeats 1 --no-write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402
from genzoo.train.vmap import VmapTrainer  # noqa: E402

from _results import RESULTS, append  # noqa: E402

PACGAN_G = {"type": "mlp", "hidden": (400,) * 4, "act": "relu", "batch_norm": True}
PACGAN_D = {"type": "mlp", "hidden": (200,) * 3, "act": "leaky_relu"}
MODELS = {  # name -> (model, model options, dataset, data options, description)
    "pacgan": ("gan", {"latent_dim": 2, "generator": PACGAN_G, "critic": PACGAN_D}, "8gaussians", {},
               "2-D PacGAN GAN (G 4x400 BN, D 3x200)"),
    "gan2d": ("gan", {"latent_dim": 2}, "8gaussians", {}, "2-D GAN, genzoo default MLPs 128-128"),
    "gan2d_tiny": ("gan", {"latent_dim": 2, "generator": {"type": "mlp", "hidden": (32, 32)}, "critic": {"type": "mlp", "hidden": (32, 32)}},
                   "8gaussians", {}, "2-D GAN, MLPs 32-32"),
    "vae2d": ("vae", {}, "8gaussians", {}, "2-D MLP VAE, genzoo default"),
    "vae_mnist": ("vae", {"latent_dim": 16, "encoder": {"type": "mlp", "hidden": (512,)}, "decoder": {"type": "mlp", "hidden": (512,)}},
                  "binarized_mnist", {}, "MLP VAE 784-512-16 on binarized MNIST"),
}


def members(key: str, seeds: list[int], rounds: int, data: genzoo.Data) -> list[Trainer]:
    name, opts, _, _, _ = MODELS[key]
    out = []
    for s in seeds:
        torch.manual_seed(s)
        model = genzoo.build(name, data.info, **opts)
        cfg = TrainConfig(steps=rounds, batch_size=100, seed=s, progress=False, log_every=rounds, checkpoint_every=0,
                          threads=1)
        out.append(Trainer(model, data, cfg, run=None, callbacks=[]))
    return out


def vmapped(key: str, n: int, rounds: int, data: genzoo.Data) -> float:
    vt = VmapTrainer(members(key, list(range(n)), rounds, data))
    vt.fit()
    return n * vt.step / vt.elapsed


def sequential(key: str, runs: int, rounds: int, data: genzoo.Data) -> float:
    done, secs = 0, 0.0
    for t in members(key, list(range(runs)), rounds, data):
        t.fit()
        done, secs = done + t.step, secs + t.elapsed
    return done / secs


GEMMS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def _gemm_flops(name: str, shapes: list[list[int]]) -> float:
    """Floating-point operations of one matrix product from its profiled input shapes."""
    a, b = (shapes[1], shapes[2]) if name in ("aten::addmm", "aten::baddbmm") else (shapes[0], shapes[1])
    batch = a[0] if len(a) == 3 else 1
    return 2.0 * batch * a[-2] * a[-1] * b[-1]


def gemm_profile(t: Trainer, rounds: int, flops: float | None = None) -> dict[str, float]:
    """``rounds`` more rounds of a trainer under the profiler: the matrix products' share of the
    time, their FLOP rate and their FLOPs per round (all members together).

    ``flops``: the round's known FLOPs (the vmapped trainer's: seeds x a sequential round's),
    so its products' shapes need not be recorded (record_shapes under vmap can crash PyTorch).
    """
    from torch.profiler import ProfilerActivity, profile

    t.fit()
    t.total += rounds
    with profile(activities=[ProfilerActivity.CPU], record_shapes=flops is None) as prof:
        t.fit()
    total = gemm = counted = 0.0
    for e in prof.events():
        total += e.self_cpu_time_total
        if e.name in GEMMS:
            gemm += e.self_cpu_time_total
            counted += _gemm_flops(e.name, e.input_shapes) if flops is None else 0.0
    per_round = counted / rounds if flops is None else flops
    return {"share": gemm / total, "rate": per_round * rounds / (gemm * 1e-6) / 1e9, "flops": per_round}


def gemm_ceiling(n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a large square matrix product on one thread: what the matrix units can give."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="pacgan,gan2d,vae2d,vae_mnist")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=60, help="rounds per timed block (each contender)")
    ap.add_argument("--seq-runs", type=int, default=2, help="sequential runs timed per block")
    ap.add_argument("--repeats", type=int, default=3, help="alternating blocks per contender")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lines = ["| model | seeds | sequential rounds/s | vmapped aggregate rounds/s | ratio | sequential GEMM share | "
             "GFLOP per round | sequential GEMM GFLOP/s | vmapped GEMM GFLOP/s | bound (1 / share) | bound (GEMMs at the ceiling, nothing else) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    ceiling = gemm_ceiling()
    print(f"GEMM ceiling (1024^3, one thread): {ceiling:.1f} GFLOP/s", flush=True)
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        _, _, dname, dopts, desc = MODELS[key]
        extra = {"root": args.data_root} if dname != "8gaussians" and args.data_root else {}
        data = genzoo.load_data(dname, **({"n_train": 100_000, "n_test": 1000} if dname == "8gaussians" else {}), **dopts, **extra)
        seq, vm = [], []
        vmapped(key, 2, 3, data), sequential(key, 1, 3, data)  # warm-up: first-call costs out of the timings
        for _ in range(args.repeats):  # alternate the contenders
            t0 = time.perf_counter()
            vm.append(vmapped(key, args.seeds, args.rounds, data))
            t1 = time.perf_counter()
            seq.append(sequential(key, args.seq_runs, args.rounds, data))
            print(f"{key}: vmapped {vm[-1]:.1f} ({t1 - t0:.0f} s), sequential {seq[-1]:.1f} ({time.perf_counter() - t1:.0f} s)", flush=True)
        s, v = statistics.median(seq), statistics.median(vm)
        g = gemm_profile(members(key, [0], args.rounds, data)[0], args.rounds)
        gv = gemm_profile(VmapTrainer(members(key, list(range(args.seeds)), args.rounds, data)), args.rounds,
                          flops=args.seeds * g["flops"])
        floor = g["flops"] / (ceiling * 1e9)  # seconds per round if the GEMMs ran at the ceiling and nothing else ran
        line = (f"| {desc} | {args.seeds} | {s:.1f} | {v:.1f} | {v / s:.2f}x | {100 * g['share']:.0f} % | {g['flops'] / 1e9:.3f} | "
                f"{g['rate']:.1f} | {gv['rate']:.1f} | {1 / g['share']:.2f}x | {1 / s / floor:.2f}x |")
        print(line, flush=True)
        lines.append(line)
    notes = (f"{args.rounds} rounds per timed block, medians of {args.repeats} alternating blocks; one torch thread; "
             f"sequential = {args.seq_runs} of the {args.seeds} runs timed per block (all cost the same), whose aggregate "
             "rate is one run's; rounds/s from the trainers' own loop time. Measured at normal priority while the "
             "2-core machine was shared with other helpers' niced background jobs and tests. Bounds: stacking seeds "
             "cannot make a seed's matrix products cheaper (the vmapped run's batched products run at about the sequential "
             "products' FLOP rate: both columns measured here), so "
             "the vmapped/sequential ratio is at most 1 / (the products' share of a sequential round), measured with "
             "torch.profiler over one sequential block (self CPU time of mm/addmm/bmm over all ops), and at most "
             "(sequential round time) / (the round's GEMM FLOPs at the ceiling rate) even if the products ran as fast "
             f"as a 1024^3 product ({ceiling:.1f} GFLOP/s on one thread in this run) and everything else vanished.")
    print(notes)
    if not args.no_write:
        append(f"Seed sweeps: vmapped vs sequential throughput {args.tag}".rstrip(), "\n".join(lines), notes, path=args.results)


if __name__ == "__main__":
    main()
