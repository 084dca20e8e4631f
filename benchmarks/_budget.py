"""Training budget of the likelihood benchmarks: rounds or minutes (sections are written by ``_results.py``)."""

from __future__ import annotations

import time
from typing import Any

import torch

from genzoo.train import TrainConfig, Trainer


def parse_budget(budget: str) -> tuple[int, float | None]:
    """``"5000"`` -> 5000 rounds; ``"30m"`` -> up to 30 minutes (rounds capped at 10**9)."""
    b = budget.strip().lower()
    if b.endswith("m"):
        return 10**9, 60.0 * float(b[:-1])
    return int(float(b)), None


def fit(model: torch.nn.Module, data: Any, budget: str, **train: Any) -> tuple[Any, float, int]:
    """Train ``model`` for the budget; returns ``(model, seconds, rounds done)``.

    A minutes budget is the trainer's ``max_minutes``: the run ends after the round that
    crosses it, as if that were the last one (``on_fit_end`` still runs). ``callbacks`` (trainer
    callbacks) and ``sample_every`` pass through, e.g. to record a test curve during training.
    """
    steps, seconds = parse_budget(budget)
    callbacks = train.pop("callbacks", [])
    cfg = TrainConfig(steps=steps, max_minutes=None if seconds is None else seconds / 60.0, progress=False,
                      log_every=train.pop("log_every", 10**9), **train)
    t = Trainer(model, data, cfg, run=None, callbacks=callbacks)
    t0 = time.perf_counter()
    t.fit()
    return model.eval(), time.perf_counter() - t0, t.step
