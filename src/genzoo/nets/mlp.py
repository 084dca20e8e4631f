"""Multi-layer perceptrons for flat vectors, images (flattened) and 2-D points."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

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


def activation(name: str) -> nn.Module:
    """An activation module by name (``relu``, ``leaky_relu`` (slope 0.2), ``elu``, ``gelu``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise GenzooError(f"unknown activation '{name}'; choose one of: {', '.join(_ACTIVATIONS)}") from None


@NETS.register("mlp", help="fully connected network on flattened inputs")
class MLP(nn.Sequential):
    """``in_dim -> hidden... -> out_dim`` with an activation after every hidden layer.

    Inputs of any shape ``(B, ...)`` are flattened; the output is reshaped to
    ``(B, *out_shape)`` when ``out_shape`` is given, else ``(B, out_dim)``.

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

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, in_dim)
        if x.shape[1] != self.in_dim:
            raise GenzooError(f"MLP expects {self.in_dim} input features, got {x.shape[1]}")
        y = super().forward(x)
        return y if self.out_shape is None else y.view(y.shape[0], *self.out_shape)
