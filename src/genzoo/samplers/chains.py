"""Markov-chain and post-hoc samplers of the non-diffusion families: Gibbs chains and fitted code samplers."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from ..config import Range
from ..errors import GenzooError
from ..models.base import CanGibbs, HasCodeSampler
from ..registry import SAMPLERS
from .base import Sampler


@SAMPLERS.register("gibbs", help="block Gibbs chains from random states (RBM); steps = sweeps, 0: the model's default")
class Gibbs(Sampler):
    """``steps`` sweeps of block Gibbs sampling from random states, then the model's read-out of the last state.

    Args:
        steps: Gibbs sweeps (0: the model's ``sample_steps``).
    """

    name = "gibbs"

    def __init__(self, steps: Annotated[int, Range(0, 10**9)] = 0) -> None:
        self.steps = self.checked(steps=steps)["steps"]

    def options(self) -> dict[str, Any]:
        return {"type": self.name, "steps": self.steps}

    def check(self, model: Any) -> None:
        if not isinstance(model, CanGibbs):
            raise GenzooError(f"sampler 'gibbs' needs a model sampled by Gibbs chains (an RBM); {type(model).__name__} is not")

    @torch.no_grad()
    def __call__(self, model: Any, n: int, c: Tensor | None = None) -> Tensor:
        self.check(model)
        steps = self.steps or int(getattr(model, "sample_steps", 1000))
        return model.chain_readout(model.gibbs(model.chain_start(n), steps - 1))


@SAMPLERS.register("codes", help="an autoencoder's post-hoc code distribution (Gaussian or mixture fitted after training), decoded")
class Codes(Sampler):
    """Draw codes from the distribution the autoencoder fitted to its training codes, and decode them."""

    name = "codes"

    def check(self, model: Any) -> None:
        if not isinstance(model, HasCodeSampler):
            raise GenzooError(f"sampler 'codes' needs an autoencoder with a fitted code distribution; {type(model).__name__} has none")

    @torch.no_grad()
    def __call__(self, model: Any, n: int, c: Tensor | None = None) -> Tensor:
        self.check(model)
        return model.decode(model.sample_latent(n, c), c)
