"""Name -> component registries, filled by decorators.

Models, networks, datasets, metrics and samplers register themselves where they are defined::

    @MODELS.register("vae")
    def vae(info: DataInfo, latent_dim: int = 16, ...) -> VAE: ...

A registered callable's keyword parameters *are* its configuration: :mod:`genzoo.config`
reads them (names, annotations, defaults) to validate YAML and ``--set`` overrides, so there
is no parallel hierarchy of config classes. Lookup treats ``-`` and ``_`` alike, so
``fashion-mnist`` and ``fashion_mnist`` name the same dataset.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator, TypeVar

from .errors import GenzooError

T = TypeVar("T")


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


class Registry:
    """A named collection of factories of one kind (``model``, ``dataset``, ...).

    ``context`` names the arguments that whoever builds an entry supplies itself (a network's
    ``in_shape``/``out_shape``, a model's ``info``): they are not user options, so
    :mod:`genzoo.config` leaves them out when it validates a nested component's options.
    """

    def __init__(self, kind: str, context: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.context = tuple(context)
        self._items: dict[str, tuple[str, Callable[..., Any], dict[str, Any]]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; ``meta`` (e.g. ``help=``) is kept."""

        def deco(obj: T) -> T:
            key = _key(name)
            if key in self._items and self._items[key][1] is not obj:
                raise RuntimeError(f"{self.kind} '{name}' is registered twice")
            self._items[key] = (name, obj, meta)  # type: ignore[assignment]
            return obj

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``; an unknown name lists the valid ones."""
        item = self._items.get(_key(name))
        if item is None:
            close = difflib.get_close_matches(_key(name), list(self._items), n=1)
            hint = f" (did you mean '{self._items[close[0]][0]}'?)" if close else ""
            raise GenzooError(
                f"unknown {self.kind} '{name}'{hint}; choose one of: {', '.join(self.names())}"
            )
        return item[1]

    def canonical(self, name: str) -> str:
        self.get(name)
        return self._items[_key(name)][0]

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._items[_key(name)][2]

    def names(self) -> list[str]:
        return sorted(v[0] for v in self._items.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


MODELS = Registry("model", context=("info",))
#: networks map ``(B, *in_shape) -> (B, *out_shape)``; every entry takes these two first. Time-conditioned
#: ones (``time=True`` in their metadata: denoisers, noisy classifiers) map ``(x, t, c)`` and may take
#: the condition's size, ``num_classes`` (int labels) or ``cond_dim`` (float vectors), from their model
NETS = Registry("network", context=("in_shape", "out_shape", "num_classes", "cond_dim"))
DATASETS = Registry("dataset")
METRICS = Registry("metric")
SAMPLERS = Registry("sampler")  # filled by genzoo.samplers; models look samplers up here, never import them
