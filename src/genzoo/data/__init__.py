"""Datasets: named factories that return a :class:`Data` (tensors in memory plus metadata).

Every dataset is a plain function registered in :data:`DATASETS`; its keyword parameters are
its options. :func:`load_data` is the one entry point used by the trainer and the CLI::

    data = load_data("mnist", root="../shared/data")
    data = load_data("8gaussians", n_train=10_000)
    data = load_data("folder:photos/", size=64)      # user images, one class per sub-folder
    data = load_data("npz:points.npz", test_fraction=0.2)
    data = load_data("mnist+digits", size=28)       # two streams, a and b (genzoo.data.pairs)
    data = load_data("smiles:mols.smi")                # user molecules, one SMILES per line

Example:
    >>> from genzoo.data import load_data
    >>> data = load_data("digits")
    >>> data.info.shape, data.info.num_classes
    ((1, 8, 8), 10)
"""

from __future__ import annotations

import inspect

from ..config import resolve
from ..errors import GenzooError
from ..registry import DATASETS
from . import digits, dsprites, files, mnist, molecules, stacked, toy  # noqa: F401  (imported so their datasets register)
from .base import Batch, Data, DataInfo, InMemoryLoader
from .kinds import DATA_KINDS, kind_of
from .toy import toy_log_density

__all__ = [
    "DATASETS",
    "DATA_KINDS",
    "kind_of",
    "Batch",
    "Data",
    "DataInfo",
    "InMemoryLoader",
    "load_data",
    "toy_log_density",
]

#: Name prefixes that carry a path: ``folder:PATH`` calls the ``folder`` factory with ``path=PATH``.
PATH_PREFIXES = ("folder", "npz", "npy", "smiles")


def load_data(name: str, root: str | None = None, **options: object) -> Data:
    """Load the dataset registered as ``name`` with the given options.

    Args:
        name: a registered name (``genzoo datasets`` lists them; ``-`` and ``_`` are alike),
            ``folder:PATH`` / ``npz:PATH`` / ``npy:PATH`` / ``smiles:PATH`` for the user's own files, or ``A+B``
            for two-domain data (:func:`~genzoo.data.pairs.load_pair`: options ``size``,
            ``channels``, ``a``, ``b``).
        root: folder to look in first for downloadable datasets (``--data-root``); passed only
            to factories that take it, so it is harmless for the others.
        **options: the factory's keyword options, e.g. ``n_train=1000`` or ``size=32``.

    Returns:
        The dataset in memory.

    Raises:
        GenzooError: unknown name, unknown option (the valid ones are listed), or any problem
            the factory finds with the data.
    """
    if "+" in name:
        from .pairs import load_pair

        return load_pair(name, root, **resolve(load_pair, dict(options), "data", skip=2))
    prefix, sep, path = name.partition(":")
    if sep and prefix.strip().lower() in PATH_PREFIXES:
        if not path:
            raise GenzooError(f"dataset '{name}' names no path; write it as {prefix}:PATH")
        factory = DATASETS.get(prefix.strip().lower())
        options = {**options, "path": path}
    else:
        factory = DATASETS.get(name)

    return factory(**data_options(factory, name, options, root))


def data_options(factory: object, name: str, options: dict[str, object], root: str | None = None) -> dict[str, object]:
    """The factory's keyword arguments: ``options`` typed and range-checked (:func:`genzoo.config.resolve`).

    ``root`` and (for path datasets) ``path`` are set by :func:`load_data` itself, not user options.
    """
    params = inspect.signature(factory).parameters  # type: ignore[arg-type]
    valid = [p for p in params if p not in ("root", "path")]
    unknown = sorted(set(map(str, options)) - set(params))
    if unknown:
        raise GenzooError(
            f"unknown option data.{unknown[0]} for dataset '{name}'; valid options are: "
            f"{', '.join(valid) or '(none)'}"
        )
    given = dict(options)
    if "root" in params:
        if root is not None and not isinstance(root, str):
            raise GenzooError(f"the data root must be a folder path, got {root!r}")
        given["root"] = root
    return resolve(factory, given, "data")  # type: ignore[arg-type]
