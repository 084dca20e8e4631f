"""Shared helpers of the likelihood benchmarks: a training budget in rounds or minutes, a section header.

Sections go to ``--results`` (``benchmarks/RESULTS.md`` by default) so a smoke test can be
pointed at a scratch file; the machine line is the one of ``_results.py``.
"""

from __future__ import annotations

import datetime as dt
import shlex
import sys
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


def machine() -> str:
    """The shared machine line of ``_results.py``, plus the torch thread count used."""
    from _results import machine as shared

    return f"{shared()}, {torch.get_num_threads()} torch threads"


def header(name: str, tag: str, argv: list[str] | None, extra: list[str]) -> list[str]:
    cmd = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    return [
        "", f"## {name} {tag}".rstrip(), "",
        f"- command: `{cmd}`", f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine()}", *extra, "",
    ]
