"""Resumable training for long benchmarks: a run folder per model, continued where it stopped.

A benchmark that is killed (or shares the machine for hours) loses at most
``checkpoint_every`` rounds: calling :func:`trained` again continues the run from its latest
checkpoint, and a finished run is only loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import genzoo
from genzoo.train.checkpoint import RunDir


def done_steps(out: Path) -> int:
    """Rounds the run in ``out`` has checkpointed (0 when there is none)."""
    if not (out / "config.yaml").is_file():
        return 0
    ckpt = RunDir(out).latest_checkpoint()
    return 0 if ckpt is None else int(RunDir.load_checkpoint(ckpt)[1]["step"])


def trained(out: str | Path, model: str, data: str, steps: int, *, model_options: dict[str, Any] | None = None,
            data_options: dict[str, Any] | None = None, checkpoint_every: int = 500, **train: Any) -> Any:
    """The model of run folder ``out`` trained to ``steps`` rounds: trained, continued or just loaded.

    Args:
        out: the run folder.
        model, data: registered names (the data is reloaded by name when a run is continued).
        steps: rounds to reach.
        model_options, data_options: the factories' options.
        checkpoint_every: rounds between checkpoints.
        train: further :class:`~genzoo.train.TrainConfig` fields (batch_size, lr, threads, ...).
    """
    out = Path(out)
    at = done_steps(out)
    if at == 0:
        if out.exists() and any(out.iterdir()):
            raise SystemExit(f"{out} holds a run without a checkpoint; remove it to start again")
        genzoo.train(model, data, out, model_options=model_options or {}, data_options=data_options or {}, steps=steps,
                     checkpoint_every=checkpoint_every, progress=False, **{"logger": "none", **train})
    elif at < steps:
        genzoo.resume(out, steps=steps, progress=False)
    return genzoo.load(out)
