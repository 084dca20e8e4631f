"""Optimizers and learning-rate schedules from plain settings."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import GenzooError
from .config import TrainConfig

_DEFAULTS = {"name": "adam", "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0}


def player_settings(cfg: TrainConfig, name: str, suggested: dict[str, Any]) -> dict[str, Any]:
    """A player's optimizer settings: fallback < model's suggestion < ``train.*`` < ``train.players.NAME``."""
    s: dict[str, Any] = dict(_DEFAULTS)
    s.update(suggested)
    if cfg.optimizer is not None:
        s["name"] = cfg.optimizer
    if cfg.lr is not None:
        s["lr"] = cfg.lr
    if cfg.betas is not None:
        s["betas"] = tuple(cfg.betas)
    if cfg.momentum is not None:
        s["momentum"] = cfg.momentum
    if cfg.weight_decay is not None:
        s["weight_decay"] = cfg.weight_decay
    s.update(cfg.players.get(name, {}))  # typed and range-checked by TrainConfig (PlayerOptim)
    return s


def fused_devices() -> tuple[str, ...]:
    """Device types with fused optimizer kernels in this PyTorch (cpu, cuda, mps, xpu, ...)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        return tuple(_get_fused_kernels_supported_devices())
    except ImportError:  # an older PyTorch: the two it always had
        return ("cpu", "cuda")


def make_optimizer(params: list[nn.Parameter], s: dict[str, Any], device: torch.device) -> torch.optim.Optimizer:
    """Build the optimizer with the fastest implementation this device has.

    Adam, AdamW and SGD use the fused kernels (one kernel updates every parameter) wherever
    PyTorch has them (:func:`fused_devices`: cpu, cuda, mps, ...), else the multi-tensor
    ``foreach`` path; RMSprop, which has no fused kernel, always uses ``foreach``.
    """
    name, lr = s["name"], float(s["lr"])
    fused = {"fused": True} if device.type in fused_devices() else {"foreach": True}
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        kw = {"betas": tuple(s.get("betas", (0.9, 0.999))), "weight_decay": s["weight_decay"], "eps": s.get("eps", 1e-8)}
        if name == "adamw" and not s["weight_decay"]:
            kw["weight_decay"] = 0.01
        return cls(params, lr=lr, **kw, **fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=s.get("alpha", 0.99), momentum=s["momentum"], weight_decay=s["weight_decay"], foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=s["momentum"], weight_decay=s["weight_decay"], **fused)
    raise GenzooError(f"unknown optimizer '{name}'; choose one of: adam, adamw, rmsprop, sgd")


def lr_factor(cfg: TrainConfig, step: int, total: int) -> float:
    """Multiplier of the base learning rate at round ``step`` of ``total``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    if cfg.schedule == "linear":
        return max(0.0, 1 - t)
    if cfg.schedule == "step" and cfg.decay_every > 0:
        return cfg.decay_factor ** ((step - cfg.warmup_steps) // cfg.decay_every)
    return 1.0
