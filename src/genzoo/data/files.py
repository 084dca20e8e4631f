"""The user's own data: a folder of images (``folder:PATH``) or numpy arrays (``npz:``/``npy:``).

Everything is checked on load so a mistake is one sentence naming the file and the fix,
rather than a shape error deep inside a model.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch

from ..config import Range, Seed
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo, ImageSize
from .resize import check_size, resize_images, resized_extras

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: PIL modes read as grayscale; every other mode is read as RGB (alpha is dropped).
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


#: Share of the examples held out as the test split.
TestFraction = Annotated[float, Range(0, 1, hi_open=True)]


def split_indices(n: int, test_fraction: float, seed: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded train/test split of ``n`` examples: sorted ``(train_idx, test_idx)``.

    ``round(n * test_fraction)`` examples go to the test split (at least one when the fraction
    is positive), but never all of them.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise GenzooError(f"{source}: test_fraction must be in [0, 1), got {test_fraction}")
    n_test = round(n * test_fraction)
    if test_fraction > 0:
        n_test = max(1, n_test)
    n_test = min(n_test, n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


# --------------------------------------------------------------------------- image folders


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def _read_image(path: Path, size: int | None):
    """One image as a PIL image in mode ``L`` or ``RGB``, resized to ``size`` x ``size``."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if im.mode in _GRAY_MODES else "RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise GenzooError(f"cannot read image {path} ({e}); fix or remove that file") from None
    if size is not None and im.size != (size, size):
        # LANCZOS is antialiased, so downscaling does not alias fine strokes.
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return im


def _is_gray(im) -> bool:
    if im.mode == "L":
        return True
    a = np.asarray(im)
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


def _to_tensor(im, mode: str) -> torch.Tensor:
    """PIL image -> float ``(C, H, W)`` in [0, 1]."""
    a = np.asarray(im.convert(mode) if im.mode != mode else im)
    x = torch.from_numpy(a.copy()).to(torch.float32).div_(255.0)
    return x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1).contiguous()


class ImageFiles(torch.utils.data.Dataset):
    """Images decoded from their files on access: the streamed training split of ``folder:PATH``.

    Items are ``(x (C, H, W) in [0, 1], label)``; an image whose size differs from the first
    one's (without ``size``) is an error naming the file.
    """

    def __init__(self, items: list[tuple[Path, int]], size: int | None, mode: str, hw: tuple[int, int]) -> None:
        self.items, self.size, self.mode, self.hw = items, size, mode, hw

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        im = _read_image(path, self.size)
        if im.size != self.hw:
            raise GenzooError(f"{path} is {im.size[0]}x{im.size[1]}, other images are {self.hw[0]}x{self.hw[1]}; "
                              "pass size=N to resize them all to N x N")
        return _to_tensor(im, self.mode), label


@DATASETS.register("folder", help="folder:PATH, your PNG/JPG images; one sub-folder per class (options: size, channels, stream)")
def folder(
    path: str,
    size: ImageSize | None = None,
    channels: Literal[1, 3] | None = None,
    test_fraction: TestFraction = 0.1,
    seed: Seed = 0,
    stream: bool = False,
    reference: Annotated[int, Range(1, 10**6)] = 2000,
) -> Data:
    """Images from a folder; when it has sub-folders, each is a class (sorted names -> labels).

    Images are scaled to [0, 1] (8-bit pixel / 255) and stored as ``(C, H, W)``.

    Args:
        path: the folder (written ``folder:PATH`` as a dataset name).
        size: resize every image to ``size`` x ``size`` (PIL, Lanczos, antialiased); needed
            when the images differ in size. Non-square images are stretched.
        channels: 1 (grayscale) or 3 (RGB); by default 1 when every image is grayscale (or RGB
            with equal channels), else 3.
        test_fraction: share of the images held out as the test split.
        seed: seed of the train/test split.
        stream: for folders too big for memory: the training images are decoded as batches
            are drawn (``Data.stream``, a DataLoader with ``train.num_workers`` workers);
            only the test split and a reference sample of ``reference`` training images are
            held in memory. Channels are then decided on the first 64 images.
        reference: size of that in-memory reference sample of the training split.

    Returns:
        The images, with labels and ``extras["classes"]`` when there are class sub-folders.
    """
    root = Path(path).expanduser()
    name = f"folder:{path}"
    if not root.exists():
        raise GenzooError(f"image folder {root} does not exist; check the path after 'folder:'")
    if not root.is_dir():
        raise GenzooError(f"{root} is not a folder; use folder:DIR for images, or npz:FILE / npy:FILE for arrays")
    if size is not None and size < 1:
        raise GenzooError(f"{name}: size must be a positive number of pixels, got {size}")
    if channels not in (None, 1, 3):
        raise GenzooError(f"{name}: channels must be 1 (grayscale) or 3 (RGB), got {channels}")

    entries = sorted(root.iterdir())
    class_dirs = [d for d in entries if d.is_dir() and not d.name.startswith(".") and any(map(_is_image, d.rglob("*")))]
    top = [p for p in entries if _is_image(p)]
    if class_dirs and top:
        raise GenzooError(
            f"{root} holds both images ({top[0].name}, ...) and class sub-folders; "
            "move the top-level images into a sub-folder of their class"
        )
    if class_dirs:
        items = [(p, label) for label, d in enumerate(class_dirs) for p in sorted(filter(_is_image, d.rglob("*")))]
    else:
        items = [(p, 0) for p in top]
    if not items:
        raise GenzooError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {root}; put images there, or one sub-folder of images per class"
        )

    if stream:
        return _stream_folder(root, name, items, bool(class_dirs), class_dirs, size, channels, test_fraction, seed, reference)
    images = [_read_image(p, size) for p, _ in items]
    sizes = {im.size for im in images}
    if len(sizes) > 1:
        (w1, h1), (w2, h2) = sorted(sizes)[:2]
        first = next(p for (p, _), im in zip(items, images) if im.size == (w1, h1))
        other = next(p for (p, _), im in zip(items, images) if im.size == (w2, h2))
        raise GenzooError(
            f"images in {root} differ in size ({first.name} is {w1}x{h1}, {other.name} is {w2}x{h2}); "
            "pass size=N to resize them all to N x N"
        )
    if channels is None:
        channels = 1 if all(_is_gray(im) for im in images) else 3
    mode = "L" if channels == 1 else "RGB"
    arr = np.stack([np.asarray(im.convert(mode) if im.mode != mode else im) for im in images])  # (N, H, W[, 3])
    x = torch.from_numpy(arr).to(torch.float32).div_(255.0)
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)

    train, test = split_indices(len(x), test_fraction, seed, name)
    y = torch.tensor([label for _, label in items], dtype=torch.int64) if class_dirs else None
    info = DataInfo(
        name=name,
        shape=tuple(x.shape[1:]),
        kind="image",
        value_range=(0.0, 1.0),
        num_classes=len(class_dirs),
        levels=256,
        extras={**({"classes": [d.name for d in class_dirs]} if class_dirs else {}), **({"size": size} if size else {})},
    )
    return Data(x[train], x[test], info, None if y is None else y[train], None if y is None else y[test])


def _stream_folder(root: Path, name: str, items: list[tuple[Path, int]], labelled: bool, class_dirs: list[Path],
                   size: int | None, channels: int | None, test_fraction: float, seed: int, reference: int) -> Data:
    """``folder(stream=True)``: the test split and a reference sample in memory, the training split streamed."""
    if reference < 1:
        raise GenzooError(f"{name}: reference must be at least 1 image, got {reference}")
    probe = [_read_image(p, size) for p, _ in items[:: max(1, len(items) // 64)][:64]]
    if channels is None:
        channels = 1 if all(_is_gray(im) for im in probe) else 3
    mode = "L" if channels == 1 else "RGB"
    hw = probe[0].size
    train, test = split_indices(len(items), test_fraction, seed, name)
    files = ImageFiles([items[i] for i in train.tolist()], size, mode, hw)
    ref = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed)))[: min(reference, len(files))].sort().values

    def load(ds: ImageFiles, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [ds[i] for i in idx]
        if not pairs:  # an empty test split (test_fraction=0)
            return torch.empty(0, channels, hw[1], hw[0]), torch.empty(0, dtype=torch.int64)
        return torch.stack([x for x, _ in pairs]), torch.tensor([y for _, y in pairs], dtype=torch.int64)

    x_ref, y_ref = load(files, ref.tolist())
    tests = ImageFiles([items[i] for i in test.tolist()], size, mode, hw)
    x_te, y_te = load(tests, list(range(len(tests))))
    info = DataInfo(
        name=name, shape=tuple(x_ref.shape[1:]), kind="image", value_range=(0.0, 1.0), num_classes=len(class_dirs),
        levels=256, extras={**({"classes": [d.name for d in class_dirs]} if class_dirs else {}), **({"size": size} if size else {})},
    )
    return Data(x_ref, x_te, info, y_ref if labelled else None, y_te if labelled else None,
                stream=files if labelled else _Unlabelled(files))


class _Unlabelled(torch.utils.data.Dataset):
    """Drops the label of ``(x, label)`` items (an unlabelled folder)."""

    def __init__(self, ds: torch.utils.data.Dataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.ds[i][0]


# --------------------------------------------------------------------------- numpy arrays


def _examples(a: np.ndarray, what: str, source: str) -> np.ndarray:
    """Validate an example array and bring it to ``(N, D)`` or ``(N, C, H, W)`` float32."""
    if a.dtype.kind not in "biuf":
        raise GenzooError(f"{source}: {what} has dtype {a.dtype}; save plain numbers (int, uint, float or bool)")
    if a.ndim == 3:
        a = a[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)  # channels-last (N, H, W, C), as PIL and matplotlib store it
    elif a.ndim not in (2, 4):
        raise GenzooError(
            f"{source}: {what} has shape {a.shape}; genzoo needs (N, D) points or (N, H, W) / (N, C, H, W) images"
        )
    out = np.ascontiguousarray(a, dtype=np.float32)
    bad = int(out.size - np.isfinite(out).sum())
    if bad:
        raise GenzooError(f"{source}: {what} contains {bad} NaN or infinite values (after conversion to float32); remove or replace them")
    return out


def _labels(y: np.ndarray, n: int, what: str, source: str) -> np.ndarray:
    """Validate labels: one non-negative integer per example."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise GenzooError(f"{source}: {what} has shape {y.shape}; labels must be one class index per example, shape (N,)")
    if len(y) != n:
        raise GenzooError(f"{source}: {n} examples but {len(y)} labels in {what}; save one label per example")
    if y.dtype.kind == "f" and len(y) and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        frac = y[~(np.isfinite(y) & (y == np.round(y)))][0]
        raise GenzooError(f"{source}: {what} holds non-integer values such as {frac}; labels must be class indices 0, 1, 2, ...")
    if y.dtype.kind not in "biuf":
        raise GenzooError(f"{source}: {what} has dtype {y.dtype}; labels must be integer class indices")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise GenzooError(f"{source}: {what} holds negative values such as {y.min()}; labels must be class indices 0, 1, 2, ...")
    return y


def _from_arrays(
    name: str,
    x_train: np.ndarray,
    x_test: np.ndarray | None,
    y_train: np.ndarray | None,
    y_test: np.ndarray | None,
    test_fraction: float,
    seed: int,
    scale: bool,
    size: int | None = None,
) -> Data:
    """Validated :class:`Data` from numpy arrays; splits ``x_train`` when ``x_test`` is None."""
    size = check_size(size, name)
    is_uint8 = x_train.dtype == np.uint8 and (x_test is None or x_test.dtype == np.uint8)
    xs = {"train": _examples(x_train, "x_train" if x_test is not None else "x", name)}
    if x_test is not None:
        xs["test"] = _examples(x_test, "x_test", name)
        if xs["test"].shape[1:] != xs["train"].shape[1:]:
            raise GenzooError(
                f"{name}: x_train examples have shape {xs['train'].shape[1:]} but x_test {xs['test'].shape[1:]}; "
                "save both splits with the same shape"
            )
    ys: dict[str, np.ndarray] = {}
    if y_train is not None:
        ys["train"] = _labels(y_train, len(x_train), "y_train" if x_test is not None else "y", name)
    if y_test is not None:
        ys["test"] = _labels(y_test, len(xs["test"]), "y_test", name)

    x = {k: torch.from_numpy(v) for k, v in xs.items()}
    y = {k: torch.from_numpy(v) for k, v in ys.items()}
    if scale and is_uint8:
        x = {k: v.div_(255.0) for k, v in x.items()}
    src = tuple(x["train"].shape[2:])
    if size is not None:
        if x["train"].ndim != 4:
            raise GenzooError(f"{name}: size= resizes images, but the file holds (N, D) points; drop size=")
        x = {k: resize_images(v, size, levels=256 if scale and is_uint8 else 0) for k, v in x.items()}
    if x_test is None:
        train, test = split_indices(len(x["train"]), test_fraction, seed, name)
        x = {"train": x["train"][train], "test": x["train"][test]}
        if "train" in y:
            y = {"train": y["train"][train], "test": y["train"][test]}

    both = torch.cat([x["train"].flatten(), x["test"].flatten()])
    info = DataInfo(
        name=name,
        shape=tuple(x["train"].shape[1:]),
        kind="points" if x["train"].ndim == 2 else "image",
        value_range=(float(both.min()), float(both.max())),
        num_classes=int(torch.cat(list(y.values())).max()) + 1 if y else 0,
        levels=256 if is_uint8 else 0,
        extras=resized_extras({}, src, size) if size is not None else {},
    )
    return Data(x["train"], x["test"], info, y.get("train"), y.get("test"))


def _load_numpy(path: str, kind: str):
    file = Path(path).expanduser()
    if not file.is_file():
        raise GenzooError(f"{kind} file {file} does not exist; check the path after '{kind}:'")
    try:
        return np.load(file, allow_pickle=False)  # never unpickle user files
    except ValueError as e:
        if "Object arrays" in str(e):
            raise GenzooError(f"{file} holds an array of dtype object; save plain numeric arrays") from None
        raise GenzooError(f"cannot read {file} as a .{kind} file ({e}); save it with numpy.save / numpy.savez") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise GenzooError(f"cannot read {file} as a .{kind} file ({e}); save it with numpy.save / numpy.savez") from None


@DATASETS.register("npz", help="npz:PATH, arrays x (and y) or x_train/x_test (and y_train/y_test)")
def npz(path: str, test_fraction: TestFraction = 0.1, seed: Seed = 0, scale: bool = True, size: ImageSize | None = None) -> Data:
    """Arrays from a ``.npz`` file: ``x`` (and ``y``), or ``x_train``, ``x_test`` (and
    ``y_train``, ``y_test``).

    Examples must be ``(N, D)`` points, or ``(N, H, W)``, ``(N, C, H, W)`` (or channels-last
    ``(N, H, W, C)`` with C in 1, 3, 4) images; labels one non-negative integer per example.

    Args:
        path: the file (written ``npz:PATH`` as a dataset name).
        test_fraction: share held out as test split when the file has a single ``x``.
        seed: seed of that split.
        scale: divide uint8 arrays by 255 so images lie in [0, 1].
        size: resize images to ``size`` x ``size`` once at load (area when shrinking, bilinear
            when enlarging, :mod:`genzoo.data.resize`); uint8 images return to the 8-bit grid.
    """
    name = f"npz:{path}"
    archive = _load_numpy(path, "npz")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise GenzooError(f"{path} holds a single array, not an npz archive; load it as npy:{path}")
    with archive:
        keys = set(archive.files)

        def get(key: str) -> np.ndarray | None:
            if key not in keys:
                return None
            try:
                return archive[key]
            except ValueError:  # object arrays need pickle, which genzoo never uses
                raise GenzooError(f"{name}: array '{key}' has dtype object; save plain numeric arrays") from None

        if "x" in keys:
            return _from_arrays(name, get("x"), None, get("y"), None, test_fraction, seed, scale, size)
        if {"x_train", "x_test"} <= keys:
            y_train, y_test = get("y_train"), get("y_test")
            if (y_train is None) != (y_test is None):
                raise GenzooError(f"{name}: labels are given for one split only; save both y_train and y_test, or neither")
            return _from_arrays(name, get("x_train"), get("x_test"), y_train, y_test, test_fraction, seed, scale, size)
    raise GenzooError(
        f"{name} holds arrays {sorted(keys)}; save 'x' (and optional 'y') or 'x_train' and 'x_test' "
        "(and optional 'y_train', 'y_test')"
    )


@DATASETS.register("npy", help="npy:PATH, one array of (N, D) points or (N, [C,] H, W) images, unlabelled")
def npy(path: str, test_fraction: TestFraction = 0.1, seed: Seed = 0, scale: bool = True, size: ImageSize | None = None) -> Data:
    """One unlabelled array from a ``.npy`` file, split into train and test.

    Args:
        path: the file (written ``npy:PATH`` as a dataset name).
        test_fraction: share held out as test split.
        seed: seed of that split.
        scale: divide uint8 arrays by 255 so images lie in [0, 1].
        size: resize images to ``size`` x ``size`` once at load (see :func:`npz`).
    """
    name = f"npy:{path}"
    array = _load_numpy(path, "npy")
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise GenzooError(f"{path} is an npz archive, not a single array; load it as npz:{path}")
    return _from_arrays(name, array, None, None, None, test_fraction, seed, scale, size)
