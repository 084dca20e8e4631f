"""WAE-MMD and WAE-GAN against the VAE on MNIST with the same networks and budget: FID, reconstruction, samples.

Protocol (Tolstikhin et al. 2018, §4 / App. C, on CPU-sized networks): MNIST intensities in
[0, 1]; every model has the same MLP encoder and decoder (``--hidden``, mirrored), an
``--latent``-d code, the Bernoulli reconstruction cost, prior N(0, I), Adam 1e-3 (β1 = 0.5 for
the WAEs as in the paper, the trainer's default 0.9 for the VAE), batch ``--batch``, and the
same number of rounds. WAE-MMD: λ = 10, the inverse multiquadratic kernel summed over
C = 2 d_z (0.1, 0.2, 0.5, 1, 2, 5, 10); WAE-GAN: λ = 1, a 4 x 512 ReLU latent critic (Adam 5e-4).

Figures: FID on genzoo's own MNIST classifier features (10,000 samples against the 10,000
test images; not comparable with Inception FIDs), the test reconstruction error
``‖decode(encode(x)) − x‖²`` summed over pixels (metric ``recon``, 10,000 test images), and a
64-sample grid per model (``docs/img/wae-MODEL.png``). The paper's claim: sharper samples
(lower FID) at equal reconstruction.

Usage::

    python benchmarks/bench_wae.py --steps 12000
    python benchmarks/bench_wae.py --steps 20 --hidden 64 -n 500 --tag "SMOKE TEST" --img ""
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import genzoo  # noqa: E402
from genzoo.viz.plots import save_image_grid  # noqa: E402

from _results import add_common_args, append  # noqa: E402
from _resume import trained  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="vae,wae_mmd,wae_gan")
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--latent", type=int, default=8)
    ap.add_argument("--hidden", default="512,512")
    ap.add_argument("-n", type=int, default=10_000, help="samples / test images for FID and reconstruction")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/bench_wae")
    ap.add_argument("--img", default="docs/img", help="folder for the sample grids ('' to skip)")
    add_common_args(ap)
    args = ap.parse_args(argv)
    enc = {"type": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]}
    data_options = {"root": args.data_root} if args.data_root else {}
    lines = []
    for name in args.rows.split(","):
        opts = {"latent_dim": args.latent, "encoder": enc, "likelihood": "bernoulli"}
        train = {"batch_size": args.batch, "seed": args.seed, "device": args.device, "threads": args.threads}
        if name != "vae":
            train["betas"] = (0.5, 0.999)
        t0 = time.time()
        model = trained(Path(args.out) / name, name, "mnist", args.steps, model_options=opts, data_options=data_options, **train)
        secs = time.time() - t0
        res = genzoo.evaluate(Path(args.out) / name, ["fid", "recon"], n=args.n, seed=args.seed)["metrics"]
        if args.img:
            torch.manual_seed(args.seed)
            save_image_grid(model.sample(64), Path(args.img) / f"wae-{name}.png", nrow=8)
        line = (f"| {name} | {args.steps} | {res['fid']['value']:.2f} | {res['recon']['value']:.2f} ± {res['recon']['stderr']:.2f} "
                f"| {secs:.0f} |")
        print(line, flush=True)
        lines.append(line)
        torch.set_num_threads(args.threads)
    table = ["| model | rounds | FID (genzoo MNIST features) | test recon. error (sum sq.) | train s |", "|---|---|---|---|---|", *lines]
    notes = (f"- every model: MLP encoder {args.hidden} (decoder mirrored), {args.latent}-d code, Bernoulli cost, batch {args.batch}, "
             f"{args.steps} rounds, Adam 1e-3; FID and reconstruction on {args.n} samples / test images; "
             f"{args.threads} torch thread(s), niced, on a CPU shared with other jobs (seconds are not a speed figure).")
    append(f"bench_wae {args.tag}".rstrip(), "\n".join(table), notes, path=args.results)


if __name__ == "__main__":
    main()
