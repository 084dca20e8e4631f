"""What every dataset returns: tensors in memory plus the metadata models and metrics need."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import GenzooError


@dataclass(frozen=True)
class DataInfo:
    """Metadata of a dataset, saved in every run's config so a model rebuilds without the data.

    Attributes:
        name: registry name the data was loaded by (``mnist``, ``folder:/path``...).
        shape: shape of one example, ``(C, H, W)`` for images, ``(D,)`` for points.
        kind: ``"image"``, ``"points"`` (2-D toy and tabular) or ``"sequence"``.
        value_range: ``(low, high)`` of the stored values; images are scaled to ``(0, 1)``.
        num_classes: number of label classes, 0 when unlabelled.
        binarize: ``"dynamic"`` when training batches are Bernoulli draws of the intensities
            (binarized MNIST); ``None`` otherwise.
        levels: number of discrete levels of the original data (256 for 8-bit images,
            17 for scikit-learn digits), used by dequantization and bits/dim; 0 if continuous.
        extras: dataset-specific structure, e.g. ``{"centers": [[x, y], ...], "std": 0.02}``
            for Gaussian mixtures, ``{"classes": [...]}`` for folders.
    """

    name: str
    shape: tuple[int, ...]
    kind: str = "image"
    value_range: tuple[float, float] = (0.0, 1.0)
    num_classes: int = 0
    binarize: str | None = None
    levels: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["value_range"] = list(self.value_range)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataInfo":
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        d["value_range"] = tuple(d.get("value_range", (0.0, 1.0)))
        return cls(**d)


@dataclass
class Data:
    """A dataset held in memory: float32 examples of shape ``(N, *info.shape)``, int64 labels."""

    x_train: Tensor
    x_test: Tensor
    info: DataInfo
    y_train: Tensor | None = None
    y_test: Tensor | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x: Tensor = getattr(self, f"x_{split}")
            y: Tensor | None = getattr(self, f"y_{split}")
            if not torch.is_floating_point(x):
                raise GenzooError(f"{self.info.name}: {split} examples must be floating point, got {x.dtype}")
            if tuple(x.shape[1:]) != tuple(self.info.shape):
                raise GenzooError(
                    f"{self.info.name}: {split} examples have shape {tuple(x.shape[1:])}, "
                    f"expected {tuple(self.info.shape)}"
                )
            if x.numel() and not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):  # the sum is a cheap first check
                raise GenzooError(f"{self.info.name}: {split} examples contain NaN or infinite values; clean the data first")
            if y is not None and len(y) != len(x):
                raise GenzooError(f"{self.info.name}: {len(x)} {split} examples but {len(y)} labels")
        if len(self.x_train) == 0:
            raise GenzooError(f"{self.info.name}: the training split is empty")


@dataclass
class Batch:
    """One training batch: examples ``x`` of shape ``(B, *shape)`` and optional labels ``c``."""

    x: Tensor
    c: Tensor | None = None


class InMemoryLoader:
    """Endless shuffled batches sliced from one tensor that lives on the training device.

    Each epoch's permutation is drawn on-device from a dedicated generator; batches are index
    slices of it (the last incomplete batch is dropped so shapes stay fixed). With
    ``binarize="dynamic"`` every batch is a fresh Bernoulli draw of the intensities. The
    whole iteration state (generator state, epoch, position) round-trips through
    :meth:`state_dict`, so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor | None,
        batch_size: int,
        *,
        seed: int = 0,
        binarize: str | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        device = torch.device(device)
        if batch_size < 1:
            raise GenzooError(f"batch size must be at least 1, got {batch_size}")
        if batch_size > len(x):
            raise GenzooError(
                f"batch size {batch_size} is larger than the {len(x)} training examples; lower train.batch_size"
            )
        self.x = x.to(device, non_blocking=True)
        self.y = None if y is None else y.to(device, non_blocking=True)
        self.batch_size = batch_size
        self.binarize = binarize
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)
        self.batches_per_epoch = len(x) // batch_size
        self.epoch = 0
        self.pos = 0
        self.perm = torch.randperm(len(x), generator=self.gen, device=device)

    def __iter__(self) -> "InMemoryLoader":
        return self

    def __next__(self) -> Batch:
        if self.pos >= self.batches_per_epoch:
            self.epoch += 1
            self.pos = 0
            self.perm = torch.randperm(len(self.x), generator=self.gen, device=self.x.device)
        idx = self.perm[self.pos * self.batch_size : (self.pos + 1) * self.batch_size]
        self.pos += 1
        x = self.x.index_select(0, idx)
        if self.binarize == "dynamic":
            x = torch.bernoulli(x, generator=self.gen)
        return Batch(x, None if self.y is None else self.y.index_select(0, idx))

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "pos": self.pos,
            "generator": self.gen.get_state(),
            "perm": self.perm,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.pos = int(state["pos"])
        self.gen.set_state(state["generator"])
        self.perm = state["perm"].to(self.x.device)
