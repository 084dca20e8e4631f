"""The MNIST family: MNIST, Fashion-MNIST, Kuzushiji-MNIST and dynamically binarized MNIST.

All four read the original IDX ``.gz`` files (60,000 train / 10,000 test 28x28 grayscale
images), looked for in ``root/<name>/``, ``$GENZOO_DATA/<name>/`` and the user cache folder
``~/.cache/genzoo/<name>/`` (see :mod:`genzoo.data.idx`), and downloaded into the cache when
found nowhere.

Checks:
    * MNIST: the sha256 of each *decompressed* file, so any re-compression of the original
      files is accepted and any change to the pixels is not.
    * Fashion-MNIST, KMNIST: the publishers' md5 of the ``.gz`` files for downloads and for
      byte-identical local copies; other local copies (uncompressed or re-compressed) must
      pass strict IDX structure checks (magic numbers, 60000/10000 x 28 x 28, labels 0..9).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo, ImageSize
from .idx import IdxDataset, IdxFile, load_idx_dataset
from .resize import check_size, resize_images, resized_extras

_TRAIN, _TEST = 60_000, 10_000


def _files(checks: dict[str, tuple[str | None, str | None]]) -> tuple[IdxFile, ...]:
    """The four standard files with their ``(sha256 of content, md5 of .gz)`` checks."""
    shapes = {
        "train-images-idx3-ubyte": (_TRAIN, 28, 28),
        "train-labels-idx1-ubyte": (_TRAIN,),
        "t10k-images-idx3-ubyte": (_TEST, 28, 28),
        "t10k-labels-idx1-ubyte": (_TEST,),
    }
    return tuple(IdxFile(name, shape, *checks[name]) for name, shape in shapes.items())


#: MNIST (LeCun et al. 1998). Content sha256s: ../shared/README.md, checked against the shared
#: copy; .gz md5s of the original files as published by torchvision's MNIST dataset. The
#: original site (yann.lecun.com) is often unavailable, so PyTorch's S3 mirror comes first.
MNIST = IdxDataset(
    name="mnist",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    files=_files(
        {
            "train-images-idx3-ubyte": (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            "train-labels-idx1-ubyte": (
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "d53e105ee54ea40749a09fcbcd1e9432",
            ),
            "t10k-images-idx3-ubyte": (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "9fb629c4189551a2d022fa330f9573f3",
            ),
            "t10k-labels-idx1-ubyte": (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        }
    ),
)

#: Fashion-MNIST (Xiao et al. 2017). md5s from the dataset's README
#: (github.com/zalandoresearch/fashion-mnist), identical in torchvision.
FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    files=_files(
        {
            "train-images-idx3-ubyte": (None, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte": (None, "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte": (None, "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte": (None, "bb300cfdad3c16e7a12a480ee83cd310"),
        }
    ),
)

#: Kuzushiji-MNIST (Clanuwat et al. 2018, arXiv:1812.01718). URLs from the dataset's README
#: (github.com/rois-codh/kmnist); md5s from torchvision's KMNIST (the README lists none).
KMNIST = IdxDataset(
    name="kmnist",
    mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
    files=_files(
        {
            "train-images-idx3-ubyte": (None, "bdb82020997e1d708af4cf47b453dcf7"),
            "train-labels-idx1-ubyte": (None, "e144d726b3acfaa3e44228e80efcd344"),
            "t10k-images-idx3-ubyte": (None, "5c965bf0a639b31b8f53240b1b52f4d7"),
            "t10k-labels-idx1-ubyte": (None, "7320c461ea6c1c855c0b718fb2a4b134"),
        }
    ),
)

#: Seed of the torch.Generator that binarizes the binarized-MNIST test set, once (DESIGN §8).
#: Changing it changes every reported test NLL, so it is fixed here, not an option.
BINARIZED_TEST_SEED = 0

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


def idx_image_tensors(
    spec: IdxDataset, root: str | None = None, download: bool = True, num_classes: int = 10, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four IDX files of ``spec`` as ``(x_train, y_train, x_test, y_test)`` tensors.

    Args:
        spec: files, checks and mirrors; ``spec.files`` are train images, train labels, test
            images, test labels, in that order.
        root: folder searched first for ``root/<spec.name>/``.
        download: whether to download the files when found nowhere.
        num_classes: labels must lie in ``0 .. num_classes - 1``.
        size: resize the images to ``size`` x ``size`` once, here (see :mod:`genzoo.data.resize`:
            area when shrinking, bilinear when enlarging, back on the 8-bit grid).

    Returns:
        Images ``(N, 1, H, W)`` float32 in [0, 1] (pixel / 255) and int64 labels.
    """
    x_train, y_train, x_test, y_test = load_idx_dataset(spec, root=root, download=download)
    for split, y in (("train", y_train), ("test", y_test)):
        if len(y) and int(y.max()) >= num_classes:
            raise GenzooError(
                f"{spec.name} {split} labels go up to {int(y.max())}, expected 0..{num_classes - 1}; "
                "replace the label files with the originals"
            )

    def images(a: np.ndarray) -> torch.Tensor:
        # astype copies the read-only IDX buffer into a writable float array torch can own.
        x = torch.from_numpy(a.astype(np.float32)).div_(255.0).unsqueeze(1)  # (N, 1, H, W)
        return x if size is None else resize_images(x, size, levels=256)  # (N, 1, size, size)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return images(x_train), labels(y_train), images(x_test), labels(y_test)


def load_idx_images(spec: IdxDataset, root: str | None = None, download: bool = True, extras: dict | None = None,
                    size: int | None = None) -> Data:
    """A 10-class 8-bit image dataset stored as IDX files (see :func:`idx_image_tensors`)."""
    size = check_size(size, spec.name)
    x_train, y_train, x_test, y_test = idx_image_tensors(spec, root, download, size=size)
    info = DataInfo(
        name=spec.name,
        shape=tuple(x_train.shape[1:]),
        kind="image",
        value_range=(0.0, 1.0),
        num_classes=10,
        levels=256,
        extras=resized_extras(extras or {}, (28, 28), size),
    )
    return Data(x_train, x_test, info, y_train, y_test)


@DATASETS.register("mnist", help="MNIST handwritten digits, 28x28 grayscale, 60k/10k (IDX files, downloaded if absent)")
def mnist(root: str | None = None, download: bool = True, size: ImageSize | None = None) -> Data:
    """MNIST (LeCun et al. 1998): 28x28 digits in [0, 1], shape ``(1, 28, 28)``, 10 classes.

    Args:
        root: data folder searched first (its ``mnist/`` sub-folder), before ``$GENZOO_DATA``
            and ``~/.cache/genzoo``.
        download: download the files into the cache folder when they are found nowhere.
        size: resize to ``size`` x ``size`` once at load (e.g. 32 for the DCGAN protocol);
            area averaging when shrinking, bilinear when enlarging (:mod:`genzoo.data.resize`).
    """
    return load_idx_images(MNIST, root, download, size=size)


@DATASETS.register("fashion-mnist", help="Fashion-MNIST clothing images, 28x28 grayscale, 60k/10k, 10 classes")
def fashion_mnist(root: str | None = None, download: bool = True, size: ImageSize | None = None) -> Data:
    """Fashion-MNIST (Xiao et al. 2017): Zalando article images, a drop-in for MNIST.

    Args:
        root: data folder searched first (its ``fashion-mnist/`` sub-folder).
        download: download the files into the cache folder when they are found nowhere.
        size: resize to ``size`` x ``size`` once at load (e.g. 32 for the DCGAN protocol);
            area averaging when shrinking, bilinear when enlarging (:mod:`genzoo.data.resize`).
    """
    return load_idx_images(FASHION_MNIST, root, download, extras={"classes": FASHION_CLASSES}, size=size)


@DATASETS.register("kmnist", help="Kuzushiji-MNIST cursive Japanese characters, 28x28 grayscale, 60k/10k")
def kmnist(root: str | None = None, download: bool = True, size: ImageSize | None = None) -> Data:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): one hiragana character per class.

    Args:
        root: data folder searched first (its ``kmnist/`` sub-folder).
        download: download the files into the cache folder when they are found nowhere.
        size: resize to ``size`` x ``size`` once at load (e.g. 32 for the DCGAN protocol);
            area averaging when shrinking, bilinear when enlarging (:mod:`genzoo.data.resize`).
    """
    return load_idx_images(KMNIST, root, download, extras={"classes": KMNIST_CLASSES}, size=size)


def binarize_once(x: torch.Tensor, seed: int = BINARIZED_TEST_SEED) -> torch.Tensor:
    """A fixed Bernoulli draw of intensities ``x``: pixel = 1 where ``u < x``, ``u ~ U[0, 1)``.

    The uniforms come from a CPU ``torch.Generator`` seeded with ``seed`` and drawn in the
    order of ``x``'s elements, so the result depends only on ``x`` and ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(x.shape, generator=gen, dtype=torch.float32)
    return (u < x.cpu()).to(x.dtype)


@DATASETS.register("binarized-mnist", help="MNIST with dynamic binarization for training and a fixed binarized test set")
def binarized_mnist(root: str | None = None, download: bool = True, size: ImageSize | None = None) -> Data:
    """Binarized MNIST under the evaluation protocol of DESIGN §8.

    Training examples stay intensities in [0, 1] with ``info.binarize = "dynamic"``: the
    :class:`~genzoo.data.base.InMemoryLoader` draws a fresh Bernoulli sample per batch. The
    test set is binarized once, with the fixed seed :data:`BINARIZED_TEST_SEED`, so every
    model is evaluated on the same 0/1 images.

    Args:
        root: data folder searched first (its ``mnist/`` sub-folder: the MNIST files).
        download: download the MNIST files into the cache folder when they are found nowhere.
        size: resize the intensities to ``size`` x ``size`` once at load (area when shrinking,
            bilinear when enlarging, :mod:`genzoo.data.resize`); the test set is binarized
            after resizing, with the same seed.
    """
    size = check_size(size, "binarized-mnist")
    x_train, y_train, x_test, y_test = idx_image_tensors(MNIST, root, download, size=size)
    info = DataInfo(
        name="binarized-mnist",
        shape=tuple(x_train.shape[1:]),
        kind="image",
        value_range=(0.0, 1.0),
        num_classes=10,
        binarize="dynamic",
        levels=2,
        extras=resized_extras({"test_binarization_seed": BINARIZED_TEST_SEED}, (28, 28), size),
    )
    return Data(x_train, binarize_once(x_test), info, y_train, y_test)
