"""The trainer's configuration: one frozen dataclass whose fields are the ``train.*`` options."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from ..config import NonNegFloat, NonNegInt, PosFloat, PosInt, Prob, Range, Seed, check_fields, resolve
from ..errors import GenzooError

#: ``train.device``: auto, cpu, mps, cuda or cuda:N (availability is checked by the trainer).
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")
#: Adam/AdamW ``betas``: each in [0, 1).
Beta = Annotated[float, Range(0, 1, hi_open=True)]


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
        ema: decay of an exponential moving average of the weights (saved as ``ema.safetensors``);
            ``None`` takes the model's suggestion (diffusion models ask for one, most others
            none), ``0`` switches it off. The decay warms up over the first rounds (see
            :class:`~genzoo.train.ema.EMA`).
        seed: seeds model initialisation, batches and noise; deterministic on CPU.
        deterministic: also ask PyTorch for deterministic kernels (slower on GPU).
        device: ``auto`` (cuda, then mps, then cpu) or a torch device string.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (fp16 with gradient scaling).
        compile: wrap each player's loss in ``torch.compile``.
        channels_last: keep 4-D (convolution) weights in channels-last (NHWC) order, so the
            oneDNN / cuDNN convolutions run without layout conversions (faster for conv nets on
            CPU). ``true``: every player's; a list of player names (``[generator]``): theirs
            only, for a network whose forward ``.view``-s convolution outputs, which
            channels-last activations refuse.
        threads: CPU threads for PyTorch. ``None``: ``$GENZOO_THREADS`` when set, else half the
            CPU cores (1 on a 2-core machine), which avoids the oversubscription that made a
            busy 2-core machine 20x slower with PyTorch's default of every core
            (:func:`default_threads`).
        log_every: rounds between metric lines (losses are averaged on device in between).
        sample_every: rounds between sample grids (0: only at the end).
        checkpoint_every: rounds between checkpoints (0: only at the end).
        keep_checkpoints: how many recent checkpoints to keep.
        progress: show a progress bar (only on a terminal).
        logger: where metric rows also go besides ``metrics.jsonl``: ``auto`` (TensorBoard in
            ``RUN/tb`` when the ``tensorboard`` package is installed, said once when it is not),
            ``tensorboard`` (an error without the package), ``mlflow`` (the local store
            ``./mlruns``, or ``$MLFLOW_TRACKING_URI`` when you set it; nothing is sent anywhere
            else, telemetry off) or ``none``.
        players: per-player optimizer overrides, e.g. ``{"critic": {"lr": 1e-4}}``
            (keys: :class:`PlayerOptim`).
    """

    steps: PosInt | None = None
    epochs: PosFloat | None = None
    max_minutes: PosFloat | None = None
    batch_size: PosInt = 128
    num_workers: Annotated[int, Range(0, 256)] = 0
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] | None = None
    lr: PosFloat | None = None
    betas: tuple[Beta, Beta] | None = None
    momentum: Annotated[float, Range(0, 1, hi_open=True)] | None = None
    weight_decay: NonNegFloat | None = None
    schedule: Literal["constant", "cosine", "linear", "step"] = "constant"
    warmup_steps: NonNegInt = 0
    decay_every: NonNegInt = 0
    decay_factor: Annotated[float, Range(0, 1, lo_open=True)] = 0.1
    grad_clip: PosFloat | None = None
    ema: Annotated[float, Range(0, 1, hi_open=True)] | None = None
    seed: Seed = 0
    deterministic: bool = False
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    channels_last: bool | tuple[str, ...] = False
    threads: Annotated[int, Range(1, 1024)] | None = None
    log_every: PosInt = 100
    sample_every: NonNegInt = 0
    checkpoint_every: NonNegInt = 1000
    keep_checkpoints: Annotated[int, Range(1, 10_000)] = 2
    progress: bool = True
    logger: Literal["auto", "tensorboard", "mlflow", "none"] = "auto"
    players: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fields(self, "train")  # types and ranges, the same check as every --set option
        if self.steps is not None and self.epochs is not None:
            raise GenzooError(f"give train.steps or train.epochs, not both (got steps={self.steps}, epochs={self.epochs})")
        if not DEVICE.fullmatch(self.device):
            raise GenzooError(f"train.device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}")
        players = {}
        for name, over in self.players.items():
            if not isinstance(over, dict):
                raise GenzooError(f"train.players.{name} must be a mapping of optimizer settings such as {{lr: 1e-4}}, got {over!r}")
            given = resolve(PlayerOptim, {str(k): v for k, v in over.items()}, f"train.players.{name}")
            players[str(name)] = {k: v for k, v in given.items() if k in over and v is not None}
        object.__setattr__(self, "players", players)

    def total_steps(self, batches_per_epoch: int) -> int:
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return max(1, round(self.epochs * batches_per_epoch))
        return 5000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlayerOptim:
    """Per-player optimizer overrides, ``train.players.NAME.*`` (``None``: not overridden).

    Attributes:
        name: optimizer (``adam``, ``adamw``, ``rmsprop``, ``sgd``).
        lr, betas, momentum, weight_decay: as in :class:`TrainConfig`.
        eps: Adam's denominator constant.
        alpha: RMSprop's smoothing constant.
    """

    name: Literal["adam", "adamw", "rmsprop", "sgd"] | None = None
    lr: PosFloat | None = None
    betas: tuple[Beta, Beta] | None = None
    momentum: Annotated[float, Range(0, 1, hi_open=True)] | None = None
    weight_decay: NonNegFloat | None = None
    eps: Annotated[float, Range(0, 1, lo_open=True)] | None = None
    alpha: Prob | None = None


def default_threads() -> int:
    """CPU threads when ``train.threads`` is not set: ``$GENZOO_THREADS``, else half the cores (at least 1).

    PyTorch's own default (one thread per core) oversubscribes a machine whose cores are busy
    with other work: an MNIST VAE ran 20x slower with 2 threads than with 1 on a busy 2-core
    machine (benchmarks/RESULTS.md, "threads").
    """
    env = os.environ.get("GENZOO_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise GenzooError(f"GENZOO_THREADS must be a whole number of threads >= 1, got {env!r}") from None
        if not 1 <= n <= 1024:
            raise GenzooError(f"GENZOO_THREADS must be in [1, 1024], got {n}")
        return n
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)
