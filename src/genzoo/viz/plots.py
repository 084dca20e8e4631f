"""Image grids (PIL, no matplotlib needed) and matplotlib figures, all written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..config import atomic_write_bytes


def image_grid(x: Tensor, nrow: int | None = None, pad: int = 1, value_range: tuple[float, float] = (0.0, 1.0), scale: int = 1) -> np.ndarray:
    """``(N, C, H, W)`` images -> one ``(H', W', C)`` uint8 grid, ``nrow`` images per row."""
    x = x.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, c, h, w = x.shape
    lo, hi = value_range
    x = ((x - lo) / max(hi - lo, 1e-8)).clamp(0, 1)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad) * 0.5
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = x[i]
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    if scale > 1:
        arr = arr.repeat(scale, 0).repeat(scale, 1)
    return arr


def save_image_grid(x: Tensor, path: str | Path, nrow: int | None = None, value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Save images as a PNG grid, upscaled so small (8x8) images stay visible."""
    h = x.shape[-2]
    arr = image_grid(x, nrow, value_range=value_range, scale=max(1, 56 // h))
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def save_figure(fig: Any, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path | None:
    """Every logged scalar (except bookkeeping) against the step, one panel per player."""
    skip = {"step", "epoch", "time", "steps_per_s", "lr"}
    keys = [k for k in rows[0] if k not in skip] if rows else []
    if not keys:
        return None
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.split("/")[0] if "/" in k else "", []).append(k)
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.4), squeeze=False)
    steps = [r["step"] for r in rows]
    for ax, (g, ks) in zip(axes[0], groups.items()):
        for k in ks:
            ax.plot(steps, [r.get(k, float("nan")) for r in rows], label=k)
        ax.set_xlabel("step")
        ax.set_title(g or title or "losses")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_points(samples: Tensor, path: str | Path, data: Tensor | None = None, title: str = "samples") -> Path:
    """2-D samples (orange) over data points (grey)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if data is not None:
        d = data[:5000].detach().cpu().numpy()
        ax.scatter(d[:, 0], d[:, 1], s=2, c="0.7", label="data")
    s = samples.detach().cpu().numpy()
    ax.scatter(s[:, 0], s[:, 1], s=2, c="tab:orange", label="model")
    ax.set_aspect("equal")
    ax.legend(markerscale=4, fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_density(log_prob: Callable[[Tensor], Tensor], bounds: tuple[float, float, float, float], path: str | Path, n: int = 200, title: str = "density") -> Path:
    """exp(log_prob) of a 2-D model on an ``n x n`` grid over ``(xmin, xmax, ymin, ymax)``."""
    x0, x1, y0, y1 = bounds
    xs, ys = torch.linspace(x0, x1, n), torch.linspace(y0, y1, n)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        dens = torch.cat([log_prob(g).exp().cpu() for g in grid.split(8192)]).reshape(n, n)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(dens.numpy(), origin="lower", extent=(x0, x1, y0, y1), cmap="magma")
    ax.set_title(title)
    return save_figure(fig, path)
