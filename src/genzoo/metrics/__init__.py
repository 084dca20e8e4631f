"""Evaluation metrics, one module per kind; importing this package registers every metric.

A metric is a function ``fn(ctx: EvalContext, **options) -> dict`` registered with
:func:`~genzoo.metrics.base.metric` (see :mod:`genzoo.metrics.base` for the contract). A new
module in this folder is imported here automatically.
"""

import importlib
import pkgutil

from .base import EvalContext, HasEnergy, NotApplicable, metric, missing_capability, run_metric

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base" and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["EvalContext", "HasEnergy", "NotApplicable", "metric", "missing_capability", "run_metric"]
