"""Pictures of diffusion models: the denoising trajectory and the guidance-scale grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from ..models.base import CanDenoise
from ..samplers.diffusion import DiffusionSampler
from ..samplers.guidance import ClassifierFree
from .plots import _plt, image_grid, save_figure, save_image_grid


@torch.no_grad()
def trajectory_strip(model: Any, sampler: DiffusionSampler, path: str | Path, n: int = 8, frames: int = 10,
                     c: Tensor | None = None) -> Tensor:
    """``n`` chains x_T -> x_0, one row each, ``frames`` states left to right (images or 2-D scatters).

    Returns the states ``(frames, n, *shape)`` in data space.
    """
    states = sampler.trajectory(model, n, c, frames)  # (F, n, ...)
    info = model.info
    if info.kind == "image":
        grid = states.transpose(0, 1).reshape(-1, *states.shape[2:])  # row per chain
        save_image_grid(grid.float().cpu(), path, nrow=states.shape[0], value_range=tuple(info.value_range))
    else:
        plt = _plt()
        fig, axes = plt.subplots(1, len(states), figsize=(1.8 * len(states), 2.0), squeeze=False)
        pts = states.float().cpu().reshape(len(states), n, -1)
        lo, hi = pts[..., :2].amin((0, 1)), pts[..., :2].amax((0, 1))
        for ax, p in zip(axes[0], pts):  # the same axes in every frame
            ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.5)
            ax.set_xlim(float(lo[0]), float(hi[0]))
            ax.set_ylim(float(lo[1]), float(hi[1]))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][0].set_title("x_T", fontsize=8)
        axes[0][-1].set_title("x_0", fontsize=8)
        save_figure(fig, path)
    return states


@torch.no_grad()
def guidance_grid(model: Any, path: str | Path, scales: Sequence[float] = (0.0, 1.0, 3.0, 6.0), per_class: int = 4,
                  steps: int | None = None, seed: int = 0, eta: float = 0.0) -> Path:
    """Classifier-free guided samples (DDIM with ``steps`` and ``eta``): one panel per scale, a row per class,
    the same starting noise in every panel."""
    k = model.num_classes
    c = torch.arange(k, device=model.device).repeat_interleave(per_class)
    plt = _plt()
    fig, axes = plt.subplots(1, len(scales), figsize=(1.9 * len(scales), 0.2 * k * 1.9 + 0.5), squeeze=False)
    g = torch.Generator(device="cpu").manual_seed(seed)
    x_T = torch.randn(len(c), *model.info.shape, generator=g).to(model.device)
    for ax, w in zip(axes[0], scales):
        torch.manual_seed(seed)  # the same per-step noise too when eta > 0
        x = ClassifierFree(scale=w, steps=steps, eta=eta)(model, len(c), c, x_T=x_T)
        ax.imshow(image_grid(x.float().cpu(), nrow=per_class, value_range=tuple(model.info.value_range)).squeeze(-1),
                  cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"w = {w:g}", fontsize=9)
        ax.axis("off")
    fig.suptitle("classifier-free guidance", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def diffusion_pictures(model: Any, samples: Path, n: int = 8) -> None:
    """After training: the trajectory strip of a diffusion model, and the guidance grid of a
    conditional one trained with label dropout (nothing for other models)."""
    if not isinstance(model, CanDenoise):
        return
    trajectory_strip(model, model.sampler(), samples / "trajectory.png", n=n)
    if model.info.kind == "image" and model.conditional and getattr(model, "cond_drop", 0) > 0 and model.info.num_classes:
        guidance_grid(model, samples / "guidance.png")
