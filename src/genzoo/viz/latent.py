"""Pictures of a latent space, built only from model capabilities (``encode``/``decode``/``sample``).

Every function takes a model with the capability it needs and returns (or saves) a picture:
interpolations and traversals (image grids), the decoded 2-D manifold (Kingma & Welling
2014, fig. 4), a scatter of codes coloured by label, and per-class samples of a conditional
model. They work for any :class:`~genzoo.models.base.CanEncode` / ``CanSample`` model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..models.base import CanEncode, CanSample
from .plots import _plt, save_figure, save_image_grid


def _vr(model: Any) -> tuple[float, float]:
    return tuple(getattr(getattr(model, "info", None), "value_range", (0.0, 1.0)))  # type: ignore[return-value]


@torch.no_grad()
def interpolations(model: CanEncode, x_a: Tensor, x_b: Tensor, steps: int = 10, path: str | Path | None = None) -> Tensor:
    """Decode z_a + t (z_b − z_a), t in [0, 1], for each pair of rows of ``x_a``/``x_b``: ``(P*steps, *shape)``."""
    za, zb = model.encode(x_a), model.encode(x_b)  # (P, d)
    t = torch.linspace(0, 1, steps, device=za.device, dtype=za.dtype)[None, :, None]
    z = (za[:, None] + t * (zb - za)[:, None]).reshape(-1, za.shape[-1])  # (P*steps, d)
    out = model.decode(z)
    if path is not None:
        save_image_grid(out, path, nrow=steps, value_range=_vr(model))
    return out


@torch.no_grad()
def traversals(model: CanEncode, x: Tensor, dims: list[int] | None = None, span: float = 3.0, steps: int = 9,
               path: str | Path | None = None) -> Tensor:
    """Vary one latent coordinate at a time of the code of one example ``x (1, *shape)`` over ±``span``.

    Returns ``(len(dims)*steps, *shape)``; row i traverses ``dims[i]`` (all by default).
    """
    z = model.encode(x)[:1]  # (1, d)
    dims = list(range(z.shape[-1])) if dims is None else dims
    vals = torch.linspace(-span, span, steps, device=z.device, dtype=z.dtype)
    zs = z.repeat(len(dims) * steps, 1)
    for i, d in enumerate(dims):
        zs[i * steps : (i + 1) * steps, d] = vals
    out = model.decode(zs)
    if path is not None:
        save_image_grid(out, path, nrow=steps, value_range=_vr(model))
    return out


@torch.no_grad()
def manifold_grid(model: CanEncode, n: int = 20, path: str | Path | None = None, device: Any = None) -> Tensor:
    """Decode a 2-D latent grid through the inverse Gaussian CDF (Kingma & Welling 2014, fig. 4).

    Grid points are Φ⁻¹(u) for u evenly spaced in (0, 1), so equal areas of the N(0, I)
    prior get equal numbers of tiles. Needs a model with a 2-D latent space.
    """
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    g = torch.distributions.Normal(0.0, 1.0).icdf(u)
    zz = torch.stack(torch.meshgrid(g.flip(0), g, indexing="ij"), -1).reshape(-1, 2)  # rows: z2 high to low
    if device is not None:
        zz = zz.to(device)
    out = model.decode(zz)
    if path is not None:
        save_image_grid(out, path, nrow=n, value_range=_vr(model))
    return out


@torch.no_grad()
def latent_scatter(model: CanEncode, x: Tensor, y: Tensor | None, path: str | Path, title: str = "codes") -> Path:
    """Scatter of the first two code coordinates of ``x`` (PCA to 2-D when larger), coloured by label."""
    z = model.encode(x).float().cpu().flatten(1)
    if y is not None and y.dim() > 1:  # factor labels (N, F): coloured by the first factor
        y = y[:, 0]
    if z.shape[1] > 2:  # project on the two leading principal axes
        zc = z - z.mean(0)
        z = zc @ torch.linalg.svd(zc, full_matrices=False).Vh[:2].T
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = ax.scatter(z[:, 0], z[:, -1], c=None if y is None else y.cpu().numpy(), s=3, cmap="tab10")
    if y is not None:
        fig.colorbar(sc, ax=ax)
    ax.set_title(title)
    return save_figure(fig, path)


@torch.no_grad()
def class_samples(model: CanSample, num_classes: int, per_class: int = 8, path: str | Path | None = None,
                  device: Any = None) -> Tensor:
    """``per_class`` samples of each class of a conditional model, one row per class."""
    c = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    out = model.sample(len(c), c)
    if path is not None:
        save_image_grid(out, path, nrow=per_class, value_range=_vr(model))
    return out
