"""Exponential moving average of a model's weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies ``s <- decay * s + (1 - decay) * p`` of every floating parameter.

    The averaged model is ``state_dict()``: the live buffers with parameters replaced by
    their shadows, ready to save as ``ema.safetensors``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model, self.decay = model, decay
        self.names = [n for n, p in model.named_parameters() if p.dtype.is_floating_point]
        params = dict(model.named_parameters())
        self.params = [params[n] for n in self.names]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay)

    def state_dict(self) -> dict[str, Tensor]:
        sd = dict(self.model.state_dict())
        sd.update(zip(self.names, self.shadow))
        return sd

    def load_shadow(self, tensors: dict[str, Tensor]) -> None:
        for s, n in zip(self.shadow, self.names):
            s.copy_(tensors[n])
