"""The metric contract: a registered function of an evaluation context, returning a result.

Every metric is registered in :data:`genzoo.METRICS` with ``@metric(name, needs=..., help=...)``
and has the signature ``fn(ctx: EvalContext, **options) -> dict``. The returned mapping holds
``value`` (the headline number, a float), optionally ``stderr``, ``higher_is_better`` and any
further figures, and *always* the protocol numbers that make the value comparable (sample
counts, ``k``, split, feature network...) under ``protocol``. A model lacking a capability
the metric needs raises :class:`NotApplicable`; callers such as ``genzoo eval`` and
``genzoo bench`` turn it into ``"n/a"`` rather than an error.

``needs`` names capabilities checked before the metric runs:

- ``"sample"``: ``model.sample(n, c=None)``            (:class:`~genzoo.models.CanSample`)
- ``"encode"``: ``model.encode`` / ``model.decode``    (:class:`~genzoo.models.CanEncode`)
- ``"log_prob"``: exact ``model.log_prob(x)``          (:class:`~genzoo.models.HasLogProb`)
- ``"nll_bound"``: ``model.nll_bound(x, k)``            (:class:`~genzoo.models.HasNLLBound`)
- ``"energy"``: ``model.free_energy(x)`` and ``model.log_partition_ais(...)`` (:class:`HasEnergy`)
- ``"classify"``: ``model.classify(x)``                (:class:`~genzoo.models.CanClassify`)
- ``"labels"``: the data has labels (``data.info.num_classes > 0``)
- ``"factors"``: the data has ground-truth factors (``info.extras["factors"]``, labels ``(N, F)``);
  a metric that needs them, *named* on data without them, is an error (exit 2), not n/a
- ``"image"`` / ``"points"``: the data's kind
- ``"translate"``: ``model.translate(x, direction)``    (:class:`~genzoo.models.CanTranslate`)
- ``"streams"``: two-domain data (``data.streams``, ``--data A+B``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import Tensor

from ..data.base import Data
from ..errors import GenzooError
from ..models.base import CanClassify, CanEncode, CanSample, CanTranslate, HasLogProb, HasNLLBound
from ..registry import METRICS


class NotApplicable(GenzooError):
    """The metric needs a capability the model (or data) does not have; reported as n/a."""


@runtime_checkable
class HasEnergy(Protocol):
    """An unnormalised density exp(-F(x)) / Z whose log Z can be estimated by AIS."""

    def free_energy(self, x: Tensor) -> Tensor: ...

    def log_partition_ais(self, x: Tensor | None = None, n_runs: int = 100, betas: Tensor | None = None,
                          progress: Any = None) -> tuple[Tensor, Tensor]: ...


_CAPS: dict[str, Callable[[Any, Data], bool]] = {
    "sample": lambda m, d: isinstance(m, CanSample),
    "encode": lambda m, d: isinstance(m, CanEncode),
    "log_prob": lambda m, d: isinstance(m, HasLogProb),
    "nll_bound": lambda m, d: isinstance(m, HasNLLBound),
    "energy": lambda m, d: isinstance(m, HasEnergy),
    "classify": lambda m, d: isinstance(m, CanClassify),
    "labels": lambda m, d: d.info.num_classes > 0,
    "factors": lambda m, d: "factors" in d.info.extras and d.y_test is not None,
    "image": lambda m, d: d.info.kind == "image",
    "points": lambda m, d: d.info.kind == "points",
    "translate": lambda m, d: isinstance(m, CanTranslate),
    "streams": lambda m, d: bool(d.streams),
}


@dataclass
class EvalContext:
    """What a metric gets: the model in eval mode, its data, and the shared settings.

    Args:
        model: the trained model (``eval()`` mode, on ``device``).
        data: the data it was trained on (test split = ``data.x_test``).
        n: the default number of samples / test examples a metric uses (``-n`` on the CLI).
        device: where to compute.
        seed: seeds every random draw of the evaluation.
        progress: show progress bars on long computations.
        batch_size: chunk size for sampling and feature extraction.
        cache: per-evaluation memo shared between metrics (e.g. model samples, features), so
            FID, KID and precision/recall on the same run draw and embed samples once.
        sampler: a :class:`~genzoo.samplers.Sampler` that draws every model sample
            (``sampler(model, n)``); ``None``: ``model.sample(n)``.
    """

    model: Any
    data: Data
    n: int = 10_000
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    progress: bool = False
    batch_size: int = 500
    cache: dict[str, Any] = field(default_factory=dict)
    sampler: Any = None

    def sample(self, n: int) -> Tensor:
        """``n`` model samples with the evaluation's sampler (or the model's own sampling)."""
        return self.sampler(self.model, n) if self.sampler is not None else self.model.sample(n)


def metric(name: str, *, needs: tuple[str, ...] = (), help: str = "", higher_is_better: bool = False,
           kinds: tuple[str, ...] = ("image", "points")) -> Callable:
    """Register ``fn(ctx, **options) -> dict`` as metric ``name`` with its required capabilities.

    ``kinds`` are the data kinds (:data:`~genzoo.data.kinds.DATA_KINDS`) the metric is defined
    for; on other data it is n/a.
    """
    bad = [c for c in needs if c not in _CAPS]
    if bad:
        raise ValueError(f"unknown capability {bad[0]!r}; known: {', '.join(_CAPS)}")

    def deco(fn: Callable) -> Callable:
        return METRICS.register(name, needs=tuple(needs), help=help, higher_is_better=higher_is_better, kinds=tuple(kinds))(fn)

    return deco


#: What the data must have for a metric the user *named*: asking for one of these on data without
#: it is a user error (one sentence, exit 2); in an every-metric evaluation it stays n/a.
REQUIRED_OF_DATA = {"factors": "ground-truth factors (e.g. dsprites)"}


def check_named(names: list[str], data: Data) -> None:
    """Raise if a named metric needs something of :data:`REQUIRED_OF_DATA` that ``data`` lacks."""
    for name in names:
        for cap in METRICS.meta(name).get("needs", ()):
            if cap in REQUIRED_OF_DATA and not _CAPS[cap](None, data):
                raise GenzooError(f"metric '{name}' needs a dataset with {REQUIRED_OF_DATA[cap]}, but {data.info.name} "
                                  f"has none; leave {name} out of --metrics")


def missing_capability(name: str, model: Any, data: Data) -> str | None:
    """The first capability metric ``name`` needs that ``model``/``data`` lack, else ``None``."""
    kinds = METRICS.meta(name).get("kinds", ("image", "points"))
    if data.info.kind not in kinds:
        return f"{' or '.join(kinds)} data"
    for cap in METRICS.meta(name).get("needs", ()):
        if not _CAPS[cap](model, data):
            return cap
    return None


def run_metric(name: str, ctx: EvalContext, **options: Any) -> dict[str, Any]:
    """Run metric ``name`` on ``ctx``; raises :class:`NotApplicable` when a capability is missing."""
    fn = METRICS.get(name)
    cap = missing_capability(name, ctx.model, ctx.data)
    if cap is not None:
        raise NotApplicable(f"metric '{METRICS.canonical(name)}' needs '{cap}', which {type(ctx.model).__name__} on {ctx.data.info.name} lacks")
    out = dict(fn(ctx, **options))
    out.setdefault("higher_is_better", METRICS.meta(name).get("higher_is_better", False))
    return out
