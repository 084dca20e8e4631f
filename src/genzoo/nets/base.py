"""What every network shares: the calling convention of ``NETS``, the ``auto`` choice per data,
how a condition joins a network's input, and the feature protocol.

Every entry of :data:`~genzoo.registry.NETS` is built as ``factory(in_shape, out_shape,
**options)`` and maps ``(B, *in_shape) -> (B, *out_shape)``: an encoder is
``data shape -> (code,)``, a decoder ``(code,) -> data shape``, a critic
``data shape -> (1,)``. A model declares a network parameter with :func:`net` and builds the
resolved :class:`~genzoo.config.Spec` with the shapes it knows, so any registered network
(yours too) fits any role whose shapes it can map::

    @NETS.register("my_net")
    def my_net(in_shape, out_shape, depth: int = 3) -> nn.Module: ...

    genzoo train vae --data mnist --set model.encoder.type=my_net --set model.encoder.depth=5
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Component
from ..registry import NETS


def auto_net(info: Any) -> str:
    """conv for images, mlp otherwise."""
    return "conv" if info.kind == "image" and len(info.shape) == 3 else "mlp"


def net(auto: str | Callable[[Any], str] = auto_net, *, follow: str | None = None, mirror: bool = False, help: str = "",
        time: bool = False, **presets: Mapping[str, Any]) -> Component:
    """Declare a factory parameter as a network of :data:`~genzoo.registry.NETS`.

    Args:
        auto: the type when none is named: a name, or ``info -> name`` (default: conv for
            images, mlp otherwise).
        follow, mirror: copy a sibling network when this one names no type, with the
            mirrored options reversed (an autoencoder's decoder follows its encoder).
        help: one line for ``genzoo models NAME``.
        time: the role takes a time-conditioned network ``(x, t, c)`` (a denoiser; NETS entries
            registered with ``time=True``) instead of a plain one ``x -> y``.
        presets: this role's defaults per type, e.g. ``mlp={"act": "leaky_relu"}``.

    Example:
        >>> from genzoo.config import Spec
        >>> def ae(info, encoder: Spec = net(conv={"width": 32}), decoder: Spec = net(follow="encoder", mirror=True)): ...
    """
    return Component(NETS, auto, dict(presets), follow, mirror, help, needs={"time": time})


# -- conditions -----------------------------------------------------------------------------------


def one_hot(c: Tensor, num_classes: int, like: Tensor) -> Tensor:
    """Labels ``(B,)`` as float one-hot ``(B, K)``; ``(B, K)`` conditions (soft labels, vectors) pass
    through; either way on ``like``'s device and dtype."""
    if c.dim() == 1:
        c = F.one_hot(c.long(), num_classes)
    return c.to(device=like.device, dtype=like.dtype).reshape(c.shape[0], -1)


@runtime_checkable
class FlatInput(Protocol):
    """A network that flattens its input (an MLP): conditions join the flattened vector."""

    flat_input: bool


def takes_flat(net: nn.Module) -> bool:
    """Whether ``net`` reads its input flattened (:class:`FlatInput` with ``flat_input`` true)."""
    return isinstance(net, FlatInput) and bool(net.flat_input)


def append_condition(x: Tensor, y: Tensor, flat: bool) -> Tensor:
    """``x (B, ...)`` with condition vectors ``y (B, K)`` appended along dim 1.

    Flat (for networks on flattened inputs, or vector data): ``(B, D + K)``. Otherwise, for
    images, as K constant feature maps: ``(B, C + K, H, W)``.
    """
    if flat or x.dim() == 2:
        return torch.cat([x.flatten(1), y], 1)
    return torch.cat([x, y.view(*y.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])], 1)


def condition_shape(shape: tuple[int, ...], k: int, flat: bool) -> tuple[int, ...]:
    """The input shape :func:`append_condition` makes from examples of ``shape`` and ``k`` condition values."""
    if k == 0:
        return tuple(shape)
    if flat or len(shape) == 1:
        return (math.prod(shape) + k,)
    return (shape[0] + k, *shape[1:])


# -- features -------------------------------------------------------------------------------------


@runtime_checkable
class HasFeatures(Protocol):
    """A scoring network split into a body and a linear head: ``head(features(x)) == net(x)``.

    InfoGAN's Q head reads the critic's ``features``; ``feature_dim`` is their size.
    """

    feature_dim: int
    head: nn.Module

    def features(self, x: Tensor) -> Tensor: ...
