"""Feature networks for sample-quality metrics: a classifier genzoo trains itself, cached per dataset.

FID, KID and precision/recall compare two sets of images through the penultimate activations
of a classifier. Papers use ImageNet Inception-v3; genzoo cannot download weights, and
Inception features are poor for 28x28 digits anyway, so it trains a small CNN
(:class:`FeatureNet`) on the dataset's own labels (DESIGN §8) and caches it per dataset:

    <cache>/features/<name>.safetensors   weights (loading never unpickles)
    <cache>/features/<name>.json          test accuracy, epochs, seed, shape, classes, versions

where ``<cache>`` is ``cache_dir``, else ``$GENZOO_CACHE``, else ``~/.cache/genzoo``. Numbers
computed with these features compare only between runs that used the *same* network, so
every metric records :func:`feature_id` (dataset, weight hash, test accuracy) in its protocol.

Feature spaces by data kind:

- labelled images: :class:`FeatureNet` penultimate activations, 128 dimensions;
- ``stacked-mnist``: the MNIST network applied to each of the 3 channels, concatenated
  (:class:`ChannelwiseFeatureNet`, 384 dimensions, logits ``(N, 3, 10)``);
- points (2-D toy, tabular): the raw coordinates themselves (:func:`raw_features`);
- optionally Inception-v3 pool features via torch-fidelity (:func:`inception_features`).

Example:
    >>> import torch
    >>> net = FeatureNet(in_channels=1, num_classes=10)
    >>> embed(net, torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 128])
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import atomic_write_bytes
from ..data.base import Data
from ..errors import GenzooError

FEATURE_DIM = 128
#: Default training epochs of :func:`train_feature_net` (measured to reach >= 99 % on MNIST).
DEFAULT_EPOCHS = 3.0
#: Datasets whose feature network is another dataset's, applied per channel.
CHANNELWISE = {"stacked-mnist": "mnist"}


def cache_key(info: Any) -> str:
    """The name a dataset's feature network is cached under: ``info.name``, with ``@SIZE`` when
    the images were resized at load (``size=``), so 28x28 and 32x32 MNIST keep separate networks.
    For channel-wise datasets it is the base dataset's key (``stacked-mnist`` -> ``mnist``)."""
    name = CHANNELWISE.get(info.name, info.name)
    size = info.extras.get("size") if isinstance(info.extras, dict) else None
    return f"{name}@{size}" if size else name


# -- progress -----------------------------------------------------------------------------------


def track(it: Iterable[Any], total: int, description: str, enabled: bool) -> Iterator[Any]:
    """``it`` with a rich progress bar on stderr when ``enabled`` and stderr is a terminal."""
    if enabled:
        from rich.console import Console
        from rich.progress import track as rich_track

        console = Console(stderr=True)
        if console.is_terminal:
            yield from rich_track(it, total=total, description=description, console=console)
            return
    yield from it


# -- networks -----------------------------------------------------------------------------------


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class FeatureNet(nn.Module):
    """Small CNN classifier whose penultimate layer is the feature space of FID/KID/PR.

    Three conv blocks (3x3 conv, batch norm, ReLU; max-pool after the first two), an
    adaptive average pool to 3x3 (so any image size works), then a 128-unit ReLU layer (the
    features) and a linear layer to the logits. About 7.5 M multiply-adds per 28x28 image, so
    it trains on MNIST in minutes on a CPU.

    Args:
        in_channels: image channels C of inputs ``(N, C, H, W)`` on the data's [0, 1] scale.
        num_classes: number of logits.
        width: channels of the first block (doubled in each later block).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        self.body = nn.Sequential(
            _block(in_channels, width, stride=2),  # strided: full-resolution layers dominate CPU time
            _block(width, 2 * width),
            nn.MaxPool2d(2, ceil_mode=True),
            _block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
        )
        self.penultimate = nn.Sequential(nn.Linear(4 * width * 9, FEATURE_DIM), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(N, 128)`` of images ``x (N, C, H, W)``."""
        return self.penultimate(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(N, num_classes)``."""
        return self.head(self.dropout(self.features(x)))


class ChannelwiseFeatureNet(nn.Module):
    """A single-channel :class:`FeatureNet` applied to each channel of ``(N, K, H, W)`` images.

    Used for stacked MNIST, whose 3 channels are independent MNIST digits: logits are
    ``(N, K, num_classes)`` (one digit per channel) and features the ``K`` per-channel
    feature vectors concatenated, ``(N, K * 128)``.
    """

    def __init__(self, base: FeatureNet, channels: int = 3) -> None:
        super().__init__()
        if base.in_channels != 1:
            raise GenzooError(f"a channel-wise feature net needs a 1-channel base net, got {base.in_channels} channels")
        self.base, self.channels = base, channels

    def _split(self, x: Tensor) -> Tensor:
        n, k = x.shape[:2]
        return x.reshape(n * k, 1, *x.shape[2:])  # (N*K, 1, H, W), channel index fastest

    def features(self, x: Tensor) -> Tensor:
        return self.base.features(self._split(x)).reshape(x.shape[0], -1)  # (N, K*128)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(self._split(x)).reshape(x.shape[0], x.shape[1], -1)  # (N, K, classes)


def weights_sha256(net: nn.Module) -> str:
    """sha256 of the network's state (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def feature_id(net: nn.Module, name: str = "", accuracy: float | None = None) -> str:
    """Identifier recorded in metric protocols: ``name:sha256[:12]:acc=0.9921``.

    ``name``/``accuracy`` default to what :func:`feature_net` attached to ``net``.
    """
    name = name or getattr(net, "genzoo_name", "") or "unnamed"
    acc = accuracy if accuracy is not None else getattr(net, "genzoo_accuracy", None)
    return f"{name}:{weights_sha256(net)[:12]}" + (f":acc={acc:.4f}" if acc is not None else "")


# -- training -----------------------------------------------------------------------------------


def _shift(x: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero fill): light augmentation."""
    n, _, h, w = x.shape
    p = max_shift
    xp = F.pad(x, (p, p, p, p))  # (N, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, x.shape[1], h, w + 2 * p)
    xp = xp.gather(2, rows)  # (N, C, H, W+2p)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, x.shape[1], h, w)
    return xp.gather(3, cols)  # (N, C, H, W)


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` whose arg-max logit equals ``y``."""
    was = net.training
    net.eval()
    dev = next(net.parameters()).device
    hits = sum(int((net(x[i : i + batch_size].to(dev)).argmax(-1).cpu() == y[i : i + batch_size]).sum()) for i in range(0, len(x), batch_size))
    net.train(was)
    return hits / max(len(x), 1)


def train_feature_net(
    data: Data,
    *,
    epochs: float = DEFAULT_EPOCHS,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
    device: torch.device | str | None = None,
    augment: int = 0,
    width: int = 32,
) -> tuple[FeatureNet, float]:
    """Train a :class:`FeatureNet` classifier on ``data``'s labelled training images.

    Adam with a one-cycle learning-rate schedule (warm-up then cosine decay to ~0), which
    reaches > 99 % MNIST test accuracy in 2-3 epochs. Fractional ``epochs`` are allowed.

    Args:
        data: labelled images ``(N, C, H, W)``.
        epochs: passes over the training set.
        batch_size: examples per step.
        lr: peak learning rate.
        seed: seeds the initialisation, the batch order and the augmentation.
        progress: show a progress bar.
        device: where to train (default: CUDA if available, else CPU).
        augment: random translations of up to this many pixels (0: none).
        width: channels of the network's first block.

    Returns:
        The network in eval mode (on CPU) and its accuracy on ``data``'s test split.

    Raises:
        GenzooError: the data is not labelled images.
    """
    info = data.info
    if info.kind != "image" or len(info.shape) != 3:
        raise GenzooError(f"a feature network needs (C, H, W) images, but {info.name} has kind {info.kind!r} and shape {info.shape}")
    if info.num_classes < 2 or data.y_train is None:
        raise GenzooError(f"{info.name} has no class labels to train a feature classifier on; use labelled data or features='inception'")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    bs = min(batch_size, len(x))
    per_epoch = len(x) // bs
    total = max(1, math.ceil(epochs * per_epoch))
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        net = FeatureNet(info.shape[0], info.num_classes, width).to(dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
        net.train()
        perm = torch.randperm(len(x), generator=gen, device=dev)
        for step in track(range(total), total, f"feature net ({info.name})", progress):
            if step and step % per_epoch == 0:
                perm = torch.randperm(len(x), generator=gen, device=dev)
            idx = perm[(step % per_epoch) * bs : (step % per_epoch + 1) * bs]
            xb = x.index_select(0, idx)
            if augment:
                xb = _shift(xb, augment, gen)
            loss = F.cross_entropy(net(xb), y.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net = net.cpu().eval()
    acc = accuracy(net, data.x_test, data.y_test) if data.y_test is not None and len(data.x_test) else float("nan")
    return net, acc


# -- cache --------------------------------------------------------------------------------------


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$GENZOO_CACHE``, else ``~/.cache/genzoo``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("GENZOO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "genzoo"


def _paths(name: str, cache_dir: str | Path | None) -> tuple[Path, Path]:
    base = cache_root(cache_dir) / "features"
    safe = name.replace("/", "_").replace(":", "_")
    return base / f"{safe}.safetensors", base / f"{safe}.json"


def feature_info(name: str, cache_dir: str | Path | None = None) -> dict[str, Any] | None:
    """The cached feature network's JSON record for dataset ``name``, or ``None`` if absent."""
    _, meta = _paths(name, cache_dir)
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError):
        raise GenzooError(f"{meta} is corrupt; rerun `genzoo features train --data {name} --force`") from None


def save_feature_net(net: FeatureNet, name: str, meta: dict[str, Any], cache_dir: str | Path | None = None) -> Path:
    """Write weights then JSON atomically; the JSON (written last) marks the entry complete."""
    from safetensors.torch import save as st_save

    wpath, mpath = _paths(name, cache_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(wpath, st_save(state))
    meta = {**meta, "sha256": weights_sha256(net), "width": net.width}
    atomic_write_bytes(mpath, json.dumps(meta, indent=1).encode())
    return wpath


def load_feature_net(name: str, cache_dir: str | Path | None = None, shape: tuple[int, ...] | None = None,
                     num_classes: int | None = None) -> FeatureNet | None:
    """Load the cached network for ``name`` (``None`` if absent), checking it fits the data."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    wpath, mpath = _paths(name, cache_dir)
    if not mpath.is_file() and not wpath.is_file():
        return None
    fix = f"rerun `genzoo features train --data {name} --force`"
    meta = feature_info(name, cache_dir)
    if meta is None or not wpath.is_file():
        raise GenzooError(f"the cached feature network for {name} in {wpath.parent} is incomplete; {fix}")
    try:
        cshape, ccls = tuple(meta["image_shape"]), int(meta["num_classes"])
        net = FeatureNet(cshape[0], ccls, int(meta.get("width", 32)))
        state = load_file(str(wpath))
        net.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError, TypeError, IndexError):
        raise GenzooError(f"the cached feature network {wpath} is corrupt; {fix}") from None
    if (shape is not None and cshape != tuple(shape)) or (num_classes is not None and ccls != num_classes):
        raise GenzooError(
            f"the cached feature network for {name} expects shape {cshape} and {ccls} classes, but the data has "
            f"{tuple(shape) if shape else '?'} and {num_classes}; {fix}"
        )
    if "sha256" in meta and meta["sha256"] != weights_sha256(net):
        raise GenzooError(f"the cached feature network {wpath} does not match its record {mpath.name}; {fix}")
    net.genzoo_name, net.genzoo_accuracy = name, meta.get("test_accuracy")  # type: ignore[assignment]
    return net.eval()


def feature_net(
    data: Data,
    *,
    train: bool = True,
    cache_dir: str | Path | None = None,
    force: bool = False,
    progress: bool = False,
    **train_options: Any,
) -> nn.Module:
    """The cached feature network of ``data`` (trained and cached first if missing and ``train``).

    For ``stacked-mnist`` this is the MNIST network wrapped in :class:`ChannelwiseFeatureNet`
    (MNIST is loaded from ``$GENZOO_DATA`` or the cache to train it if needed).

    Args:
        data: the dataset (its ``info.name`` keys the cache).
        train: train and cache the network when missing; if ``False``, missing is an error.
        cache_dir: cache root (default ``$GENZOO_CACHE`` or ``~/.cache/genzoo``).
        force: retrain and overwrite even if cached.
        progress: progress bar while training.
        **train_options: passed to :func:`train_feature_net` (``epochs``, ``seed``...).

    Returns:
        The network in eval mode, with ``genzoo_name`` and ``genzoo_accuracy`` attributes.

    Raises:
        GenzooError: missing with ``train=False``, or a corrupt / mismatched cache entry.
    """
    name, key = data.info.name, cache_key(data.info)
    size = data.info.extras.get("size")
    if name in CHANNELWISE:
        base_name = key
        base_data = (lambda: _load_base(CHANNELWISE[name], size)) if size else None
        base = _cached_or_trained(base_name, base_data, (1, *data.info.shape[1:]), 10, train, cache_dir, force, progress, train_options)
        wrapped = ChannelwiseFeatureNet(base, data.info.shape[0]).eval()
        wrapped.genzoo_name, wrapped.genzoo_accuracy = f"{base_name}x{data.info.shape[0]}", base.genzoo_accuracy  # type: ignore[assignment]
        return wrapped
    return _cached_or_trained(key, data, data.info.shape, data.info.num_classes, train, cache_dir, force, progress, train_options)


def _load_base(name: str, size: int | None) -> Data:
    from ..data import load_data

    return load_data(name, **({"size": size} if size else {}))


#: CPU seconds per training image per epoch at 28x28 (MNIST: 155 CPU-s for 3 epochs of 60 000, torch 2.13).
CPU_SECONDS_PER_IMAGE = 0.86e-3


def _say_training(name: str, data: Data, epochs: float, device: Any, cache_dir: str | Path | None) -> None:
    """One line on stderr, terminal or not: what is being trained, about how long, and how to do it ahead."""
    from .._console import note

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n, shape = len(data.x_train), data.info.shape
    cpu_s = epochs * n * (math.prod(shape) / 784) * CPU_SECONDS_PER_IMAGE
    threads = torch.get_num_threads()
    how_long = ("under a minute on this GPU" if dev.type == "cuda" else
                f"about {cpu_s / 60:.0f} CPU-minute{'s' if round(cpu_s / 60) != 1 else ''}, "
                f"{cpu_s / threads / 60:.1f} min on {threads} free core{'s' if threads > 1 else ''}")
    note(f"no feature network is cached for {name}: training one now for FID/KID/precision/recall ({epochs:g} epochs on "
         f"{n:,} images, {how_long}); it is cached in {cache_root(cache_dir) / 'features'} and reused. "
         f"To do this ahead of an evaluation: genzoo features train --data {name}")


def _cached_or_trained(name: str, data: Data | Callable[[], Data] | None, shape: tuple[int, ...], num_classes: int, train: bool,
                       cache_dir: str | Path | None, force: bool, progress: bool, train_options: dict[str, Any]) -> FeatureNet:
    if not force:
        net = load_feature_net(name, cache_dir, shape, num_classes)
        if net is not None:
            return net
    if not train:
        raise GenzooError(f"no feature network is cached for {name}; run `genzoo features train --data {name}`")
    if data is None:
        data = _load_base(name, None)
    elif callable(data):
        data = data()
    _say_training(name, data, train_options.get("epochs", DEFAULT_EPOCHS), train_options.get("device"), cache_dir)
    t0, c0 = time.perf_counter(), time.process_time()
    net, acc = train_feature_net(data, progress=progress, **train_options)
    meta = {
        "dataset": name,
        "test_accuracy": acc,
        "epochs": train_options.get("epochs", DEFAULT_EPOCHS),
        "seed": train_options.get("seed", 0),
        "image_shape": list(data.info.shape),
        "num_classes": data.info.num_classes,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "train_cpu_seconds": round(time.process_time() - c0, 1),  # all threads; wall time varies with load
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    save_feature_net(net, name, meta, cache_dir)
    net.genzoo_name, net.genzoo_accuracy = name, acc  # type: ignore[assignment]
    return net


# -- embedding ----------------------------------------------------------------------------------


@torch.no_grad()
def embed(net: nn.Module, x: Tensor, *, batch_size: int = 500, progress: bool = False) -> Tensor:
    """Features ``(N, D)`` of ``x`` (``D = 128`` for a :class:`FeatureNet`), in eval mode, no grad.

    Batches are moved to the network's device; the result is float32 on the CPU.
    """
    was = net.training
    net.eval()
    dev = next(net.parameters()).device
    starts = range(0, len(x), batch_size)
    out = [net.features(x[i : i + batch_size].to(dev)).float().cpu() for i in track(starts, len(starts), "features", progress)]
    net.train(was)
    return torch.cat(out) if out else torch.empty(0, FEATURE_DIM)


def raw_features(x: Tensor) -> Tensor:
    """Feature space of non-image ("points") data: the flattened raw coordinates ``(N, D)``."""
    return x.flatten(1).float().cpu()


def inception_features(x: Tensor, *, weights: str | Path | None = None, batch_size: int = 100) -> Tensor:
    """Inception-v3 2048-d pool features (the FID papers' space) of images ``x (N, C, H, W)`` in [0, 1].

    Uses torch-fidelity's TF-compatible Inception-v3 with weights the user already has
    (``weights`` or ``$GENZOO_INCEPTION_WEIGHTS``); nothing is downloaded. Grayscale images
    are repeated to 3 channels; torch-fidelity resizes to 299x299 itself.

    Raises:
        GenzooError: torch-fidelity is not installed or no weights file is given.
    """
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise GenzooError('Inception features need the optional extra torch-fidelity; install it with pip install "genzoo[inception]" (or use the default classifier features)') from None
    path = weights or os.environ.get("GENZOO_INCEPTION_WEIGHTS")
    if not path or not Path(path).is_file():
        raise GenzooError("Inception features need local weights (pt_inception-2015-12-05 .pth); set GENZOO_INCEPTION_WEIGHTS to the file, genzoo downloads nothing")
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            xb = xb.expand(-1, 3, -1, -1) if xb.shape[1] == 1 else xb
            out.append(net((xb.clamp(0, 1) * 255).round().to(torch.uint8))[0].float().cpu())
    return torch.cat(out)  # (N, 2048)
