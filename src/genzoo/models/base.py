"""The model contract: objectives over injected networks, trained as a list of players.

A *player* owns a parameter group, a loss and (through the trainer) an optimizer; the
trainer updates the players in order, each ``repeat`` times per round, calling its
``after_step`` hook after every update. A VAE has one player; a WGAN has a critic repeated
five times and a generator; ADDA has *stages*, each a list of players run for its own
number of steps. Capabilities are small runtime-checkable protocols, so code asks
``isinstance(model, CanSample)`` instead of comparing model names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..data.base import Batch, Data, DataInfo


@dataclass
class Player:
    """One party of the training game.

    Attributes:
        name: used in logs (``critic/loss``) and for per-player optimizer settings.
        params: the parameters this player's optimizer updates.
        loss: ``batch -> {"loss": scalar to minimise, other scalars to log...}``.
        repeat: updates per round (``n_critic`` for WGAN critics).
        after_step: called after each update (weight clipping, EMA codebooks, k_t updates).
        optim: the model's suggested optimizer settings for this player (``{"name": "rmsprop",
            "lr": 5e-5}``); the run config can override them.
    """

    name: str
    params: list[nn.Parameter]
    loss: Callable[[Batch], dict[str, Tensor]]
    repeat: int = 1
    after_step: Callable[[], None] | None = None
    optim: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stage:
    """Players trained together for ``steps`` rounds (``None``: the rest of the budget)."""

    players: list[Player]
    steps: int | None = None
    name: str = "main"


class GenerativeModel(nn.Module):
    """Base class of every genzoo model: an ``nn.Module`` that knows its data and its players.

    Subclasses implement :meth:`loss` (single-player models) or override :meth:`players`.
    State that must survive save/load (fitted code statistics, BEGAN's k_t) is kept in
    buffers, so ``state_dict`` carries it into ``model.safetensors``.
    """

    info: DataInfo

    def players(self) -> list[Player]:
        return [Player("model", [p for p in self.parameters() if p.requires_grad], self.loss)]

    def stages(self) -> list[Stage]:
        return [Stage(self.players())]

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} defines no loss")

    def on_fit_end(self, data: Data) -> None:
        """Called once after training (e.g. to fit a post-hoc latent sampler)."""

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")


@runtime_checkable
class CanSample(Protocol):
    def sample(self, n: int, c: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class CanEncode(Protocol):
    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor: ...

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class HasLogProb(Protocol):
    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class HasNLLBound(Protocol):
    def nll_bound(self, x: Tensor, k: int = 1000, c: Tensor | None = None) -> Tensor: ...
