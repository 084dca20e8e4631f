"""Two-domain data: ``A+B`` pairs any two registered datasets into one two-stream :class:`Data`.

Unpaired translation (CycleGAN) and domain adaptation (ADDA, DANN) train on two datasets at
once. ``load_data("mnist+digits", size=28)`` loads both sides, brings them to one shape and
returns a :class:`Data` whose ``streams`` are ``{"a": mnist, "b": digits}``; the top-level
tensors are those of ``a``. For the adaptation models ``a`` is the labelled *source* and
``b`` the *target* domain, so ``digits+mnist`` adapts digits -> MNIST.

The two sides must share their classes (a digit dataset pairs with a digit dataset, not with
Fashion-MNIST), their kind and value range, and after the optional conversions their shape:

- ``size``: passed to both datasets' own ``size=`` option (every image dataset resizes);
- ``channels``: 1 -> 3 repeats the grey channel, 3 -> 1 takes the ITU-R 601 luma;
- ``a`` / ``b``: further options of one side only, e.g. ``--set data.a.n_train=2000``.

Example:
    >>> data = load_pair("mnist+digits", size=28)        # doctest: +SKIP
    >>> sorted(data.streams), data.info.shape            # doctest: +SKIP
    (['a', 'b'], (1, 28, 28))
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from torch import Tensor

from ..config import Range
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo

#: Names of the two streams of an ``A+B`` pair (``a``: source, ``b``: target for adaptation).
STREAMS = ("a", "b")
_LUMA = (0.299, 0.587, 0.114)


def split_pair(name: str) -> tuple[str, str] | None:
    """``"mnist+digits"`` -> ``("mnist", "digits")``; a name without ``+`` -> ``None``."""
    if "+" not in name:
        return None
    sides = [s.strip() for s in name.split("+")]
    if len(sides) != 2 or not all(sides):
        raise GenzooError(f"dataset '{name}' must pair exactly two datasets as A+B, e.g. mnist+digits")
    return sides[0], sides[1]


def class_names(info: DataInfo) -> list[str]:
    """The class names of ``info`` (``extras["classes"]``), else ``"0" .. "K-1"`` (digits and the like)."""
    names = info.extras.get("classes")
    return [str(c) for c in names] if names else [str(i) for i in range(info.num_classes)]


def _channels(x: Tensor, c: int) -> Tensor:
    """Images ``(N, C, H, W)`` with ``c`` channels: 1 -> 3 repeats, 3 -> 1 is the luma."""
    if x.shape[1] == c:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, c, -1, -1).contiguous()
    if x.shape[1] == 3 and c == 1:
        w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    raise GenzooError(f"cannot convert {x.shape[1]}-channel images to {c} channels; only 1 <-> 3 is supported")


def _with_channels(d: Data, c: int) -> Data:
    if d.info.kind != "image" or len(d.info.shape) != 3:
        raise GenzooError(f"data.channels applies to images, but {d.info.name} has kind {d.info.kind!r}")
    if d.stream is not None:
        raise GenzooError(f"{d.info.name} is streamed from disk; data.channels needs in-memory images")
    info = DataInfo(**{**d.info.to_dict(), "shape": (c, *d.info.shape[1:]), "value_range": tuple(d.info.value_range)})
    return Data(_channels(d.x_train, c), _channels(d.x_test, c), info, d.y_train, d.y_test)


def load_pair(
    name: str,
    root: str | None = None,
    size: Annotated[int, Range(1, 4096)] | None = None,
    channels: Literal[1, 3] | None = None,
    a: dict[str, Any] | None = None,
    b: dict[str, Any] | None = None,
) -> Data:
    """Load the two datasets of ``name = "A+B"`` as one two-stream :class:`Data`.

    Args:
        name: two registered dataset names joined by ``+`` (``mnist+digits``).
        root: data folder, passed to both sides.
        size: image side both datasets are resized to by their own ``size=`` option.
        channels: convert both sides to this many channels (1 or 3).
        a: options of the first dataset only; ``b``: of the second.

    Returns:
        Data with ``streams = {"a": A, "b": B}``, top-level tensors those of ``A``, and
        ``info.extras["streams"]`` holding each side's metadata (so a model rebuilt from a
        run's config knows its domains without loading them).

    Raises:
        GenzooError: an unknown side, different class sets, kinds, value ranges, channel
            counts or image sizes (each naming the option that fixes it, if one does).
    """
    from . import PATH_PREFIXES, load_data  # the package entry point; imported here to avoid a cycle

    sides = split_pair(name)
    if sides is None:
        raise GenzooError(f"dataset '{name}' is not a pair; write two datasets as A+B, e.g. mnist+digits")
    for side in sides:  # both names checked before either is loaded
        if side.partition(":")[0].strip().lower() not in PATH_PREFIXES:
            DATASETS.get(side)  # an unknown side: "unknown dataset 'X' (did you mean ...); choose one of: ..."
    loaded = []
    for side, opts in zip(sides, (a, b)):
        options = dict(opts or {})
        if size is not None:
            options.setdefault("size", size)
        loaded.append(load_data(side, root=root, **options))
    return pair(*loaded, channels=channels)


def pair(da: Data, db: Data, channels: int | None = None) -> Data:
    """Two loaded datasets as one two-stream :class:`Data` (streams ``a`` and ``b``), checked as
    :func:`load_pair` describes; ``channels`` converts both sides first."""
    if channels is not None:
        if channels not in (1, 3):
            raise GenzooError(f"data.channels must be 1 or 3, got {channels}")
        da, db = _with_channels(da, channels), _with_channels(db, channels)
    ia, ib = da.info, db.info
    if ia.kind != ib.kind:
        raise GenzooError(f"{ia.name} holds {ia.kind} data and {ib.name} {ib.kind} data; pair two datasets of one kind")
    if tuple(ia.value_range) != tuple(ib.value_range):
        raise GenzooError(f"{ia.name} ranges over {tuple(ia.value_range)} and {ib.name} over {tuple(ib.value_range)}; pair datasets on one scale")
    if ia.num_classes and ib.num_classes and class_names(ia) != class_names(ib):
        ca, cb = class_names(ia), class_names(ib)
        raise GenzooError(
            f"{ia.name} and {ib.name} have different class sets ({', '.join(ca[:3])}... vs {', '.join(cb[:3])}...); "
            "pair two datasets with the same classes"
        )
    if tuple(ia.shape) != tuple(ib.shape):
        if ia.kind == "image" and len(ia.shape) == 3 and len(ib.shape) == 3 and ia.shape[0] != ib.shape[0]:
            raise GenzooError(
                f"{ia.name} has {ia.shape[0]}-channel and {ib.name} {ib.shape[0]}-channel images; "
                "bring them to one with --set data.channels=1 (or 3)"
            )
        if ia.kind == "image" and len(ia.shape) == 3:
            raise GenzooError(
                f"{ia.name} images are {ia.shape[1]}x{ia.shape[2]} and {ib.name} {ib.shape[1]}x{ib.shape[2]}; "
                f"bring them to one size with --set data.size={max(ia.shape[1], ib.shape[1])}"
            )
        raise GenzooError(f"{ia.name} examples have shape {tuple(ia.shape)} and {ib.name} {tuple(ib.shape)}; pair data of one shape")
    info = DataInfo(
        name=f"{ia.name}+{ib.name}",
        shape=tuple(ia.shape),
        kind=ia.kind,
        value_range=tuple(ia.value_range),
        num_classes=ia.num_classes or ib.num_classes,
        levels=ia.levels if ia.levels == ib.levels else 0,
        extras={"streams": {"a": ia.to_dict(), "b": ib.to_dict()}},
    )
    return Data(da.x_train, da.x_test, info, da.y_train, da.y_test, streams={"a": da, "b": db})


def stream_info(info: DataInfo, name: str) -> DataInfo:
    """The metadata of stream ``name`` of a pair's ``info`` (``info.extras["streams"]``)."""
    streams = info.extras.get("streams") or {}
    if name not in streams:
        raise GenzooError(f"{info.name} has no stream '{name}'; it is not two-domain data such as mnist+digits")
    return DataInfo.from_dict(streams[name])
