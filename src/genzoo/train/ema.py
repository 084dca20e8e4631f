"""Exponential moving average of a model's weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies ``s <- d_k * s + (1 - d_k) * p`` of every floating parameter.

    The decay warms up, ``d_k = min(decay, (1 + k) / (10 + k))`` at update k (0-based), so a
    short run's average is not dominated by the initial weights (Tarvainen & Valpola 2017's
    ramp, as in TensorFlow's ``ExponentialMovingAverage(num_updates=...)``). ``k`` is the
    trainer's round, which checkpoints already hold, so a resumed average continues exactly.
    The averaged model is ``state_dict()``: the live buffers with parameters replaced by
    their shadows, ready to save as ``ema.safetensors``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model, self.decay = model, decay
        self.names = [n for n, p in model.named_parameters() if p.dtype.is_floating_point]
        params = dict(model.named_parameters())
        self.params = [params[n] for n in self.names]
        self.shadow = [p.detach().clone() for p in self.params]

    def decay_at(self, k: int | None) -> float:
        """The decay of update ``k`` (``None``: the full ``decay``)."""
        return self.decay if k is None else min(self.decay, (1.0 + k) / (10.0 + k))

    @torch.no_grad()
    def update(self, k: int | None = None) -> None:
        """Average in the current weights; ``k`` (the update's index) applies the warm-up."""
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay_at(k))

    def state_dict(self) -> dict[str, Tensor]:
        sd = dict(self.model.state_dict())
        sd.update(zip(self.names, self.shadow))
        return sd

    def load_shadow(self, tensors: dict[str, Tensor]) -> None:
        for s, n in zip(self.shadow, self.names):
            s.copy_(tensors[n])
