"""What every dataset returns: tensors in memory plus the metadata models and metrics need."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Callable

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..config import Range
from ..errors import GenzooError
from .kinds import kind_of

#: ``size`` option of image datasets: side in pixels of the square images after resizing.
ImageSize = Annotated[int, Range(1, 4096)]


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
    """A dataset: float32 examples of shape ``(N, *info.shape)``, int64 labels.

    Data that fits in memory is all tensors. Data that does not sets ``stream``: a map-style
    ``torch.utils.data.Dataset`` over the whole training split whose items are ``x`` or
    ``(x, label)``; the trainer then streams batches through a ``DataLoader``
    (:class:`StreamingLoader`), and ``x_train``/``y_train`` hold only an in-memory
    *reference sample* of the training split, for what needs training examples at hand
    (an autoencoder's code sampler, Parzen's validation split, AIS base rates).

    Two-domain data (``--data mnist+digits``, :mod:`genzoo.data.pairs`) sets ``streams``: named
    sub-datasets (``{"a": mnist, "b": digits}``) of one shape. Each player of a model names the
    stream it draws from (``Player.stream``) and the trainer keeps one resumable batch order
    per stream; the top-level tensors are then those of the first stream.
    """

    x_train: Tensor
    x_test: Tensor
    info: DataInfo
    y_train: Tensor | None = None
    y_test: Tensor | None = None
    stream: Dataset | None = None
    streams: dict[str, "Data"] | None = None

    @property
    def n_train(self) -> int:
        """Size of the whole training split (streamed or in memory)."""
        return len(self.stream) if self.stream is not None else len(self.x_train)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        kind = kind_of(self.info)  # validation belongs to the data's kind
        for split in ("train", "test"):
            x: Tensor = getattr(self, f"x_{split}")
            y: Tensor | None = getattr(self, f"y_{split}")
            kind.validate(x, self.info, split)
            if y is not None and len(y) != len(x):
                raise GenzooError(f"{self.info.name}: {len(x)} {split} examples but {len(y)} labels")
        if self.stream is not None:
            if len(self.stream) == 0:  # type: ignore[arg-type]
                raise GenzooError(f"{self.info.name}: the streamed training split is empty")
            first = self.stream[0]
            x0 = first[0] if isinstance(first, (tuple, list)) else first
            if not isinstance(x0, Tensor) or tuple(x0.shape) != tuple(self.info.shape):
                got = tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__
                raise GenzooError(f"{self.info.name}: streamed examples must be tensors of shape {tuple(self.info.shape)}, got {got}")
        if len(self.x_train) == 0:
            raise GenzooError(f"{self.info.name}: the training split is empty")
        for key, sub in (self.streams or {}).items():
            if not key.isidentifier() or not isinstance(sub, Data) or sub.streams:
                raise GenzooError(f"{self.info.name}: stream '{key}' must be a plain Data named by an identifier")
            if tuple(sub.info.shape) != tuple(self.info.shape):
                raise GenzooError(
                    f"{self.info.name}: stream '{key}' has shape {tuple(sub.info.shape)}, expected {tuple(self.info.shape)}"
                )


@dataclass
class Batch:
    r"""One training batch, and the one reduction every loss uses over it.

    Attributes:
        x: examples ``(B, *shape)``.
        c: conditions ``(B, ...)`` (int labels, or float properties / images), or ``None``.
        mask: ``(B, N)`` bool (or 0/1 float), true at the real positions (tokens, atoms) of
            padded examples; ``None`` when every position is real.
        weight: ``(B,)`` non-negative per-example weights (importance weights, CbAS's
            sample weights); ``None`` means all ones.
        extra: further named tensors a model may need (e.g. ``{"atom_types": (B, N)}``).

    A loss never calls a bare ``.mean()`` over the batch; it reduces with :meth:`mean`, so
    weights and padding are honoured the same way in every model:

    * per-example values ``l (B,)``:  :math:`\sum_i w_i l_i / \sum_i w_i`
      (the plain mean without weights);
    * per-position values ``l (B, N)``: every real position counts once, weighted by its
      example's weight, :math:`\sum_{i,n} w_i m_{in} l_{in} / \sum_{i,n} w_i m_{in}`
      (a token-level mean; without a mask every position is real). Values at padded
      positions are never read, so NaN or garbage there cannot leak into the loss.

    A per-example log-likelihood of padded data is :meth:`sum_positions` (masked sum over
    positions), which then goes through :meth:`mean` like any other ``(B,)`` value.

    Example:
        >>> b = Batch(torch.zeros(3, 2), weight=torch.tensor([1.0, 1.0, 2.0]))
        >>> float(b.mean(torch.tensor([1.0, 2.0, 3.0])))  # (1 + 2 + 2*3) / 4
        2.25
        >>> b = Batch(torch.zeros(2, 3), mask=torch.tensor([[1, 1, 0], [1, 0, 0]]).bool())
        >>> float(b.mean(torch.tensor([[1.0, 3.0, float("nan")], [5.0, 7.0, 9.0]])))  # (1 + 3 + 5) / 3
        3.0
    """

    x: Tensor
    c: Tensor | None = None
    mask: Tensor | None = None
    weight: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:  # shapes only: no host sync on the training path
        B = self.x.shape[0]
        if self.weight is not None and tuple(self.weight.shape) != (B,):
            raise GenzooError(f"batch weights must have shape ({B},), one per example, got {tuple(self.weight.shape)}")
        if self.mask is not None and (self.mask.dim() != 2 or self.mask.shape[0] != B):
            raise GenzooError(f"a batch mask must have shape ({B}, N) (true at real positions), got {tuple(self.mask.shape)}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def mean(self, values: Tensor) -> Tensor:
        """Weighted (and, for ``(B, N)`` values, mask-aware) mean of ``values``; a 0-dim tensor.

        Args:
            values: ``(B,)`` per-example or ``(B, N)`` per-position values (see the class doc).
        """
        B = self.x.shape[0]
        if values.dim() == 1 and values.shape[0] == B:
            if self.weight is None:
                return values.mean()
            w = self.weight.to(values.dtype)
            return (w * values).sum() / w.sum()
        if values.dim() == 2 and values.shape[0] == B:
            w = self._position_weights(values)  # (B, N) or None
            if w is None:
                return values.mean()
            # where(), not a product: padded positions may hold NaN/inf, which 0 * x would keep
            return torch.where(w > 0, values * w, torch.zeros((), dtype=values.dtype, device=values.device)).sum() / w.sum()
        raise GenzooError(f"batch.mean takes per-example (B,) or per-position (B, N) values for B={B}, got shape {tuple(values.shape)}")

    def sum_positions(self, values: Tensor) -> Tensor:
        """Per-example sum over the real positions of ``values (B, N, ...)`` -> ``(B,)`` (trailing dims summed too)."""
        v = values.flatten(2).sum(2) if values.dim() > 2 else values  # (B, N)
        if self.mask is None:
            return v.sum(1)
        if self.mask.shape != v.shape:
            raise GenzooError(f"values of shape {tuple(values.shape)} do not match the batch mask {tuple(self.mask.shape)}")
        return torch.where(self.mask.bool(), v, torch.zeros((), dtype=v.dtype, device=v.device)).sum(1)

    def _position_weights(self, values: Tensor) -> Tensor | None:
        if self.mask is None and self.weight is None:
            return None
        if self.mask is not None and self.mask.shape != values.shape:
            raise GenzooError(f"per-position values of shape {tuple(values.shape)} do not match the batch mask {tuple(self.mask.shape)}")
        w = torch.ones_like(values) if self.mask is None else self.mask.to(values.dtype)
        return w if self.weight is None else w * self.weight.to(values.dtype)[:, None]


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
        collate: Callable[[Tensor, Tensor | None], Batch] | None = None,
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
        self.collate = collate or Batch  # the data kind's collation (padding, masks)
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
        return self.collate(x, None if self.y is None else self.y.index_select(0, idx))

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


def _collate(items: list[Any]) -> tuple[Tensor, Tensor | None]:
    """Items ``x`` or ``(x, label)`` -> ``(x (B, ...), labels (B,) or None)``; a label may be a
    vector (factor labels ``(F,)`` -> ``(B, F)``)."""
    if isinstance(items[0], (tuple, list)):
        xs, ys = zip(*items)
        return torch.stack(xs), torch.stack([torch.as_tensor(y, dtype=torch.int64) for y in ys])
    return torch.stack(items), None


class StreamingLoader:
    """Endless shuffled batches of a map-style ``Dataset`` through torch's ``DataLoader``.

    For data that does not fit in memory (``Data.stream``). It keeps the contract of
    :class:`InMemoryLoader`: fixed-size batches (the last incomplete one dropped), one seeded
    permutation per epoch, dynamic binarization, and a :meth:`state_dict` from which a resumed
    run continues with exactly the batches an uninterrupted one would see (the epoch's
    permutation is saved and the loader restarts at the saved position). ``num_workers``
    processes decode examples in parallel; batches are pinned when the device is a GPU.

    :meth:`set_shard` makes it one data-parallel process's sampler: it then reads only its
    share of every global batch, and binarizes it with the draws a single process would use.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        seed: int = 0,
        binarize: str | None = None,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        collate: Callable[[Tensor, Tensor | None], Batch] | None = None,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if batch_size < 1:
            raise GenzooError(f"batch size must be at least 1, got {batch_size}")
        if batch_size > n:
            raise GenzooError(f"batch size {batch_size} is larger than the {n} training examples; lower train.batch_size")
        if num_workers < 0:
            raise GenzooError(f"train.num_workers must be 0 or more, got {num_workers}")
        self.dataset, self.n, self.batch_size, self.binarize = dataset, n, batch_size, binarize
        self.device, self.num_workers = torch.device(device), num_workers
        self.collate = collate or Batch
        self.rows, self.sharded = slice(None), False  # the rows of each global batch this process reads
        self.gen = torch.Generator()  # on the host: the DataLoader's indices live there
        self.gen.manual_seed(seed)
        self.batches_per_epoch = n // batch_size
        self.epoch = 0
        self.pos = 0
        self.perm = torch.randperm(n, generator=self.gen)
        self._it: Any = None

    def __iter__(self) -> "StreamingLoader":
        return self

    def set_shard(self, rank: int, world: int) -> None:
        """Read only rows ``rank * b : (rank + 1) * b`` of every batch, ``b = batch_size / world``."""
        b = self.batch_size // world
        self.rows, self.sharded, self._it = slice(rank * b, (rank + 1) * b), world > 1, None

    def _start(self) -> None:
        """A DataLoader over the rest of this epoch's batches, from ``pos`` on."""
        rows = self.perm[: self.batches_per_epoch * self.batch_size].view(self.batches_per_epoch, self.batch_size)
        rows = rows[:, self.rows]
        # its own generator: a DataLoader iterator otherwise draws its workers' base seed from the
        # global RNG, which would shift the model's noise whenever an epoch (or a resume) starts
        seeds = torch.Generator().manual_seed(self.epoch)
        loader = DataLoader(self.dataset, batch_sampler=rows[self.pos :].tolist(), num_workers=self.num_workers,
                            collate_fn=_collate, pin_memory=self.device.type == "cuda", generator=seeds)
        self._it = iter(loader)

    def __next__(self) -> Batch:
        if self.pos >= self.batches_per_epoch:
            self.epoch += 1
            self.pos = 0
            self.perm = torch.randperm(self.n, generator=self.gen)
            self._it = None
        if self._it is None:
            self._start()
        x, y = next(self._it)
        self.pos += 1
        if not torch.is_floating_point(x):
            raise GenzooError(f"streamed examples must be floating point, got {x.dtype}; convert them in the dataset")
        if self.binarize == "dynamic" and self.sharded:  # the whole batch's draws (bernoulli(p) is rand < p), ours
            u = torch.rand((self.batch_size, *x.shape[1:]), generator=self.gen, dtype=x.dtype)[self.rows]
            x = (u < x).to(x.dtype)
        elif self.binarize == "dynamic":
            x = torch.bernoulli(x, generator=self.gen)
        x = x.to(self.device, non_blocking=True)
        return self.collate(x, None if y is None else y.to(self.device, non_blocking=True))

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos, "generator": self.gen.get_state(), "perm": self.perm}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.pos = int(state["pos"])
        self.gen.set_state(state["generator"].cpu())
        self.perm = state["perm"].cpu()
        self._it = None
