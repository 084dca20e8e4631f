"""Training budget of the likelihood benchmarks: rounds or minutes (sections are written by ``_results.py``)."""

from __future__ import annotations

import threading
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

    A minutes budget stops the trainer from a timer thread through its Ctrl-C flag, so the
    loop ends cleanly between rounds.
    """
    steps, seconds = parse_budget(budget)
    cfg = TrainConfig(steps=steps, progress=False, log_every=train.pop("log_every", 10**9), **train)
    t = Trainer(model, data, cfg, run=None, callbacks=[])
    timer = None
    if seconds is not None:
        timer = threading.Timer(seconds, lambda: setattr(t, "_stop", True))
        timer.daemon = True
        timer.start()
    t0 = time.perf_counter()
    t.fit()
    if timer is not None:
        timer.cancel()
    return model.eval(), time.perf_counter() - t0, t.step
