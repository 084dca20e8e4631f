"""scikit-learn's bundled 8x8 handwritten digits: the embedded default dataset (no download).

The 1,797 images are the test part of the UCI "Optical Recognition of Handwritten Digits"
set: 4x4 blocks of a 32x32 bitmap counted, so every pixel is an integer 0..16 (17 levels).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo, ImageSize
from .resize import check_size, resize_images, resized_extras

#: The last ``TEST_SIZE`` images (in scikit-learn's fixed order) are the test split. A
#: contiguous tail rather than a random draw keeps the split identical across numpy/torch
#: versions; the tail still holds 27-33 examples of every digit.
TEST_SIZE = 297


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The ``(1797, 64)`` pixel counts and ``(1797,)`` labels bundled with scikit-learn.

    Reads scikit-learn's ``datasets/data/digits.csv.gz`` (what ``load_digits`` reads) without
    importing scikit-learn, which takes seconds; falls back to ``load_digits`` if the file
    has moved.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise GenzooError("the digits dataset needs scikit-learn; install it with: pip install scikit-learn")
    for location in spec.submodule_search_locations or []:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")  # (1797, 65): 64 pixels, then the label
            return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


@DATASETS.register("digits", help="scikit-learn 8x8 digits (1500 train / 297 test, 17 levels), bundled")
def digits(size: ImageSize | None = None) -> Data:
    """scikit-learn's 8x8 digits, scaled from 0..16 to [0, 1], shape ``(1, 8, 8)``, 10 classes.

    Args:
        size: resize to ``size`` x ``size`` once at load (bilinear when enlarging, area when
            shrinking, :mod:`genzoo.data.resize`), back on the 17-level grid.

    Returns:
        1,500 training and 297 test images with their digit labels.

    Example:
        >>> data = digits()
        >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
        ((1500, 1, 8, 8), (297, 1, 8, 8))
    """
    size = check_size(size, "digits")
    pixels, target = _read_digits()
    x = torch.from_numpy((pixels / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    if size is not None:
        x = resize_images(x, size, levels=17)  # (N, 1, size, size)
    y = torch.from_numpy(target.astype(np.int64))
    info = DataInfo(
        name="digits",
        shape=tuple(x.shape[1:]),
        kind="image",
        value_range=(0.0, 1.0),
        num_classes=10,
        levels=17,
        extras=resized_extras({}, (8, 8), size),
    )
    n = len(x) - TEST_SIZE
    return Data(x_train=x[:n], x_test=x[n:], info=info, y_train=y[:n], y_test=y[n:])
