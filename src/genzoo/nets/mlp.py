"""Multi-layer perceptrons for flat vectors, images (flattened) and 2-D points."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Sequence

import torch
from torch import Tensor, nn

from ..config import Range, Sizes
from ..errors import GenzooError
from ..registry import NETS

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


Act = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "softplus", "sigmoid"]


def activation(name: str) -> nn.Module:
    """An activation module by name (``relu``, ``leaky_relu`` (slope 0.2), ``elu``, ``gelu``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise GenzooError(f"unknown activation '{name}'; choose one of: {', '.join(_ACTIVATIONS)}") from None


class MLP(nn.Sequential):
    """``in_dim -> hidden... -> out_dim`` with an activation after every hidden layer.

    Inputs of any shape ``(B, ...)`` are flattened (``flat_input``: conditions join the flat
    vector); the output is reshaped to ``(B, *out_shape)`` when ``out_shape`` is given, else
    ``(B, out_dim)``. :meth:`features` is everything but the final linear map, ``head``.

    Example:
        >>> net = MLP(784, 32, hidden=(512,))
        >>> net(torch.zeros(5, 1, 28, 28)).shape
        torch.Size([5, 32])
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (512,),
        act: str = "relu",
        out_shape: Sequence[int] | None = None,
        out_act: str | None = None,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers.append(nn.Linear(d, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, out_dim))
        if out_act is not None:
            layers.append(activation(out_act))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_shape = tuple(out_shape) if out_shape is not None else None
        if self.out_shape is not None and math.prod(self.out_shape) != out_dim:
            raise ValueError(f"out_shape {self.out_shape} does not hold {out_dim} values")

    flat_input = True

    @property
    def head(self) -> nn.Linear:
        """The final linear map (before ``out_act``)."""
        return next(m for m in reversed(self) if isinstance(m, nn.Linear))  # type: ignore[return-value]

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's output ``(B, feature_dim)``."""
        h = self._flat(x)
        for m in self:
            if m is self.head:
                return h
            h = m(h)
        raise AssertionError("unreachable")

    def _flat(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, in_dim)
        if x.shape[1] != self.in_dim:
            raise GenzooError(f"MLP expects {self.in_dim} input features, got {x.shape[1]}")
        return x

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(self._flat(x))
        return y if self.out_shape is None else y.view(y.shape[0], *self.out_shape)


@NETS.register("mlp", flat=True, mirror=("hidden",), help="fully connected layers on the flattened input")
def mlp(in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: Sizes = (512,), act: Act = "relu",
        batch_norm: bool = False, dropout: Annotated[float, Range(0, 1, hi_open=True)] = 0.0) -> MLP:
    """An :class:`MLP` from ``(B, *in_shape)`` to ``(B, *out_shape)``.

    Args:
        hidden: widths of the hidden layers (a decoder following its encoder gets them reversed).
        act: activation after every hidden layer.
        batch_norm: batch norm before each activation.
        dropout: dropout probability after each activation.

    Example:
        >>> mlp((1, 28, 28), (32,), hidden=(64,))(torch.zeros(5, 1, 28, 28)).shape
        torch.Size([5, 32])
    """
    out_shape = tuple(out_shape)
    return MLP(math.prod(in_shape), math.prod(out_shape), hidden, act, out_shape if len(out_shape) > 1 else None,
               batch_norm=batch_norm, dropout=dropout)
