"""MMD GAN against GMMN on MNIST at equal compute: FID.

Protocol: MNIST intensities in [0, 1]; both generators are GMMN's MLP (noise 10 -> 64-256-256-1024
-> 784, sigmoid output). GMMN (Li et al. 2015) minimises √MMD² with Gaussian kernels of widths
2-80 in pixel space (uniform noise, Adam 1e-3, batch 1000: ``bench_gmmn.py``'s recipe). MMD GAN
(Li et al. 2017) learns the kernel's features with an autoencoder critic (MLP 784-256-256-16,
decoder mirrored; σ = 1, 2, 4, 8, 16 on the features; λ_AE = 8, λ_rg = 16; n_critic 5; RMSprop
5e-5, batch 64, the paper's settings) with the encoder's weights clipped at ``--clip``.

Equal budget: the same process CPU time. MMD GAN trains ``--steps`` rounds; GMMN then trains
for as many rounds as take the same CPU seconds (measured in the same process, so niced
background load costs both alike).

Figure: FID on genzoo's MNIST classifier features (10,000 samples vs the 10,000 test images;
not comparable with Inception FIDs), and a 64-sample grid each (``docs/img/mmd-MODEL.png``).

Usage::

    python benchmarks/bench_mmd_gan.py --steps 4000
    python benchmarks/bench_mmd_gan.py --steps 10 -n 500 --tag "SMOKE TEST" --img ""
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.train import Callback, TrainConfig, Trainer  # noqa: E402
from genzoo.viz.plots import save_image_grid  # noqa: E402

from _results import add_common_args, append  # noqa: E402


class CpuStop(Callback):
    """Ends training once the process has spent ``seconds`` of CPU time in it (checked at each log row)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds, self.start = seconds, time.process_time()

    def on_log(self, trainer, row) -> None:  # noqa: ANN001
        if self.seconds is not None and time.process_time() - self.start >= self.seconds:
            trainer.total = trainer.step  # finish as if this were the last round


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4000, help="MMD GAN rounds; GMMN gets the same CPU time")
    ap.add_argument("--clip", type=float, default=0.01)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--img", default="docs/img")
    add_common_args(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = genzoo.load_data("mnist", **({"root": args.data_root} if args.data_root else {}))
    lines, cpu_budget = [], None
    for name in ("mmd_gan", "gmmn"):
        torch.manual_seed(args.seed)
        if name == "mmd_gan":
            model = genzoo.build("mmd_gan", data.info, clip=args.clip)
            cfg = {"steps": args.steps, "batch_size": 64}
        else:
            model = genzoo.build("gmmn", data.info)
            cfg = {"steps": 10**9, "batch_size": 1000, "lr": 1e-3}
        stop = CpuStop(cpu_budget)
        c0, t0 = time.process_time(), time.time()
        trainer = Trainer(model, data, TrainConfig(progress=False, seed=args.seed, device=args.device, threads=args.threads,
                                                   log_every=10, **cfg), run=None, callbacks=[stop])
        trainer.fit()
        cpu, wall = time.process_time() - c0, time.time() - t0
        if cpu_budget is None:
            cpu_budget = cpu
        res = genzoo.evaluate(model.eval(), ["fid"], data=data, n=args.n, seed=args.seed)["metrics"]["fid"]
        if args.img:
            torch.manual_seed(args.seed)
            save_image_grid(model.sample(64), Path(args.img) / f"mmd-{name}.png", nrow=8)
        line = f"| {name} | {trainer.step} | {cpu:.0f} | {wall:.0f} | {res['value']:.2f} |"
        print(line, flush=True)
        lines.append(line)
    table = ["| model | rounds | CPU s | wall s | FID (genzoo MNIST features) |", "|---|---|---|---|---|", *lines]
    notes = (f"- equal budget = equal process CPU time ({cpu_budget:.0f} s); generators: GMMN's MLP; MMD GAN critic clip {args.clip}; "
             f"FID on {args.n} samples; {args.threads} torch thread(s), niced, on a CPU shared with other jobs.")
    append(f"bench_mmd_gan {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
