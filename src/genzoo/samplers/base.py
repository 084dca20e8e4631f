"""The sampler contract: a configured object that draws samples from a trained model.

A sampler is registered with ``@SAMPLERS.register(name)`` on a class whose keyword
constructor arguments are its options (``steps``, ``eta``, ``scale``...), validated like every
other genzoo option. ``check(model)`` raises one :class:`~genzoo.errors.GenzooError` sentence
when the sampler cannot drive ``model`` (so the CLI fails before anything is drawn or
written); ``sampler(model, n, c)`` returns ``n`` samples in data space.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..config import resolve
from ..errors import GenzooError
from ..registry import SAMPLERS


class Sampler:
    """Base class of registered samplers."""

    #: registry name, set on every subclass
    name: str = ""
    #: options that may name a run folder (a guidance classifier); :func:`genzoo.api.make_sampler` loads them
    runs: tuple[str, ...] = ()

    def checked(self, **options: Any) -> dict[str, Any]:
        """``options`` coerced and range-checked against this class's annotations (the same check as ``--set sampler.*``).

        Constructors call it, so a sampler built in Python refuses what the command line refuses.
        """
        return resolve(type(self), options, "sampler")

    def check(self, model: Any) -> None:
        """Raise :class:`GenzooError` when this sampler cannot drive ``model``."""

    def __call__(self, model: Any, n: int, c: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The sampler's settings (recorded beside every figure it produced)."""
        return {"type": self.name}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options().items() if k != "type")
        return f"{self.name}({opts})"


def sampler_options(name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``options`` of sampler ``name`` validated and coerced (unknown names and options are errors)."""
    return resolve(SAMPLERS.get(name), dict(options or {}), "sampler")


def make_sampler(name: str | Sampler | None, options: dict[str, Any] | None = None, model: Any = None) -> Sampler | None:
    """A configured sampler from its registered name and options; checked against ``model`` when given.

    ``name=None`` with no options returns ``None`` (the model's own default); options without a
    name are an error naming the fix.
    """
    if isinstance(name, Sampler):
        sampler: Sampler | None = name
    elif name is None:
        if options:
            raise GenzooError(f"sampler options {', '.join(sorted(options))} were given without a sampler; add --sampler NAME")
        sampler = None
    else:
        sampler = SAMPLERS.get(name)(**sampler_options(name, options))
    if sampler is not None and model is not None:
        sampler.check(model)
    return sampler
