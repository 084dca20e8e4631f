"""The trainer's configuration: one frozen dataclass whose fields are the ``train.*`` options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class TrainConfig:
    """How to train any genzoo model.

    Attributes:
        steps: rounds of updates (each player ``repeat`` times per round). Default 5000
            when neither ``steps`` nor ``epochs`` is set.
        epochs: alternatively, passes over the training set (converted to rounds).
        max_minutes: also stop after this many minutes of training; the run then ends as if
            its last round had been reached (final log, checkpoint, ``on_fit_end``, weights).
            Measured from the start of each ``fit`` (a resumed run gets a fresh budget).
        batch_size: examples per update.
        num_workers: DataLoader worker processes for streamed data (``Data.stream``, e.g.
            ``folder:PATH`` with ``stream=true``); in-memory data ignores it.
        optimizer: ``adam``, ``adamw``, ``rmsprop`` or ``sgd``; ``None`` takes each player's
            suggestion from the model, else Adam.
        lr: learning rate; ``None`` takes the player's suggestion, else 1e-3.
        betas: Adam/AdamW betas (when the player suggests none).
        momentum: SGD/RMSprop momentum; ``None`` keeps the player's suggestion, else 0.
        weight_decay: L2 (decoupled for AdamW); ``None`` keeps the player's suggestion, else 0.
        schedule: learning-rate schedule after warm-up: ``constant``, ``cosine`` (to 0),
            ``linear`` (to 0) or ``step`` (× ``decay_factor`` every ``decay_every`` rounds).
        grad_clip: clip each player's gradient norm to this value.
        ema: decay of an exponential moving average of the weights (saved as ``ema.safetensors``).
        seed: seeds model initialisation, batches and noise; deterministic on CPU.
        deterministic: also ask PyTorch for deterministic kernels (slower on GPU).
        device: ``auto`` (cuda, then mps, then cpu) or a torch device string.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (fp16 with gradient scaling).
        compile: wrap each player's loss in ``torch.compile``.
        threads: CPU threads for PyTorch (``None``: its default).
        log_every: rounds between metric lines (losses are averaged on device in between).
        sample_every: rounds between sample grids (0: only at the end).
        checkpoint_every: rounds between checkpoints (0: only at the end).
        keep_checkpoints: how many recent checkpoints to keep.
        progress: show a progress bar (only on a terminal).
        tensorboard: also log to TensorBoard when it is installed.
        players: per-player optimizer overrides, e.g. ``{"critic": {"lr": 1e-4}}``.
    """

    steps: int | None = None
    epochs: float | None = None
    max_minutes: float | None = None
    batch_size: int = 128
    num_workers: int = 0
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] | None = None
    lr: float | None = None
    betas: tuple[float, float] | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: Literal["constant", "cosine", "linear", "step"] = "constant"
    warmup_steps: int = 0
    decay_every: int = 0
    decay_factor: float = 0.1
    grad_clip: float | None = None
    ema: float | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    threads: int | None = None
    log_every: int = 100
    sample_every: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    progress: bool = True
    tensorboard: bool = True
    players: dict[str, Any] = field(default_factory=dict)

    def total_steps(self, batches_per_epoch: int) -> int:
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return max(1, round(self.epochs * batches_per_epoch))
        return 5000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
