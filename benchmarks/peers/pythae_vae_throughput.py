"""Training throughput of pythae 0.1.2's VAE on MNIST (peer side of the genzoo benchmark).

Run with the pythae venv made by ``benchmarks/peers/setup_pythae.sh``::

    .venv-pythae/bin/python benchmarks/peers/pythae_vae_throughput.py --epochs 2 --threads 2

Model: ``pythae.models.VAE`` with pythae's default MLP networks for input_dim (1, 28, 28)
and latent_dim 16 (``Encoder_VAE_MLP``: 784-512-(16 mu, 16 log-var); ``Decoder_AE_MLP``:
16-512-784 + sigmoid), ``reconstruction_loss="bce"`` (Bernoulli likelihood).
Training: pythae's own ``TrainingPipeline`` -> ``BaseTrainer`` on the 60k MNIST training
images scaled to [0, 1], Adam lr 1e-3, batch 100 (600 steps per epoch), CPU only
(``no_cuda=True``), ``torch.set_num_threads(--threads)``, no eval set, no checkpoints.

What is timed: for every epoch, the wall time of BaseTrainer's training loop, from the
trainer's ``on_train_step_begin`` callback (fired once, just before iterating the
DataLoader) to the ``on_train_step_end`` callback of the epoch's last batch.  It therefore
includes pythae's data path (per-sample ``BaseDataset.__getitem__`` + collate, shuffled
DataLoader, 0 workers), forward, loss, backward, Adam step, ``loss.item()`` and the
callbacks (tqdm progress bar update).  It excludes setup (data loading/preprocessing,
model construction, the sanity-check forward pass), and pythae's per-epoch bookkeeping
after the loop (deepcopy of the best model, logging) and the final model save.
``steps_per_s`` = steps / seconds summed over epochs 2..N (warm-up epoch 1 dropped);
with ``--epochs 1`` epoch 1 is used.  The last stdout line is a single JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import torch
from pythae.models import VAE, VAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback


def load_mnist_images(root: str, split: str = "train") -> np.ndarray:
    """Parse ``{split}-images-idx3-ubyte.gz`` into float32 (N, 1, 28, 28) in [0, 1]."""
    path = os.path.join(root, f"{split}-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw, dtype=">u4", count=4)
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX3 image file (magic {magic})")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols)
    return (pixels.reshape(n, 1, rows, cols) / 255.0).astype(np.float32)


class EpochTimer(TrainingCallback):
    """Records, per epoch, the number of training steps and the wall time of the loop."""

    def __init__(self) -> None:
        self.epochs: list[tuple[int, float]] = []  # (steps, seconds)
        self._t0 = 0.0
        self._steps = 0

    def on_train_step_begin(self, training_config, **kwargs):  # once per epoch
        self._steps = 0
        self._t0 = time.perf_counter()

    def on_train_step_end(self, training_config, **kwargs):  # once per batch
        self._steps += 1
        self._t_last = time.perf_counter()

    def on_epoch_end(self, training_config, **kwargs):
        self.epochs.append((self._steps, self._t_last - self._t0))


def main() -> None:
    default_root = os.path.join(os.environ["GENZOO_DATA"], "mnist") if "GENZOO_DATA" in os.environ \
        else "/work/shared/data/mnist"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=default_root)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--n-train", type=int, default=None, help="use only the first N images")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the temp dir is removed
    load_before = os.getloadavg()[0]
    for name in ("pythae.pipelines.training", "pythae.trainers.base_trainer.base_trainer"):
        logging.getLogger(name).setLevel(logging.WARNING)  # pythae logs INFO to the console

    x = load_mnist_images(args.data_root)[: args.n_train]
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))
    out_dir = tempfile.mkdtemp(prefix="pythae_bench_")
    try:
        config = BaseTrainerConfig(
            output_dir=out_dir,  # pythae still writes its final model here; deleted below
            num_epochs=args.epochs,
            learning_rate=1e-3,
            optimizer_cls="Adam",
            per_device_train_batch_size=args.batch,
            steps_saving=None,
            steps_predict=None,
            no_cuda=True,
        )
        timer = EpochTimer()
        TrainingPipeline(model=model, training_config=config)(
            train_data=x, eval_data=None, callbacks=[timer]
        )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    timed = timer.epochs[1:] if len(timer.epochs) > 1 else timer.epochs
    steps = sum(s for s, _ in timed)
    seconds = sum(t for _, t in timed)
    print(json.dumps({
        "lib": "pythae",
        "version": version("pythae"),
        "torch": torch.__version__,
        "steps_per_s": round(steps / seconds, 2),
        "steps": steps,
        "seconds": round(seconds, 3),
        "timed_epochs": len(timed),
        "epoch1_steps_per_s": round(timer.epochs[0][0] / timer.epochs[0][1], 2),
        "threads": args.threads,
        "batch": args.batch,
        "loadavg_1min_before": round(load_before, 2),  # >~0.5 on 2 cores: other work ran too
    }))


if __name__ == "__main__":
    main()
