"""Pictures of two-domain models: translation grids with cycles, feature embeddings by domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import GenzooError
from ..models.base import CanTranslate
from .plots import _plt, save_figure, save_image_grid


@torch.no_grad()
def translation_grid(model: CanTranslate, x_a: Tensor, x_b: Tensor, path: str | Path,
                     value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Six rows, one column per example: a, G(a), F(G(a)), then b, F(b), G(F(b)).

    Args:
        model: a translator with directions ``a2b`` and ``b2a``.
        x_a, x_b: ``(n, C, H, W)`` test images of each domain (same ``n``).
        path: where the PNG goes.

    Returns:
        The grid's images ``(6 n, C, H, W)`` in row order.
    """
    dev = next(iter(model.parameters())).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    a, b = x_a.to(dev), x_b.to(dev)
    ab = model.translate(a, "a2b")
    ba = model.translate(b, "b2a")
    rows = torch.cat([a, ab, model.translate(ab, "b2a"), b, ba, model.translate(ba, "a2b")]).float().cpu()
    save_image_grid(rows, path, nrow=len(a), value_range=value_range)
    return rows


def project_2d(f: Tensor, method: str = "tsne", seed: int = 0) -> Tensor:
    """``(N, D)`` features -> ``(N, 2)``: t-SNE (scikit-learn, PCA start) or the top-2 PCA plane."""
    f = f.double()
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            method = "pca"
        else:
            p = min(30.0, (len(f) - 1) / 3)
            return torch.from_numpy(TSNE(2, perplexity=p, init="pca", random_state=seed).fit_transform(f.numpy())).float()
    fc = f - f.mean(0)
    _, _, v = torch.linalg.svd(fc, full_matrices=False)
    return (fc @ v[:2].T).float()


@torch.no_grad()
def feature_embedding(panels: dict[str, tuple[Tensor, Tensor]], y_source: Tensor, y_target: Tensor, path: str | Path,
                      names: tuple[str, str] = ("source", "target"), method: str = "tsne", seed: int = 0) -> Path:
    """Side-by-side 2-D projections of source and target features, coloured by domain, digits as markers.

    Args:
        panels: ``{title: (source features (N, D), target features (M, D))}``, e.g. ``before`` (the
            source encoder on both domains) and ``after`` (each domain's own encoder).
        y_source, y_target: class labels, drawn as the markers.
        path: where the PNG goes.
        names: legend names of the two domains.
        method: ``tsne`` or ``pca``; each panel is projected on its own.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5))
    axes = [axes] if len(panels) == 1 else list(axes)
    colours = ("tab:blue", "tab:orange")
    for ax, (title, (fs, ft)) in zip(axes, panels.items()):
        z = project_2d(torch.cat([fs, ft]).cpu(), method, seed)
        for (lo, hi, y), colour, name in zip(((0, len(fs), y_source), (len(fs), len(fs) + len(ft), y_target)), colours, names):
            zz = z[lo:hi]
            ax.scatter(zz[:, 0], zz[:, 1], s=0, label=name)  # invisible: sets the limits and the legend entry
            for (u, v), k in zip(zz.tolist(), y.tolist()):
                ax.text(u, v, str(k), color=colour, fontsize=7, ha="center", va="center", alpha=0.8)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=n) for c, n in zip(colours, names)]
        ax.legend(handles=handles, loc="best", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def adaptation_embedding(model: Any, x_source: Tensor, y_source: Tensor, x_target: Tensor, y_target: Tensor,
                         path: str | Path, names: tuple[str, str] = ("source", "target"), method: str = "tsne",
                         space: str = "features") -> Path:
    """ADDA's features before adaptation (source encoder on both domains) and after (each its own encoder).

    ``space``: ``"features"`` (the encoder's outputs) or ``"logits"`` (the classifier's, what
    ADDA's critic compares with ``align=logits``).
    """
    if space not in ("features", "logits"):
        raise GenzooError(f"space must be 'features' or 'logits', not '{space}'")
    dev = next(iter(model.parameters())).device
    xs, xt = x_source.to(dev), x_target.to(dev)
    read = model.features if space == "features" else model.predict
    with torch.no_grad():
        fs = read(xs, domain="a").float().cpu()
        before = read(xt, domain="a").float().cpu()
        after = read(xt, domain="b").float().cpu()
    what = "class logits" if space == "logits" else "features"
    panels = {f"before adaptation: {what}, source encoder": (fs, before), f"after: {what}, target encoder": (fs, after)}
    return feature_embedding(panels, y_source, y_target, path, names, method)
