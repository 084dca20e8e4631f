"""Data-parallel training under ``torchrun``: the same trainer, one process per device.

``torchrun --nproc_per_node N -m genzoo train MODEL ...`` starts N processes; each builds the
same model and data and runs :class:`DistributedTrainer`, which is the ordinary
:class:`~genzoo.train.Trainer` with four differences:

- ``train.batch_size`` stays the *global* batch: process ``r`` of ``N`` trains on rows
  ``r·B/N : (r+1)·B/N`` of every batch (in-memory data: the batch is drawn as one process
  would and sliced; streamed data: each process reads only its rows);
- each player's loss runs inside ``DistributedDataParallel`` wrapped around that player's
  parameters (and the model's buffers, broadcast from rank 0 as DDP does), so gradients are
  averaged over processes as the player's backward runs;
- the noise a loss draws per example (``randn(B/N, d)``) is drawn for the whole batch and
  sliced (:class:`~genzoo.train.randomness.Shard`); every process keeps the same generator
  state. For losses that are means over examples, N processes then compute what one process
  computes with the whole batch, to float tolerance;
- rank 0 alone writes the run folder (config, checkpoints, metrics averaged over processes,
  pictures); the other ranks write nothing.

Nothing in a checkpoint depends on the number of processes (the loader state is the global
batch order; model, optimizer and generators are the same on every rank), so a run resumes at
another world size; only a batch that the new number of processes cannot split is refused.
gloo is the backend on CPUs, NCCL on GPUs (``LOCAL_RANK`` picks the GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..data.base import Data, StreamingLoader
from ..errors import GenzooError
from ..models.base import GenerativeModel, Player
from .randomness import Shard
from .trainer import Trainer, pick_device


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int
    size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def world() -> World | None:
    """This process's place when ``torchrun`` started several (``WORLD_SIZE > 1``), else ``None``."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return None
        return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except (KeyError, ValueError):
        raise GenzooError("WORLD_SIZE is set but RANK is missing or not a number; start several processes with torchrun") from None


def is_main() -> bool:
    """True on rank 0, and in a single process: the one that writes files."""
    w = world()
    return w is None or w.main


def check_split(batch_size: int, size: int) -> None:
    """The global batch must split evenly over the processes."""
    if batch_size % size:
        divisors = [d for d in range(1, batch_size + 1) if batch_size % d == 0]
        raise GenzooError(f"train.batch_size {batch_size} cannot be split over {size} processes; use a batch size "
                          f"divisible by {size}, or a number of processes that divides it ({', '.join(map(str, divisors[:8]))})")


def _slice(value: Any, rows: slice) -> Any:
    """A batch (dataclass, dict, tensor) cut to ``rows`` along its first dimension."""
    if isinstance(value, Tensor):
        return value[rows]
    if isinstance(value, dict):
        return {k: _slice(v, rows) for k, v in value.items()}
    if is_dataclass(value):
        return type(value)(**{f.name: _slice(getattr(value, f.name), rows) for f in fields(value)})
    return value


class ShardedLoader:
    """In-memory batches as one process draws them, cut to this process's rows.

    The batch order, dynamic binarization and state are those of the wrapped loader, so its
    state (saved by rank 0) is the same at every world size.
    """

    def __init__(self, loader: Any, rank: int, size: int) -> None:
        b = loader.batch_size // size
        self.inner, self.rows = loader, slice(rank * b, (rank + 1) * b)

    def __iter__(self) -> "ShardedLoader":
        return self

    def __next__(self) -> Any:
        return _slice(next(self.inner), self.rows)

    def __getattr__(self, name: str) -> Any:  # epoch, pos, batch_size, state_dict, ...
        return getattr(self.inner, name)


class _PlayerModule(nn.Module):
    """One player as a module for DDP: its parameters, the model's buffers, its loss as forward."""

    def __init__(self, player: Player, loss: Any, model: GenerativeModel, world: World, local_batch: int) -> None:
        super().__init__()
        self.params = nn.ParameterList(player.params)  # the very tensors the player's optimizer steps
        for i, b in enumerate(model.buffers()):  # shared, so DDP's broadcast from rank 0 updates the model's
            self.register_buffer(f"buffer{i}", b, persistent=False)
        self.loss, self.world, self.b = loss, world, local_batch

    def forward(self, batch: Any) -> dict[str, Tensor]:
        with Shard(self.world.rank, self.world.size, self.b):
            return self.loss(batch)


class DistributedTrainer(Trainer):
    """:class:`Trainer` for one of several ``torchrun`` processes (see the module notes).

    Raises:
        GenzooError: when the global batch cannot be split over the processes.
    """

    def __init__(self, model: GenerativeModel, data: Data, config: Any = None, run: Any = None,
                 callbacks: list[Any] | None = None) -> None:
        w = world()
        if w is None:
            raise GenzooError("DistributedTrainer runs under torchrun with several processes; use Trainer otherwise")
        self.world = w
        cfg = config
        batch = cfg.batch_size if cfg is not None else 128
        check_split(batch, w.size)
        device = pick_device(cfg.device if cfg is not None else "auto")
        if device.type == "cuda":
            torch.cuda.set_device(w.local_rank)  # "cuda" now means this process's GPU
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=w.rank, world_size=w.size)
        super().__init__(model, data, config, run if w.main else None, callbacks if w.main else [])
        self.local_batch = self.cfg.batch_size // w.size
        self.loader = self._shard(self.loader)
        self.loaders = {n: self._shard(loader) for n, loader in self.loaders.items()}
        if self.loaders:  # the longest stream's loader counts epochs, as in Trainer
            self.loader = max(self.loaders.values(), key=lambda l: l.batches_per_epoch)
        self.losses = {p.name: DistributedDataParallel(_PlayerModule(p, self.losses[p.name], self.model, w, self.local_batch))
                       for p in self.players}

    def _shard(self, loader: Any) -> Any:
        if isinstance(loader, StreamingLoader):  # read only this process's rows
            loader.set_shard(self.world.rank, self.world.size)
            return loader
        return ShardedLoader(loader, self.world.rank, self.world.size)

    def _progress(self) -> tuple[Any, Any]:
        return super()._progress() if self.world.main else (None, None)

    def _log(self, sums: dict[str, Tensor], speed: float, progress: Any, task: Any) -> dict[str, Any]:
        """Losses averaged over the processes; a non-finite loss on any of them stops all."""
        names = sorted(sums)
        if names:
            flat = torch.stack([sums[k].float().reshape(()) for k in names])
            dist.all_reduce(flat)
            sums = {k: v / self.world.size for k, v in zip(names, flat)}
        # the first non-finite loss of any process (round, then player), so that all of them stop
        none = torch.iinfo(torch.long).max
        code = torch.where(self._bad_step < 0, none, self._bad_step * len(self.players) + self._bad_player).reshape(1)
        dist.all_reduce(code, op=dist.ReduceOp.MIN)
        if int(code) != none:
            self._bad_step, self._bad_player = code[0] // len(self.players), code[0] % len(self.players)
        return super()._log(sums, speed, progress, task)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        meta["world_size"] = self.world.size  # for the record: nothing in the state depends on it
        return tensors, meta

    def _finish(self) -> None:
        if self.world.main:  # the others' models are copies; only rank 0 writes
            super()._finish()


def trainer_class() -> type[Trainer]:
    """:class:`DistributedTrainer` under ``torchrun`` with several processes, else :class:`Trainer`."""
    return DistributedTrainer if world() is not None else Trainer


__all__ = ["DistributedTrainer", "ShardedLoader", "World", "check_split", "is_main", "trainer_class", "world"]
