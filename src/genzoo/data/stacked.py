"""Stacked MNIST: three random MNIST digits as the channels of one image, 1000 modes.

The mode-collapse benchmark of Metz et al. (2017, unrolled GANs), Srivastava et al. (2017,
VEEGAN) and Lin et al. (2018, PacGAN): each example stacks three MNIST digits, drawn
independently and uniformly at random (with replacement) from the same split, as its three
channels, so the data has 10³ = 1000 equally likely modes (digit triples). The label is
``100 d1 + 10 d2 + d3``. A generator's coverage is counted by classifying each channel of its
samples with genzoo's MNIST feature classifier (metric ``stacked_modes``, in
:mod:`genzoo.metrics.quality`).

Examples are float32 (``Data`` holds floating-point tensors), 9.4 KB each: the default
25,000 training examples take about 235 MB and the 10,000 test examples about 94 MB; raise
``n_train`` for the papers' larger training sets if memory allows.
"""

from __future__ import annotations

from typing import Annotated

import torch

from ..config import Range
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo, ImageSize
from .mnist import MNIST, idx_image_tensors
from .resize import check_size, resized_extras

#: Seeds of the digit draws, fixed per split so every run sees the same stacked images.
TRAIN_SEED, TEST_SEED = 0, 1


def stack_digits(x: torch.Tensor, y: torch.Tensor, n: int, seed: int, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked images ``(n, channels, H, W)`` and labels ``Σ_k 10^(channels-1-k) d_k``.

    Args:
        x: single-channel digits ``(N, 1, H, W)``.
        y: their labels ``(N,)`` in 0..9.
        n: number of stacked examples.
        seed: seed of the CPU generator drawing the ``(n, channels)`` digit indices.
        channels: digits per example.
    """
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(x), (n, channels), generator=gen)  # (n, K)
    images = x[:, 0].index_select(0, idx.flatten()).reshape(n, channels, *x.shape[2:])  # (n, K, H, W)
    place = 10 ** torch.arange(channels - 1, -1, -1)  # (K,): 100, 10, 1
    return images, (y[idx] * place).sum(1)


@DATASETS.register("stacked-mnist", help="3 random MNIST digits stacked as RGB channels, 1000 modes (mode-collapse benchmark)")
def stacked_mnist(root: str | None = None, download: bool = True, n_train: Annotated[int, Range(1, 10**6)] = 25_000,
                  n_test: Annotated[int, Range(0, 10**6)] = 10_000, size: ImageSize | None = None) -> Data:
    """Stacked MNIST: shape ``(3, 28, 28)`` (or ``(3, size, size)``) in [0, 1], label ``100 d1 + 10 d2 + d3`` (1000 classes).

    Training examples stack MNIST training digits, test examples MNIST test digits, each split
    drawn with its own fixed seed (:data:`TRAIN_SEED`, :data:`TEST_SEED`).

    Args:
        root: data folder searched first for the MNIST files (its ``mnist/`` sub-folder), before
            ``$GENZOO_DATA`` and ``~/.cache/genzoo``.
        download: download the MNIST files into the cache folder when they are found nowhere.
        n_train: stacked training examples (about 9.4 KB each in memory).
        n_test: stacked test examples.
        size: resize the digits to ``size`` x ``size`` once at load, before stacking (area when
            shrinking, bilinear when enlarging, :mod:`genzoo.data.resize`); the papers' DCGAN
            protocol uses 32 (VEEGAN, PacGAN) or 64 (unrolled GANs).
    """
    size = check_size(size, "stacked-mnist")
    if n_train < 1 or n_test < 0:
        raise GenzooError(f"stacked-mnist needs n_train >= 1 and n_test >= 0, got {n_train} and {n_test}")
    x_train, y_train, x_test, y_test = idx_image_tensors(MNIST, root, download, size=size)
    xtr, ytr = stack_digits(x_train, y_train, n_train, TRAIN_SEED)
    del x_train  # free the 188 MB float copy of MNIST before drawing the test split
    xte, yte = stack_digits(x_test, y_test, n_test, TEST_SEED)
    info = DataInfo(
        name="stacked-mnist",
        shape=tuple(xtr.shape[1:]),
        kind="image",
        value_range=(0.0, 1.0),
        num_classes=1000,
        levels=256,
        extras=resized_extras({
            "modes": 1000,
            "mode_classifier": "genzoo's MNIST feature classifier applied to each channel (metric stacked_modes)",
            "seeds": {"train": TRAIN_SEED, "test": TEST_SEED},
        }, (28, 28), size),
    )
    return Data(xtr, xte, info, ytr, yte)
