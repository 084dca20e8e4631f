"""The one trainer, its configuration, checkpoints and callbacks."""

from .checkpoint import RunDir
from .config import TrainConfig
from .trainer import Trainer, pick_device

__all__ = ["RunDir", "TrainConfig", "Trainer", "pick_device"]
