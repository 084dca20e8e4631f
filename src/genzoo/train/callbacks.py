"""What the trainer does besides updating weights: pictures of samples and losses.

Callbacks only use model *capabilities* (``CanSample``, ``CanEncode``, ``HasLogProb``), so they
work for every family. They run under a forked RNG so that writing pictures never changes
the random stream of training (a resumed run matches an uninterrupted one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..models.base import CanSample
from ..viz.plots import plot_curves
from ..viz.render import renderer_for, shown

if TYPE_CHECKING:
    from .trainer import Trainer


class Callback:
    """Hooks the trainer calls; override the ones you need (all default to doing nothing).

    Example:
        >>> class Rows(Callback):              # collect every metric row in memory
        ...     def __init__(self): self.rows = []
        ...     def on_log(self, trainer, row): self.rows.append(row)
    """

    def on_log(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        """After each metric row (every ``log_every`` rounds and at the end): the row as written."""

    def on_sample(self, trainer: "Trainer", tag: str) -> None:
        """Every ``sample_every`` rounds, ``tag`` = ``step_NNNNNNN``."""

    def on_end(self, trainer: "Trainer") -> None:
        """After the last round (not after an interruption), weights saved."""

    def on_close(self, trainer: "Trainer") -> None:
        """When ``fit`` returns or raises: release files, writers, connections."""


class Rows(Callback):
    """Keeps every metric row in ``rows`` (the public way to watch a run's losses in Python)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_log(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        self.rows.append(row)


class Pictures(Callback):
    """Samples drawn by the data kind's renderer (grids, scatter plots, molecules), its other pictures, and loss curves."""

    MAX_ROWS = 16  # the progress strip keeps between 16 and 32 snapshots, spread over the run

    def __init__(self, n: int | None = None, seed: int = 1234, strip: int = 8) -> None:
        # n: samples per snapshot (default: the renderer's, e.g. 64 images, 2000 points, 32 molecules)
        self.n, self.seed, self.strip = n, seed, strip
        self._strip: list[torch.Tensor] = []  # the first ``strip`` samples of every snapshot

    def _forked(self, trainer: "Trainer", fn) -> None:  # type: ignore[no-untyped-def]
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            was = trainer.model.training
            trainer.model.eval()
            try:
                with torch.no_grad():
                    fn()
            finally:
                trainer.model.train(was)

    def on_sample(self, trainer: "Trainer", tag: str) -> None:
        model, run, info = trainer.model, trainer.run, trainer.data.info
        if run is None or not isinstance(model, CanSample):
            return
        render = renderer_for(info)  # the data kind's pictures: image grid, 2-D scatter, molecules...

        def draw() -> None:
            n = self.n or render.n_snapshot
            c = None
            if info.num_classes and getattr(model, "conditional", False):
                c = torch.arange(n, device=trainer.device) % info.num_classes
            x = model.sample(n, c)
            render.snapshot(x, run.samples, tag, info, reference=shown(trainer.data)[0])
            # the seed is reset before every snapshot, so these come from the same latent
            # vectors each time: stacked, they show one set of samples evolving in training
            self._strip.append(x[: self.strip].cpu())
            if len(self._strip) > 2 * self.MAX_ROWS:  # a long run: keep every other snapshot, bounded memory
                self._strip = self._strip[::2]

        self._forked(trainer, draw)

    def on_end(self, trainer: "Trainer") -> None:
        model, run, data = trainer.model, trainer.run, trainer.data
        if run is None:
            return
        self.on_sample(trainer, "final")
        render = renderer_for(data.info)
        if len(self._strip) >= 2:  # rows: snapshots in order, the last one the final model
            render.progress(self._strip, run.samples / "progress.png", data.info)
        self._forked(trainer, lambda: render.end_pictures(model, data, run.samples, run.plots, trainer.device))
        rows = run.metrics()
        if rows:
            plot_curves(rows, run.plots / "loss.png", title=f"{type(model).__name__} losses")
