"""The model contract: objectives over injected networks, trained as a list of players.

A *player* owns a parameter group, a loss and (through the trainer) an optimizer; the
trainer updates the players in order, each ``repeat`` times per round, calling its
``after_step`` hook after every update. A VAE has one player; a WGAN has a critic repeated
five times and a generator; ADDA has *stages*, each a list of players run for its own
number of steps. Capabilities are small runtime-checkable protocols, so code asks
``isinstance(model, CanSample)`` instead of comparing model names.

On two-domain data (``Data.streams``, e.g. ``mnist+digits``) each player names the stream it
draws from (``Player.stream``); in each round every stream yields one batch, shared by all
the players of that round that name it. A stage may prepare its players when it begins
(``Stage.on_start``: ADDA copies the source encoder into the target encoder) and carry its
own learning-rate schedule; the trainer records which stage has begun in every checkpoint,
so a resumed run continues inside the same stage without running its hook again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..errors import GenzooError

from ..data.base import Batch, Data, DataInfo
from ..registry import SAMPLERS


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
        stream: on two-domain data, the stream(s) the player draws from: one name (its loss
            gets that stream's :class:`Batch`) or a tuple of names (its loss gets a dict
            ``{name: Batch}``). Within a round a stream's batch is drawn once and shared by
            every player naming it; the repeats of a ``repeat > 1`` player draw afresh.
            ``None`` (single-dataset models): a fresh batch of the one dataset per update.
    """

    name: str
    params: list[nn.Parameter]
    loss: Callable[[Any], dict[str, Tensor]]
    repeat: int = 1
    after_step: Callable[[], None] | None = None
    optim: dict[str, Any] = field(default_factory=dict)
    stream: str | tuple[str, ...] | None = None

    @property
    def streams(self) -> tuple[str, ...]:
        """The names in ``stream`` as a tuple (empty for single-dataset players)."""
        return () if self.stream is None else (self.stream,) if isinstance(self.stream, str) else tuple(self.stream)


@dataclass
class Stage:
    """Players trained together for ``steps`` rounds (``None``: the rest of the budget).

    Attributes:
        players: updated in order, every round of the stage.
        steps: rounds of this stage; ``None`` for the last stage takes the rest of the budget.
        name: shown in logs and docs (``source``, ``adapt``).
        on_start: ``hook(model)`` run once when the stage begins (not again when a run is
            resumed inside it), e.g. to initialise one network from another.
        schedule: ``factor(step_in_stage, stage_rounds)`` multiplying every player's learning
            rate in this stage (CycleGAN's constant-then-linear decay). It applies while
            ``train.schedule`` is ``constant`` with no warm-up; otherwise the run's schedule
            is applied over the stage's own rounds.
    """

    players: list[Player]
    steps: int | None = None
    name: str = "main"
    on_start: Callable[["GenerativeModel"], None] | None = None
    schedule: Callable[[int, int], float] | None = None


class GenerativeModel(nn.Module):
    """Base class of every genzoo model: an ``nn.Module`` that knows its data and its players.

    Subclasses implement :meth:`loss` (single-player models) or override :meth:`players`.
    State that must survive save/load (fitted code statistics, BEGAN's k_t) is kept in
    buffers, so ``state_dict`` carries it into ``model.safetensors``.
    """

    info: DataInfo
    #: EMA decay the trainer uses when ``train.ema`` is unset (``None``: no EMA). Models whose
    #: samples depend on averaged weights (diffusion) ask for one; ``train.ema=0`` switches it off.
    ema_decay: float | None = None
    #: name of the registered sampler :meth:`sample` uses when given none (models with several).
    default_sampler: str | None = None

    def players(self) -> list[Player]:
        return [Player("model", [p for p in self.parameters() if p.requires_grad], self.loss)]

    def stages(self) -> list[Stage]:
        return [Stage(self.players())]

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} defines no loss")

    def on_fit_start(self, data: Data) -> None:
        """Called before training starts or resumes (e.g. to pick the labelled examples of a
        semi-supervised model from the data); state it sets belongs in buffers."""

    def on_fit_end(self, data: Data) -> None:
        """Called once after training (e.g. to fit a post-hoc latent sampler)."""

    def sampler(self, sampler: Any = None) -> Any:
        """The sampler object for ``sampler``: an instance, a registered name, or ``None`` (the default).

        Raises:
            GenzooError: an unknown name, or a sampler that cannot drive this model.
        """
        if sampler is None:
            sampler = self.default_sampler
            if sampler is None:
                raise GenzooError(f"{type(self).__name__} has no registered sampler; call model.sample(n) instead")
        if isinstance(sampler, str):
            sampler = SAMPLERS.get(sampler)()
        sampler.check(self)
        return sampler

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")


@runtime_checkable
class CanSample(Protocol):
    """``sample(n, c=None)``; models with several ways to sample also take ``sampler=`` (see :mod:`genzoo.samplers`)."""

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


@runtime_checkable
class CanTranslate(Protocol):
    """Maps examples between domains: ``translate(x, "a2b")``; ``directions`` lists the valid ones."""

    directions: tuple[str, ...]

    def translate(self, x: Tensor, direction: str, c: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class HasTemperature(Protocol):
    """Samples tokens from a softmax whose temperature can be set (sequence models).

    ``genzoo sample --temperature`` and the ``moses`` metric's ``temperature`` option set it.
    """

    sample_temperature: float


@runtime_checkable
class CanClassify(Protocol):
    """A model that reads a category from an example (the semi-supervised AAE's q(y|x), the
    disentangled WAE's label classifier); ``classes_are_labels`` says whether category k *is*
    the data's label k (trained with labels) or an unsupervised cluster to be mapped onto labels."""

    classes_are_labels: bool

    def classify(self, x: Tensor) -> Tensor: ...


class Denoised(NamedTuple):
    """What a diffusion model predicts for ``x_t``: the clean data, the noise, and log σ_t² of p(x_{t-1} | x_t)."""

    x0: Tensor  # (B, *shape)
    eps: Tensor  # (B, *shape)
    log_var: Tensor  # broadcasts against (B, *shape)


@runtime_checkable
class CanDenoise(Protocol):
    """A diffusion model: a noise schedule and, at any timestep, a prediction of x_0 and ε.

    ``denoise(x_t, t, c, clip=True)`` returns :class:`Denoised`; with ``clip`` x̂_0 is clipped to
    the data range and ε̂ recomputed from it (what samplers use); ``clip=False`` gives the raw
    prediction (bounds, inversion, guidance). ``clip_x0`` applies the same clipping to any x̂_0.
    Samplers work in the model's space and return ``to_data(x)``; ``draw_condition(n)`` is the
    condition of a draw the caller did not condition (random labels, a latent model's codes, or ``None``).
    """

    schedule: Any
    conditional: bool

    def denoise(self, x: Tensor, t: Tensor, c: Tensor | None = None, clip: bool = True) -> Denoised: ...

    def clip_x0(self, x0: Tensor) -> Tensor: ...

    def to_data(self, x: Tensor) -> Tensor: ...

    def draw_condition(self, n: int) -> Tensor | None: ...


@runtime_checkable
class CanClassifyNoisy(CanClassify, Protocol):
    """A :class:`CanClassify` classifier that also reads noisy inputs: ``logits(x_t, t) -> (B, K)``
    of model-space x_t at diffusion timesteps ``t`` under its noise ``schedule`` (classifier guidance)."""

    schedule: Any

    def logits(self, x: Tensor, t: Tensor) -> Tensor: ...


@runtime_checkable
class CanGibbs(Protocol):
    """A model sampled by a Markov chain: a random start, ``steps`` transitions, a read-out of the last state."""

    def chain_start(self, n: int) -> Tensor: ...

    def gibbs(self, v: Tensor, steps: int) -> Tensor: ...

    def chain_readout(self, v: Tensor) -> Tensor: ...


@runtime_checkable
class HasCodeSampler(Protocol):
    """An autoencoder sampled post hoc: codes from a distribution fitted after training, then decoded."""

    def sample_latent(self, n: int, c: Tensor | None = None) -> Tensor: ...

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor: ...
