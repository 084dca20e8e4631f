"""Renderers: how samples of each data kind become pictures and files, in one registry.

One :class:`Renderer` per data kind (:data:`~genzoo.data.kinds.DATA_KINDS`), registered
under the kind's name, serves every place that shows samples: the trainer's picture callback
(:class:`~genzoo.train.callbacks.Pictures`), ``genzoo sample -o``, and the bench gallery. So
none of them branches on ``info.kind``:

* ``image``: a grid of images (PNG); after training, reconstructions, interpolations,
  traversals, latent scatter, 2-D manifold and per-class samples when the model can, and a
  diffusion model's denoising trajectory and classifier-free guidance grid.
* ``points``: a scatter of samples over the test data (PNG); after training, the model's
  density when it has one, or a diffusion model's trajectory.
* ``sequence``: the decoded strings (``.smi`` / ``.txt``, one per line) and a picture: an
  RDKit drawing of each molecule (SMILES data, with RDKit installed), else a table of strings.

Example:
    >>> from genzoo.viz.render import renderer_for
    >>> from genzoo.data import load_data
    >>> renderer_for(load_data("digits").info).suffixes
    ('.png',)
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..config import atomic_write_bytes
from ..data.base import Data, DataInfo
from ..data.molecules import MissingExtra, is_molecules, rdkit
from ..data.sequence import Vocabulary
from ..errors import GenzooError
from ..models.base import CanEncode, CanTranslate, HasLogProb
from ..registry import Registry
from . import latent
from .diffusion import diffusion_pictures
from .plots import _plt, image_grid, plot_density, plot_points, save_figure, save_image_grid

RENDERERS = Registry("renderer")


class Renderer:
    """How samples of one data kind are shown.

    Attributes:
        n_snapshot: samples drawn for each picture during training.
        suffixes: files :meth:`save` writes (``genzoo sample -o``); ``.npz`` (the raw array) works for every kind.
    """

    n_snapshot = 64
    suffixes: tuple[str, ...] = (".png",)

    def save(self, x: Tensor, path: str | Path, info: DataInfo, reference: Tensor | None = None, title: str = "") -> Path:
        """Write samples ``x`` to ``path``, in the format its suffix names (one of :attr:`suffixes`)."""
        raise NotImplementedError

    def snapshot(self, x: Tensor, folder: Path, tag: str, info: DataInfo, reference: Tensor | None = None) -> list[Path]:
        """Files of one training snapshot (``samples/TAG.*``)."""
        return [self.save(x, folder / f"{tag}.png", info, reference, title=f"samples ({tag})")]

    def panel(self, x: Tensor, info: DataInfo) -> np.ndarray:
        """Samples as one ``(H, W, C)`` uint8 picture, a panel of the bench gallery."""
        raise NotImplementedError

    def progress(self, rows: Sequence[Tensor], path: Path, info: DataInfo) -> Path | None:
        """One row per snapshot of the same few samples, showing training progress (when the kind has a grid)."""
        return None

    def end_pictures(self, model: Any, data: Data, samples: Path, plots: Path, device: torch.device) -> None:
        """The kind's pictures of a trained model beyond samples (reconstructions, densities, ...)."""


def shown(data: Data) -> tuple[Tensor, Tensor | None]:
    """The examples pictures show: the test split, or the training split when there is no test split."""
    return (data.x_test, data.y_test) if len(data.x_test) else (data.x_train, data.y_train)


def renderer_for(info: DataInfo) -> Renderer:
    """The renderer of data described by ``info`` (by its kind)."""
    return RENDERERS.get(info.kind)


def _figure_array(fig: Any) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    _plt().close(fig)
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# --------------------------------------------------------------------------- images


class ImageRenderer(Renderer):
    def save(self, x: Tensor, path: str | Path, info: DataInfo, reference: Tensor | None = None, title: str = "") -> Path:
        return save_image_grid(x.float(), path, nrow=8, value_range=tuple(info.value_range))

    def panel(self, x: Tensor, info: DataInfo) -> np.ndarray:
        return image_grid(x.float(), nrow=int(math.ceil(math.sqrt(len(x)))), value_range=tuple(info.value_range))

    def progress(self, rows: Sequence[Tensor], path: Path, info: DataInfo) -> Path | None:
        return save_image_grid(torch.cat(list(rows)), path, nrow=len(rows[0]), value_range=tuple(info.value_range))

    def end_pictures(self, model: Any, data: Data, samples: Path, plots: Path, device: torch.device) -> None:
        info = data.info
        x_shown, y_shown = shown(data)
        if isinstance(model, CanTranslate) and data.streams and {"a2b", "b2a"} <= set(model.directions):
            from .domains import translation_grid  # a, G(a), F(G(a)), b, F(b), G(F(b))

            n = min(10, *(len(d.x_test) for d in data.streams.values()))
            translation_grid(model, data.streams["a"].x_test[:n], data.streams["b"].x_test[:n], samples / "translations.png",
                             tuple(info.value_range))
        if isinstance(model, CanEncode):
            x = x_shown[:32].to(device)
            z = model.encode(x)
            rec = model.decode(z)
            pairs = torch.stack([x, rec.float()], 1).reshape(-1, *x.shape[1:])  # original, reconstruction
            save_image_grid(pairs, samples / "reconstructions.png", nrow=8, value_range=tuple(info.value_range))
            if not isinstance(z, Tensor):  # structured codes (a diffusion autoencoder's): no generic latent pictures
                pass
            elif len(x) >= 16:
                latent.interpolations(model, x[:8], x[8:16], path=samples / "interpolations.png")
            if getattr(model, "latent_dim", 0):
                latent.traversals(model, x[:1], path=samples / "traversals.png")
                latent.latent_scatter(model, x_shown[:2000].to(device), y_shown[:2000] if y_shown is not None else None,
                                      plots / "latents.png")
            if getattr(model, "latent_dim", 0) == 2:
                latent.manifold_grid(model, 20, samples / "manifold.png", device=device)
        if getattr(model, "conditional", False) and info.num_classes:
            latent.class_samples(model, info.num_classes, 8, samples / "per_class.png", device=device)
        diffusion_pictures(model, samples, n=8)


# --------------------------------------------------------------------------- 2-D points


class PointsRenderer(Renderer):
    n_snapshot = 2000

    def save(self, x: Tensor, path: str | Path, info: DataInfo, reference: Tensor | None = None, title: str = "") -> Path:
        return plot_points(x.float(), path, reference, title=title or "samples")

    def panel(self, x: Tensor, info: DataInfo) -> np.ndarray:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(3, 3))
        s = x.detach().float().cpu().numpy()
        ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:orange")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        return _figure_array(fig)

    def end_pictures(self, model: Any, data: Data, samples: Path, plots: Path, device: torch.device) -> None:
        x_shown = shown(data)[0]
        if isinstance(model, HasLogProb) and x_shown.shape[1] == 2:
            lo = x_shown.min(0).values.tolist()
            hi = x_shown.max(0).values.tolist()
            pad = [0.1 * (h - l) for l, h in zip(lo, hi)]
            bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
            plot_density(lambda g: model.log_prob(g.to(device)), bounds, plots / "density.png")
        diffusion_pictures(model, samples, n=self.n_snapshot)


# --------------------------------------------------------------------------- token sequences (SMILES)


def molecule_grid(smiles: Sequence[str], per_row: int = 4, size: int = 220) -> Any:
    """A PIL picture of RDKit drawings of ``smiles``, ``per_row`` per row; an invalid one is a grey cell with its text."""
    Chem = rdkit()
    from PIL import Image, ImageDraw
    from rdkit.Chem import Draw

    cells = []
    for s in smiles:
        m = Chem.MolFromSmiles(s) if s else None
        short = s if len(s) <= 30 else s[:28] + "…"
        if m is not None:
            cells.append(Draw.MolToImage(m, size=(size, size), legend=short).convert("RGB"))
            continue
        cell = Image.new("RGB", (size, size), (235, 235, 235))
        draw = ImageDraw.Draw(cell)
        draw.text((8, size // 2 - 14), "invalid SMILES", fill=(160, 0, 0))
        draw.text((8, size // 2 + 2), short or "(empty)", fill=(60, 60, 60))
        cells.append(cell)
    rows, step = max(1, math.ceil(len(cells) / per_row)), size + 2  # 2 white pixels between cells
    grid = Image.new("RGB", (per_row * step, rows * step), (255, 255, 255))
    for i, cell in enumerate(cells):
        grid.paste(cell, ((i % per_row) * step, (i // per_row) * step))
    return grid


def text_table(strings: Sequence[str], title: str = "") -> Any:
    """A matplotlib figure listing ``strings``, one per line, numbered."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(strings) + 0.6))
    ax.axis("off")
    text = "\n".join(f"{i + 1:3d}  {s}" for i, s in enumerate(strings))
    ax.text(0, 1, text, family="monospace", fontsize=8, va="top", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return fig


class SequenceRenderer(Renderer):
    n_snapshot = 32
    suffixes = (".smi", ".txt", ".png")

    def strings(self, x: Tensor, info: DataInfo) -> list[str]:
        return Vocabulary(info.extras["vocab"]).decode(x.cpu())

    def save(self, x: Tensor, path: str | Path, info: DataInfo, reference: Tensor | None = None, title: str = "") -> Path:
        path = Path(path)
        strings = self.strings(x, info)
        if path.suffix in (".smi", ".txt"):
            atomic_write_bytes(path, ("\n".join(strings) + "\n").encode())
            return path
        if path.suffix != ".png":
            raise GenzooError(f"sequence samples are written as .smi, .txt or .png, not {path.suffix}")
        if is_molecules(info):
            try:
                img = molecule_grid(strings)
                buf = io.BytesIO()
                img.save(buf, format="PNG")
                atomic_write_bytes(path, buf.getvalue())
                return path
            except MissingExtra:
                pass  # no RDKit: a table of the strings instead of drawings
        return save_figure(text_table(strings, title), path)

    def snapshot(self, x: Tensor, folder: Path, tag: str, info: DataInfo, reference: Tensor | None = None) -> list[Path]:
        return [self.save(x, folder / f"{tag}.smi", info), self.save(x, folder / f"{tag}.png", info, title=f"samples ({tag})")]

    def panel(self, x: Tensor, info: DataInfo) -> np.ndarray:
        strings = self.strings(x, info)
        if is_molecules(info):
            try:
                return np.asarray(molecule_grid(strings, per_row=int(math.ceil(math.sqrt(len(strings)))), size=160).convert("RGB"))
            except MissingExtra:
                pass
        return _figure_array(text_table(strings))


RENDERERS.register("image", help="image grid")(ImageRenderer())
RENDERERS.register("points", help="2-D scatter over the test data")(PointsRenderer())
RENDERERS.register("sequence", help="strings (.smi) and RDKit drawings of molecules, or a table")(SequenceRenderer())
