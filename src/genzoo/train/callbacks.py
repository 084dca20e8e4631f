"""What the trainer does besides updating weights: pictures of samples and losses.

Callbacks only use model *capabilities* (``CanSample``, ``CanEncode``, ``HasLogProb``), so they
work for every family. They run under a forked RNG so that writing pictures never changes
the random stream of training (a resumed run matches an uninterrupted one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..models.base import CanEncode, CanSample, HasLogProb
from ..viz import latent
from ..viz.plots import plot_curves, plot_density, plot_points, save_image_grid

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
    """Sample grids (scatter plots for 2-D data), reconstructions, the 2-D density and loss curves."""

    MAX_ROWS = 16  # the progress strip keeps between 16 and 32 snapshots, spread over the run

    def __init__(self, n: int = 64, seed: int = 1234, strip: int = 8) -> None:
        self.n, self.seed, self.strip = n, seed, strip
        self._strip: list[torch.Tensor] = []  # the first ``strip`` samples of every snapshot (image data)

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

        def draw() -> None:
            c = None
            if info.num_classes and getattr(model, "conditional", False):
                c = torch.arange(self.n, device=trainer.device) % info.num_classes
            if info.kind == "points":
                x = model.sample(2000, None if c is None else torch.arange(2000, device=trainer.device) % info.num_classes)
                plot_points(x.float(), run.samples / f"{tag}.png", trainer.data.x_test, title=f"samples ({tag})")
            elif info.kind == "image":
                x = model.sample(self.n, c)
                save_image_grid(x.float(), run.samples / f"{tag}.png", nrow=8, value_range=tuple(info.value_range))
                # the seed is reset before every snapshot, so these come from the same latent
                # vectors each time: stacked, they show one set of samples evolving in training
                self._strip.append(x[: self.strip].float().cpu())
                if len(self._strip) > 2 * self.MAX_ROWS:  # a long run: keep every other snapshot, bounded memory
                    self._strip = self._strip[::2]

        self._forked(trainer, draw)

    def on_end(self, trainer: "Trainer") -> None:
        model, run, data = trainer.model, trainer.run, trainer.data
        if run is None:
            return
        self.on_sample(trainer, "final")
        if len(self._strip) >= 2:  # rows: snapshots in order, the last one the final model
            save_image_grid(torch.cat(self._strip), run.samples / "progress.png", nrow=self.strip,
                            value_range=tuple(data.info.value_range))

        def extra() -> None:
            info = data.info
            if info.kind == "image" and isinstance(model, CanEncode):
                x = data.x_test[:32].to(trainer.device)
                rec = model.decode(model.encode(x))
                pairs = torch.stack([x, rec.float()], 1).reshape(-1, *x.shape[1:])  # original, reconstruction
                save_image_grid(pairs, run.samples / "reconstructions.png", nrow=8, value_range=tuple(info.value_range))
                if len(x) >= 16:
                    latent.interpolations(model, x[:8], x[8:16], path=run.samples / "interpolations.png")
                if getattr(model, "latent_dim", 0):
                    latent.traversals(model, x[:1], path=run.samples / "traversals.png")
                    latent.latent_scatter(model, data.x_test[:2000].to(trainer.device), data.y_test[:2000] if data.y_test is not None else None, run.plots / "latents.png")
                if getattr(model, "latent_dim", 0) == 2:
                    latent.manifold_grid(model, 20, run.samples / "manifold.png", device=trainer.device)
            if info.kind == "image" and getattr(model, "conditional", False) and info.num_classes:
                latent.class_samples(model, info.num_classes, 8, run.samples / "per_class.png", device=trainer.device)
            if info.kind == "points" and isinstance(model, HasLogProb):
                lo = data.x_test.min(0).values.tolist()
                hi = data.x_test.max(0).values.tolist()
                pad = [0.1 * (h - l) for l, h in zip(lo, hi)]
                bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
                plot_density(lambda g: model.log_prob(g.to(trainer.device)), bounds, run.plots / "density.png")

        self._forked(trainer, extra)
        rows = run.metrics()
        if rows:
            plot_curves(rows, run.plots / "loss.png", title=f"{type(model).__name__} losses")
