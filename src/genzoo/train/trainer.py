"""The one trainer: drives any model's players, logs, checkpoints, resumes.

The trainer knows nothing about objectives. Each round it visits the current stage's players
in order; a player draws a fresh batch, computes its loss, and its optimizer updates its own
parameters ``repeat`` times, calling ``after_step`` after each update. Losses are summed on
the device and read only every ``log_every`` rounds (no host sync in the step loop).

Two-domain data (``data.streams``) gets one loader per stream, each with its own seed and
resumable order; a player draws from the stream(s) it names (``Player.stream``), one batch
per stream per round. A stage's ``on_start`` hook runs when the stage begins, and the index
of the begun stage is saved in checkpoints, so a resumed run continues inside that stage.

Fault tolerance: a checkpoint holds everything the loop depends on (weights, optimizer, RNG,
data order, EMA, and the running sums of the current log window), so a run resumed after
``kill -9`` or Ctrl-C continues bit-identically on CPU, and its ``metrics.jsonl`` reads exactly
like an uninterrupted run's: rows written after the checkpoint are dropped on resume and
written again, and Ctrl-C never writes a row for a part of a window.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data.base import Batch, Data, InMemoryLoader, StreamingLoader
from ..data.kinds import kind_of
from ..errors import GenzooError, NonFiniteLoss
from ..models.base import GenerativeModel, Player, Stage
from .callbacks import Callback, Pictures
from .checkpoint import RunDir, flatten_optimizer, load_model_state, model_state, save_tensors, unflatten_optimizer
from .config import TrainConfig, default_threads
from .ema import EMA
from .loggers import check_logger, loggers_for
from .optim import lr_factor, make_optimizer, player_settings


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked and returned."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GenzooError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenzooError("train.device is cuda but no CUDA GPU is available; use --set train.device=auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise GenzooError(f"train.device is {name} but this machine has {torch.cuda.device_count()} GPU(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise GenzooError("train.device is mps but MPS is not available here; use --set train.device=auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise GenzooError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps")
    return dev


class Trainer:
    """Train ``model`` on ``data`` as configured, writing into ``run`` (optional).

    ``callbacks`` (default: sample pictures) get ``on_log(trainer, row)`` for every metric
    row, ``on_sample``, ``on_end`` and ``on_close``; the loggers chosen by ``train.logger``
    are appended to them.
    """

    def __init__(
        self,
        model: GenerativeModel,
        data: Data,
        config: TrainConfig | None = None,
        run: RunDir | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.cfg = config or TrainConfig()
        self.data, self.run = data, run
        self.device = pick_device(self.cfg.device)
        torch.set_num_threads(self.cfg.threads or default_threads())
        if self.cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.model = model.to(self.device)
        self.callbacks = list(callbacks) if callbacks is not None else [Pictures()]
        check_logger(self.cfg.logger)  # an explicitly chosen logger that is not installed: refused now
        self._loggers = False  # the loggers join the callbacks when fit() starts with a run folder
        self.stages = model.stages()
        self.players: list[Player] = [p for s in self.stages for p in s.players]
        check_streams(model, data, self.players)
        # one loader per stream, each with its own seed; an epoch is a pass over the largest
        self.loaders = {n: self._make_loader(d, self.cfg.seed + 7919 * (i + 1)) for i, (n, d) in enumerate((data.streams or {}).items())}
        self.loader = max(self.loaders.values(), key=lambda l: l.batches_per_epoch) if self.loaders else self._make_loader(data, self.cfg.seed)
        self._round: dict[str, Any] = {}  # this round's batch of each stream
        self.stage_index = -1  # the stage whose on_start has run
        self.total = self.cfg.total_steps(self.loader.batches_per_epoch)
        names = [p.name for p in self.players]
        if len(set(names)) != len(names):
            raise RuntimeError(f"player names must be unique, got {names}")
        unknown = sorted(set(self.cfg.players) - set(names))
        if unknown:
            raise GenzooError(f"train.players.{unknown[0]} is not a player of this model; its players are: {', '.join(names)}")
        self._channels_last(names)
        self.settings = {p.name: player_settings(self.cfg, p.name, p.optim) for p in self.players}
        self.opts = {p.name: make_optimizer(p.params, self.settings[p.name], self.device) for p in self.players}
        self.base_lr = {n: float(s["lr"]) for n, s in self.settings.items()}
        self.scalers = {
            p.name: torch.amp.GradScaler(self.device.type) for p in self.players
        } if self.cfg.precision == "fp16" else {}
        self.losses = {p.name: (torch.compile(p.loss) if self.cfg.compile else p.loss) for p in self.players}
        # train.ema wins; unset, the model's suggestion (diffusion asks for one); 0 switches it off
        decay = self.cfg.ema if self.cfg.ema is not None else model.ema_decay
        self.ema = EMA(self.model, decay) if decay else None
        self.step = 0
        self.elapsed = 0.0
        self._stop = False
        self._sums: dict[str, Tensor] = {}  # the current log window's loss sums, on device
        self._counts: dict[str, int] = {}  # updates summed per player prefix in this window
        # the first non-finite loss: its round and player index (-1: none yet), read at log time
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self._bad_player = torch.full((), -1, dtype=torch.long, device=self.device)

    def _channels_last(self, names: list[str]) -> None:
        """``train.channels_last``: 4-D weights of every player (or of the named ones) NHWC, so
        oneDNN / cuDNN convolutions skip their layout conversions."""
        chosen = self.cfg.channels_last
        if chosen is False or chosen == ():
            return
        wanted = set(names) if chosen is True else set(chosen)
        unknown = sorted(wanted - set(names))
        if unknown:
            raise GenzooError(f"train.channels_last names '{unknown[0]}', which is not a player of this model; "
                              f"its players are: {', '.join(names)}")
        for p in self.players:
            if p.name in wanted:
                for t in p.params:
                    if t.dim() == 4:
                        t.data = t.data.contiguous(memory_format=torch.channels_last)

    def _make_loader(self, data: Data, seed: int) -> InMemoryLoader | StreamingLoader:
        kind, info = kind_of(data.info), data.info

        def collate(x: Tensor, c: Tensor | None) -> Batch:  # padding and masks belong to the data's kind
            return kind.collate(x, c, info)

        if data.stream is not None:  # too big for memory: a DataLoader over the dataset
            return StreamingLoader(
                data.stream, self.cfg.batch_size, seed=seed, binarize=data.info.binarize, device=self.device,
                num_workers=self.cfg.num_workers, collate=collate,
            )
        return InMemoryLoader(
            data.x_train, data.y_train, self.cfg.batch_size, seed=seed, binarize=data.info.binarize, device=self.device,
            collate=collate,
        )

    # -- the loop -------------------------------------------------------------------------------
    def _stage_at(self, step: int) -> int:
        end = 0
        for i, s in enumerate(self.stages):
            end += s.steps if s.steps is not None else self.total
            if step < end:
                return i
        return len(self.stages) - 1

    def _stage_span(self, i: int) -> tuple[int, int]:
        """First round and number of rounds of stage ``i`` (a ``steps=None`` stage: the rest)."""
        start = sum(s.steps or 0 for s in self.stages[:i])
        steps = self.stages[i].steps
        return start, max(1, steps if steps is not None else self.total - start)

    def _batch(self, p: Player, fresh: bool) -> Any:
        """``p``'s batch: the next one of the single dataset, or this round's of its stream(s)."""
        if p.stream is None:
            return next(self.loader)
        for n in p.streams:
            if fresh or n not in self._round:
                self._round[n] = next(self.loaders[n])
        return self._round[p.stream] if isinstance(p.stream, str) else {n: self._round[n] for n in p.streams}

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _update(self, p: Player, sums: dict[str, Tensor], prefix: str, index: int) -> None:
        opt = self.opts[p.name]
        for r in range(p.repeat):
            batch = self._batch(p, fresh=r > 0)
            with self._autocast():
                out = self.losses[p.name](batch)
            loss = out["loss"]
            opt.zero_grad(set_to_none=True)
            scaler = self.scalers.get(p.name)
            (scaler.scale(loss) if scaler else loss).backward(inputs=p.params)
            if self.cfg.grad_clip:
                if scaler:
                    scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(p.params, self.cfg.grad_clip, foreach=True)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            if p.after_step is not None:
                p.after_step()
            keys = [prefix + k for k in out]
            vals = [v.detach() if v.dtype == torch.float32 else v.detach().float() for v in out.values()]
            if all(k in sums for k in keys):  # one in-place kernel for the window's sums, no new tensors
                torch._foreach_add_([sums[k] for k in keys], vals)
            else:
                for key, v in zip(keys, vals):
                    sums[key] = sums[key] + v if key in sums else v.clone()
            first = (self._bad_step < 0) & ~torch.isfinite(loss.detach())
            self._bad_step = torch.where(first, self.step, self._bad_step)
            self._bad_player = torch.where(first, index, self._bad_player)
        self._counts[prefix] = self._counts.get(prefix, 0) + p.repeat

    def fit(self, resume: Path | None = None) -> GenerativeModel:
        """Train to ``total`` rounds (from a checkpoint folder when ``resume`` is given)."""
        self.model.on_fit_start(self.data)
        if resume is not None:
            self._restore(resume)
            if self.run is not None:  # rows the interrupted process wrote after this checkpoint come again
                self.run.truncate_metrics(self.step)
        else:
            torch.manual_seed(self.cfg.seed)
        if self.run is not None and not self._loggers:
            self.callbacks += loggers_for(self.cfg.logger)
            self._loggers = True
        self.model.train()
        sums = self._sums
        multi = len(self.players) > 1
        progress, task = self._progress()
        old_handler = self._install_sigint()
        t_last, step_last = time.perf_counter(), self.step
        cfg = self.cfg
        deadline = t_last + 60.0 * cfg.max_minutes if cfg.max_minutes is not None else None
        try:
            with progress or contextlib.nullcontext():
                while self.step < self.total and not self._stop:
                    si = self._stage_at(self.step)
                    stage = self.stages[si]
                    if si != self.stage_index:  # the stage begins (a resumed run inside it skips this)
                        self.stage_index = si
                        if stage.on_start is not None:
                            self._start_stage(stage)
                    own = stage.schedule is not None and cfg.schedule == "constant" and not cfg.warmup_steps
                    if own or cfg.schedule != "constant" or cfg.warmup_steps:
                        start, rounds = self._stage_span(si)
                        f = stage.schedule(self.step - start, rounds) if own else lr_factor(cfg, self.step - start, rounds)  # type: ignore[misc]
                        for p in stage.players:
                            for g in self.opts[p.name].param_groups:
                                g["lr"] = self.base_lr[p.name] * f
                    self._round = {}
                    for p in stage.players:
                        self._update(p, sums, f"{p.name}/" if multi else "", self.players.index(p))
                    if self.ema is not None:
                        self.ema.update(self.step)
                    self.step += 1
                    if deadline is not None and time.perf_counter() >= deadline:
                        self.total = self.step  # time budget spent: finish as if this were the last round
                    if progress is not None and (self.step % 10 == 0 or self.step == self.total):
                        progress.update(task, completed=self.step)
                    if self.step % cfg.log_every == 0 or self.step == self.total:
                        now = time.perf_counter()
                        self.elapsed += now - t_last
                        self._log(sums, (self.step - step_last) / max(now - t_last, 1e-9), progress, task)
                        sums.clear()
                        self._counts.clear()
                        t_last, step_last = time.perf_counter(), self.step
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < self.total:
                        self.checkpoint()
                    if cfg.sample_every and self.step % cfg.sample_every == 0 and self.step < self.total:
                        for cb in self.callbacks:
                            cb.on_sample(self, f"step_{self.step:07d}")
            if sums:  # stopped between log points (Ctrl-C): no row for part of a window; the
                self.elapsed += time.perf_counter() - t_last  # checkpoint keeps the sums for the resume
                self._check_finite()
            self.checkpoint()
            if not self._stop:
                self._finish()
        finally:
            signal.signal(signal.SIGINT, old_handler) if old_handler is not None else None
            for cb in self.callbacks:
                cb.on_close(self)
        return self.model

    # hooks a trainer of several models at once (train.vmap.VmapTrainer) or processes replaces
    def _start_stage(self, stage: Stage) -> None:
        stage.on_start(self.model)  # type: ignore[misc]

    def _finish(self) -> None:
        """After the last round: the model's own end (e.g. a fitted code sampler), weights, pictures."""
        self.model.on_fit_end(self.data)
        self.save_weights()
        for cb in self.callbacks:
            cb.on_end(self)

    @property
    def interrupted(self) -> bool:
        return self._stop

    # -- logging --------------------------------------------------------------------------------
    def _check_finite(self) -> None:
        """Raise :class:`NonFiniteLoss` naming the player and round of the first non-finite loss."""
        step = int(self._bad_step)
        if step >= 0:
            name = self.players[int(self._bad_player)].name
            last = self.run.latest_checkpoint() if self.run else None
            where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            raise NonFiniteLoss(
                f"the loss of player '{name}' became non-finite at step {step + 1}; {where}. "
                "Lower train.lr, set train.grad_clip, or check the data."
            )

    def _log(self, sums: dict[str, Tensor], speed: float, progress: Any, task: Any) -> dict[str, Any]:
        self._check_finite()
        row: dict[str, Any] = {"step": self.step, "epoch": round(self.loader.epoch + self.loader.pos / max(1, self.loader.batches_per_epoch), 3)}
        for k, v in sums.items():
            prefix = k.split("/")[0] + "/" if "/" in k else ""
            row[k] = float(v) / max(1, self._counts.get(prefix, 1))
        row["steps_per_s"] = round(speed, 2)
        row["time"] = round(self.elapsed, 2)
        if self.run is not None:
            self.run.append_metrics(row)
        for cb in self.callbacks:
            cb.on_log(self, row)
        if progress is not None:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("step", "epoch", "time", "steps_per_s"))
            progress.update(task, losses=shown, speed=f"{speed:.0f} it/s")
        return row

    def _progress(self) -> tuple[Any, Any]:
        from rich.console import Console

        console = Console(stderr=True)
        if not self.cfg.progress or not console.is_terminal:
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"), console=console, refresh_per_second=4,
        )
        task = progress.add_task(type(self.model).__name__, total=self.total, completed=self.step, losses="", speed="")
        return progress, task

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            if self._stop:  # second Ctrl-C: give up immediately
                raise KeyboardInterrupt
            self._stop = True

        return signal.signal(signal.SIGINT, handler)

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors: dict[str, Tensor] = {f"model.{k}": v for k, v in model_state(self.model).items()}
        meta: dict[str, Any] = {"step": self.step, "elapsed": self.elapsed, "optim": {}, "scalers": {}}
        for name, opt in self.opts.items():
            t, rest = flatten_optimizer(f"optim.{name}", opt)
            tensors.update(t)
            meta["optim"][name] = rest
        for name, sc in self.scalers.items():
            meta["scalers"][name] = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in sc.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{n}": s for n, s in zip(self.ema.names, self.ema.shadow)})
        tensors["rng.cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        meta["stage"], meta["loaders"] = self.stage_index, {}
        if not self.loaders:  # one dataset; two-domain data saves each stream's loader below
            ls = self.loader.state_dict()
            tensors["loader.generator"], tensors["loader.perm"] = ls["generator"], ls["perm"]
            meta["loader"] = {"epoch": ls["epoch"], "pos": ls["pos"]}
        for n, loader in self.loaders.items():
            ls = loader.state_dict()
            tensors[f"loader.{n}.generator"], tensors[f"loader.{n}.perm"] = ls["generator"], ls["perm"]
            meta["loaders"][n] = {"epoch": ls["epoch"], "pos": ls["pos"]}
        # the open log window, so the first row after a resume averages the same updates
        tensors.update({f"window.{k}": v for k, v in self._sums.items()})
        meta["window"] = {"counts": dict(self._counts), "keys": list(self._sums)}
        return tensors, meta

    def checkpoint(self) -> Path | None:
        if self.run is None:
            return None
        if int(self._bad_step) >= 0:  # never save poisoned weights as a good checkpoint
            return None
        tensors, meta = self.state()
        path = self.run.save_checkpoint(self.step, tensors, meta, self.cfg.keep_checkpoints)
        self.save_weights()
        return path

    def save_weights(self) -> None:
        if self.run is None:
            return
        save_tensors(self.run.weights_path, model_state(self.model))
        if self.ema is not None:
            save_tensors(self.run.ema_path, self.ema.state_dict())

    def _restore(self, ckpt: Path) -> None:
        tensors, meta = RunDir.load_checkpoint(ckpt)
        model_t = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        load_model_state(self.model, model_t, ckpt / "state.safetensors")
        try:
            for name, opt in self.opts.items():
                opt.load_state_dict(unflatten_optimizer(f"optim.{name}", tensors, meta["optim"][name]))
            for name, sc in self.scalers.items():
                sc.load_state_dict(meta["scalers"][name])
            if self.ema is not None:
                self.ema.load_shadow({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
            torch.set_rng_state(tensors["rng.cpu"])
            if "rng.cuda" in tensors and self.device.type == "cuda":
                torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
            if not self.loaders:
                self.loader.load_state_dict({**meta["loader"], "generator": tensors["loader.generator"], "perm": tensors["loader.perm"]})
            for n, loader in self.loaders.items():
                loader.load_state_dict({**meta["loaders"][n], "generator": tensors[f"loader.{n}.generator"],
                                        "perm": tensors[f"loader.{n}.perm"]})
            window = meta.get("window", {"counts": {}, "keys": []})
            self._sums.clear()
            self._sums.update({k: tensors[f"window.{k}"].to(self.device) for k in window["keys"]})
            self._counts.clear()
            self._counts.update({str(k): int(v) for k, v in window["counts"].items()})
        except (KeyError, ValueError, RuntimeError) as e:
            raise GenzooError(f"checkpoint {ckpt} does not match this run's configuration ({e}); resume with the run's own settings") from None
        self.step = int(meta["step"])
        self.elapsed = float(meta.get("elapsed", 0.0))
        # checkpoints written before stages were recorded: the stage of the last round done
        self.stage_index = int(meta.get("stage", self._stage_at(self.step - 1) if self.step else -1))
        if self.step > self.total:
            raise GenzooError(f"the checkpoint is at step {self.step}, beyond the requested {self.total}; pass a larger --steps")


def check_streams(model: GenerativeModel, data: Data, players: list[Player] | None = None) -> None:
    """Every player's stream exists in ``data``; single- and two-stream models get the right data."""
    players = players if players is not None else [p for s in model.stages() for p in s.players]
    named = [n for p in players for n in p.streams]
    name = type(model).__name__
    if data.streams is None:
        if named:
            raise GenzooError(
                f"{name} trains on two domains (streams {', '.join(sorted(set(named)))}) but {data.info.name} is one "
                "dataset; pair two with --data A+B, e.g. mnist+digits"
            )
        return
    if any(p.stream is None for p in players):
        raise GenzooError(
            f"{name} trains on one dataset but {data.info.name} has streams {', '.join(data.streams)}; "
            "train it on one of them (e.g. --data " + data.info.name.split("+")[0] + ")"
        )
    unknown = sorted(set(named) - set(data.streams))
    if unknown:
        raise GenzooError(f"{name} draws from stream '{unknown[0]}' but {data.info.name} has streams {', '.join(data.streams)}")
