"""Procedures that train models repeatedly, above :mod:`genzoo.api`: seed sweeps."""

from .sweep import Sweep, is_sweep, mean_std, resume_sweep, summarise, sweep

__all__ = ["Sweep", "is_sweep", "mean_std", "resume_sweep", "summarise", "sweep"]
