"""The one trainer, its configuration, checkpoints, callbacks and loggers."""

from .callbacks import Callback, Pictures, Rows
from .checkpoint import RunDir, RunLock
from .config import TrainConfig, default_threads
from .trainer import Trainer, pick_device

__all__ = ["Callback", "Pictures", "Rows", "RunDir", "RunLock", "TrainConfig", "Trainer", "default_threads", "pick_device"]
