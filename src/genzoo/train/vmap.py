"""N seeds of one model trained as one: stacked parameters, vmapped losses, one optimizer step.

A small model's training step is a few tiny matrix products, so one run at a time leaves the
machine idle between kernel launches. :class:`VmapTrainer` takes N :class:`~genzoo.train.Trainer`
objects that differ only in their seed (each with its own model, data order, optimizer and
run folder) and trains them together:

- every parameter and buffer is stacked along a new leading dimension ``(N, *shape)``; a
  parameter is stored in the memory order its gradient arrives in under vmap (a Linear weight
  as ``(N, in, out)``, seen by the model as the ``(N, out, in)`` view), so no round copies it;
- each player's loss runs once for all members under ``torch.func.vmap`` over
  ``torch.func.functional_call`` of the first member's model (its module tree is the skeleton);
  so do ``after_step`` and stage ``on_start`` hooks, on the stacked tensors;
- the summed losses are differentiated with respect to the player's stacked parameters and one
  optimizer steps them all: Adam, RMSprop and SGD act element by element, so this is N
  optimizer steps at once; gradient clipping uses each member's own norm;
- each member draws its batches from its own loaders and its noise from its own generators
  (:mod:`genzoo.train.randomness`), advanced exactly as the global ones of a separate run
  seeded like it. Member ``i`` is therefore the run ``genzoo train ... --seed seed_i``, to
  float tolerance, and its checkpoints are that run's checkpoints, written by its own
  ``Trainer`` into its own folder: loadable and resumable on their own.

It *is* a Trainer (the same loop: stages, schedules, logging cadence, time budget, Ctrl-C),
whose update, logging, checkpoints and end are those of N members. A model that cannot run
this way (see :class:`NotVmappable`) is found by a probe round on copies before anything
changes; the caller then trains the members one after another.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..errors import GenzooError, NonFiniteLoss
from ..models.base import Player, Stage
from .ema import EMA
from .callbacks import Callback
from .loggers import loggers_for
from .optim import make_optimizer
from .randomness import Draw, Record, Replay, draw_bank
from .trainer import Trainer


class NotVmappable(Exception):
    """This model (or configuration) cannot be trained as one vmapped model; ``str`` says why."""


class _Call(nn.Module):
    """A module whose forward calls ``fn(*args)``: functional_call then swaps the model's tensors
    for the stacked ones around any bound method of the model (a player's loss, its hook)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


def _stack(objs: list[Any]) -> tuple[Any, Callable[[Any], Any]]:
    """Per-member values -> (the same structure with tensors stacked ``(N, ...)``, rebuild).

    Tensors are stacked; batches (dataclasses) and dicts recursively; anything else (``None``,
    numbers) is shared. ``rebuild`` turns the structure seen inside vmap back into the value.
    """
    v = objs[0]
    if isinstance(v, Tensor):
        return torch.stack(objs), lambda t: t
    if dataclasses.is_dataclass(v) or isinstance(v, dict):
        keys = [f.name for f in dataclasses.fields(v)] if dataclasses.is_dataclass(v) else list(v)
        get = (lambda o, k: getattr(o, k)) if dataclasses.is_dataclass(v) else (lambda o, k: o[k])
        parts = {k: _stack([get(o, k) for o in objs]) for k in keys}
        kind = type(v)

        def rebuild(t: dict[str, Any]) -> Any:
            fields = {k: parts[k][1](t.get(k)) for k in keys}
            return kind(**fields) if dataclasses.is_dataclass(v) else fields

        return {k: p[0] for k, p in parts.items() if p[0] is not None}, rebuild  # vmap takes tensors only
    return None, lambda t: v


def _padded(batch: Any) -> bool:
    """A batch (or dict of batches) of padded examples: its shape changes from batch to batch."""
    if isinstance(batch, dict):
        return any(_padded(b) for b in batch.values())
    return getattr(batch, "mask", None) is not None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160] if text else ''}"


class _StackedEMA:
    """The members' EMA shadows, stacked: one ``lerp`` for all of them (with :class:`EMA`'s warm-up)."""

    def __init__(self, params: list[Tensor], decay: float) -> None:
        self.params, self.decay = params, decay
        self.shadow = [p.detach().clone() for p in params]

    decay_at = EMA.decay_at

    @torch.no_grad()
    def update(self, k: int | None = None) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay_at(k))


class _Members(Callback):
    """The loop's sample and close hooks, passed on to every member's own callbacks."""

    def __init__(self, vt: "VmapTrainer") -> None:
        self.vt = vt

    def on_sample(self, trainer: Trainer, tag: str) -> None:
        for i, m in enumerate(self.vt.members):
            if i not in self.vt.failed:
                self.vt._to_member(i)  # the member's own model, as it stands now
                for cb in m.callbacks:
                    cb.on_sample(m, tag)

    def on_close(self, trainer: Trainer) -> None:
        for m in self.vt.members:
            for cb in m.callbacks:
                cb.on_close(m)


class VmapTrainer(Trainer):
    """Train ``members`` (Trainers of one model and configuration, seeds apart) as one model.

    Args:
        members: one :class:`Trainer` per seed, built as ``genzoo.train`` builds them (model
            initialised under its seed, its own run folder or ``None``).

    Raises:
        NotVmappable: with a one-line reason, before any state changes, when the members cannot
            be trained this way (fp16 loss scaling, compiled losses, a loss or hook that fails
            under vmap).
    """

    def __init__(self, members: list[Trainer]) -> None:
        if not members:
            raise GenzooError("a sweep needs at least one member")
        first = members[0]
        if first.cfg.precision == "fp16":
            raise NotVmappable("fp16 loss scaling skips a step for every member when one overflows; use bf16 or fp32")
        if first.cfg.compile:
            raise NotVmappable("train.compile compiles one model's loss, not the stacked one")
        for m in members[1:]:
            if type(m.model) is not type(first.model) or m.total != first.total or m.run is None and first.run is not None:
                raise GenzooError("the members of a sweep must be one model with one configuration, seeds apart")
        # the loop's own state (stages, schedules, totals) is the first member's; no run folder, no pictures
        super().__init__(first.model, first.data, first.cfg, run=None, callbacks=[_Members(self)])
        self.members, self.n = members, len(members)
        self._member_tensors = [dict(list(m.model.named_parameters()) + list(m.model.named_buffers())) for m in members]
        name_of = {id(t): n for n, t in self._member_tensors[0].items()}
        self.player_names = {p.name: [name_of[id(q)] for q in p.params] for p in first.players}
        self.param_names = [n for n, _ in first.model.named_parameters()]
        self.buffer_names = [n for n, _ in first.model.named_buffers()]
        self.params: dict[str, Tensor] = {}  # stacked leaves, in the memory order of their gradients
        self.order: dict[str, tuple[list[int], list[int]]] = {}  # leaf = view.permute(dims); view = leaf.permute(inv)
        self.buffers: dict[str, Tensor] = {}
        self.opts, self.ema = {}, None  # the first member's, made by Trainer.__init__, are not used
        for m in members:  # each member's own start (e.g. its labelled examples), before the probe round needs it
            m.model.on_fit_start(m.data)
        self._restack()
        self.call = _Call(first.model)
        self.gens = [self._generators(m.cfg.seed) for m in members]
        self.plans: dict[str, list[Draw]] = {}
        self.others: set[str] = set()  # random operations that are not redrawn per member
        self.failed: dict[int, str] = {}
        self._relayout(self._probe())
        self.opts = {p.name: make_optimizer([self.params[n] for n in self.player_names[p.name]], self.settings[p.name], self.device)
                     for p in self.players}
        decay = first.ema.decay if first.ema is not None else None  # train.ema, else the model's suggestion (Trainer.__init__)
        self.ema = _StackedEMA([self.params[n] for n in self._ema_names()], decay) if decay else None  # type: ignore[assignment]

    # -- members <-> stacked tensors ----------------------------------------------------------------
    def _ema_names(self) -> list[str]:
        return [n for n in self.param_names if self.params[n].dtype.is_floating_point]

    def _generators(self, seed: int) -> dict[str, torch.Generator]:
        """A member's stand-ins for the global generators of a separate run (``fit`` seeds them)."""
        gens = {"cpu": torch.Generator().manual_seed(seed)}
        if self.device.type == "cuda":
            gens["cuda"] = torch.Generator(self.device).manual_seed(seed)
        return gens

    @torch.no_grad()
    def _restack(self) -> None:
        """Stacked tensors (and optimizer states and EMA, once they exist) from the members'."""
        for names, into in ((self.param_names, self.params), (self.buffer_names, self.buffers)):
            for n in names:
                ts = torch.stack([mt[n].detach() for mt in self._member_tensors])
                if n in into:  # in place: the optimizers hold these tensors
                    self._view(n, into[n]).copy_(ts)
                else:
                    into[n] = ts.requires_grad_(self._member_tensors[0][n].requires_grad)
        for name, opt in self.opts.items():
            for j, n in enumerate(self.player_names[name]):
                states = [m.opts[name].state.get(m.players[self._pidx(name)].params[j]) for m in self.members]
                shape = self._member_tensors[0][n].shape
                if states[0]:  # per-parameter tensors (also of a 0-dim parameter) are stacked; the step count is shared
                    opt.state[self.params[n]] = {k: self._leaf(n, torch.stack([s[k] for s in states]))
                                                 if isinstance(v, Tensor) and k != "step" and v.shape == shape
                                                 else (v.clone() if isinstance(v, Tensor) else v) for k, v in states[0].items()}
            for g, g_member in zip(opt.param_groups, self.members[0].opts[name].param_groups):
                g["lr"] = g_member["lr"]
        if self.ema is not None:
            for j, (n, s) in enumerate(zip(self._ema_names(), self.ema.shadow)):
                self._view(n, s).copy_(torch.stack([m.ema.shadow[j] for m in self.members]))

    @torch.no_grad()
    def _relayout(self, grads: dict[str, Tensor]) -> None:
        """Store each stacked parameter in the memory order its gradient arrives in.

        Under vmap a ``Linear`` computes ``x @ W.mT`` as a ``bmm`` whose weight gradient comes out
        transposed, ``(N, in, out)`` in memory. Kept ``(N, out, in)``, the parameter would make
        autograd copy every gradient into its order (and a fused optimizer copy every non-contiguous
        parameter), strided copies that cost a fifth of an MNIST VAE round. So the leaf the
        optimizer steps is stored ``(N, in, out)``, contiguous, and the model sees the view
        ``leaf.mT``: the gradient arrives in the leaf's own order and the forward ``bmm`` reads
        ``W.mT`` contiguously. Values and shapes are unchanged; the member dimension stays first.
        """
        for n, g in grads.items():
            t = self.params[n]
            if g.is_contiguous() or g.shape != t.shape or g.dim() < 2:
                continue
            dims = [0] + sorted(range(1, g.dim()), key=lambda d: -g.stride(d))
            if not g.permute(dims).is_contiguous() or g.stride(0) < max(g.stride()[1:]):
                continue  # not a permutation of a dense layout with the member dimension outermost
            inv = [dims.index(d) for d in range(g.dim())]
            self.order[n] = (dims, inv)
            self.params[n] = t.detach().permute(dims).contiguous().requires_grad_(t.requires_grad)

    def _view(self, n: str, leaf: Tensor) -> Tensor:
        """The ``(N, *shape)`` view of a stacked leaf (or of a tensor laid out like it)."""
        return leaf.permute(self.order[n][1]) if n in self.order else leaf

    def _leaf(self, n: str, view: Tensor) -> Tensor:
        """An ``(N, *shape)`` tensor in the stored order of parameter ``n`` (contiguous)."""
        return view.permute(self.order[n][0]).contiguous() if n in self.order else view

    def _views(self) -> dict[str, Tensor]:
        return {n: self._view(n, t) for n, t in self.params.items()}

    def _pidx(self, name: str) -> int:
        return [p.name for p in self.players].index(name)

    @torch.no_grad()
    def _to_member(self, i: int) -> None:
        """Copy member ``i``'s slices into its own model, optimizers, EMA and counters."""
        m, mt = self.members[i], self._member_tensors[i]
        for n, t in list(self._views().items()) + list(self.buffers.items()):
            mt[n].copy_(t[i])
        for name, opt in self.opts.items():
            mp = m.players[self._pidx(name)].params
            for j, n in enumerate(self.player_names[name]):
                st, p = opt.state.get(self.params[n]), self.params[n]
                if st:  # per-parameter tensors are sliced; scalars (Adam's step) are shared
                    m.opts[name].state[mp[j]] = {k: self._view(n, v)[i].clone(memory_format=torch.contiguous_format)
                                                 if isinstance(v, Tensor) and k != "step" and v.shape == p.shape
                                                 else (v.clone() if isinstance(v, Tensor) else v) for k, v in st.items()}
            for g_member, g in zip(m.opts[name].param_groups, opt.param_groups):
                g_member["lr"] = g["lr"]
        if self.ema is not None and m.ema is not None:
            for n, s, t in zip(self._ema_names(), m.ema.shadow, self.ema.shadow):
                s.copy_(self._view(n, t)[i])
        m.step, m.elapsed, m.stage_index = self.step, self.elapsed, self.stage_index
        m._sums.clear()  # the open log window, saved with the checkpoint
        m._sums.update({k: v[i] for k, v in self._sums.items()})
        m._counts.clear()
        m._counts.update(self._counts)

    @contextlib.contextmanager
    def _member_rng(self, i: int) -> Iterator[None]:
        """The global generators set to member ``i``'s for the duration (and its own advanced after)."""
        gens = self.gens[i]
        cuda = [self.device] if "cuda" in gens else []
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(gens["cpu"].get_state())
            if cuda:
                torch.cuda.set_rng_state(gens["cuda"].get_state(), self.device)
            yield
            gens["cpu"].set_state(torch.get_rng_state())
            if cuda:
                gens["cuda"].set_state(torch.cuda.get_rng_state(self.device))

    # -- the vmapped calls ---------------------------------------------------------------------
    def _vcall(self, fn: Callable[..., Any], mode: Any, params: dict[str, Tensor], buffers: dict[str, Tensor],
               batch: tuple[Any, Callable[[Any], Any]] | None = None, bank: list[Tensor] | None = None) -> Any:
        """``fn(batch)`` (or ``fn()``) for every member at once, with its own tensors, batch and draws."""
        call = self.call
        tree, rebuild = batch if batch is not None else (None, None)

        def one(p: dict[str, Tensor], b: dict[str, Tensor], t: Any, bk: list[Tensor]) -> Any:
            tensors = ({f"model.{k}": v for k, v in p.items()}, {f"model.{k}": v for k, v in b.items()})
            with mode(bk):
                if rebuild is None:
                    functional_call(call, tensors, (fn,))
                    return next(iter(b.values())) if b else next(iter(p.values()))  # vmap wants a batched output
                return functional_call(call, tensors, (fn, rebuild(t)))

        in_dims = (0, 0, None if tree is None else 0, 0)
        return vmap(one, in_dims=in_dims, randomness="different")(params, buffers, tree, bank or [])

    def _probe(self) -> dict[str, Tensor]:
        """One round of every player on copies: records each loss's random draws, proves it vmaps.

        Returns each parameter's first gradient (its memory layout is what :meth:`_relayout` adopts).
        """
        params = {n: t.detach().clone().requires_grad_(t.requires_grad) for n, t in self.params.items()}
        grads: dict[str, Tensor] = {}

        def keep(name: str) -> Callable[[Tensor], None]:
            def hook(g: Tensor) -> None:
                grads.setdefault(name, g.detach())
            return hook

        for n, t in params.items():
            if t.requires_grad:
                t.register_hook(keep(n))
        buffers = {n: t.clone() for n, t in self.buffers.items()}
        loaders = [[loader.state_dict() for loader in self._loaders_of(m)] for m in self.members]
        loaders = [[{k: (v.clone() if isinstance(v, Tensor) else v) for k, v in s.items()} for s in ls] for ls in loaders]
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                self._round = {}
                for p in self.players:
                    if _padded(next(self._loaders_of(self.members[0])[0])):
                        raise NotVmappable("its batches are padded to their longest example (a mask), so members' "
                                           "batches differ in shape")
                    rec = Record()
                    out = self._vcall(p.loss, lambda bk: rec, params, buffers, self._batch(p, fresh=False))
                    if not isinstance(out, dict) or "loss" not in out or out["loss"].shape != (self.n,):
                        raise NotVmappable(f"player '{p.name}' must return a dict with a scalar 'loss'")
                    out["loss"].sum().backward(inputs=[params[n] for n in self.player_names[p.name]])
                    if p.after_step is not None:
                        self._vcall(p.after_step, lambda bk: contextlib.nullcontext(), params, buffers)
                    self.plans[p.name] = rec.draws
                    self.others |= rec.others
        except NotVmappable:
            raise
        except Exception as e:  # noqa: BLE001 - any failure under vmap means: train one by one
            raise NotVmappable(f"{type(self.model).__name__} does not run under torch.func.vmap ({_one_line(e)})") from None
        finally:
            self._round = {}
            for m, states in zip(self.members, loaders):
                for loader, s in zip(self._loaders_of(m), states):
                    loader.load_state_dict(s)
        return grads

    @staticmethod
    def _loaders_of(m: Trainer) -> list[Any]:
        return list(m.loaders.values()) if m.loaders else [m.loader]

    # -- the Trainer's hooks, for N members -----------------------------------------------------------
    def _batch(self, p: Player, fresh: bool) -> Any:
        """Every member's batch for ``p`` (as :meth:`Trainer._batch`), stacked: ``(tree, rebuild)``."""
        if p.stream is None:
            return _stack([next(m.loader) for m in self.members])
        for n in p.streams:
            if fresh or n not in self._round:
                self._round[n] = [next(m.loaders[n]) for m in self.members]
        if isinstance(p.stream, str):
            return _stack(self._round[p.stream])
        return _stack([{n: self._round[n][i] for n in p.streams} for i in range(self.n)])

    def _clip(self, grads: list[Tensor], max_norm: float) -> None:
        """``clip_grad_norm_`` of each member over its own slices of ``grads``."""
        sq = torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(1) for g in grads]).sum(0)  # (N,)
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def _update(self, p: Player, sums: dict[str, Tensor], prefix: str, index: int) -> None:
        opt = self.opts[p.name]
        mine = [self.params[n] for n in self.player_names[p.name]]
        plan = self.plans[p.name]
        for r in range(p.repeat):
            batch = self._batch(p, fresh=r > 0)
            bank = draw_bank(plan, self.gens)  # each member's noise from its own generators
            with self._autocast():
                out = self._vcall(p.loss, lambda bk: Replay(plan, bk), self._views(), self.buffers, batch, bank)
            loss = out["loss"]  # (N,)
            opt.zero_grad(set_to_none=True)
            loss.float().sum().backward(inputs=mine)  # member i's slice gets the gradient of its own loss
            if self.cfg.grad_clip:
                self._clip([t.grad for t in mine if t.grad is not None], self.cfg.grad_clip)
            opt.step()
            if p.after_step is not None:
                self._vcall(p.after_step, lambda bk: contextlib.nullcontext(), self._views(), self.buffers)
            for k, v in out.items():
                key = prefix + k
                v = v.detach().float()
                sums[key] = sums[key] + v if key in sums else v.clone()
            first = (self._bad_step < 0) & ~torch.isfinite(loss.detach())  # (N,): each member's first bad round
            self._bad_step = torch.where(first, self.step, self._bad_step)
            self._bad_player = torch.where(first, index, self._bad_player)
        self._counts[prefix] = self._counts.get(prefix, 0) + p.repeat

    def _start_stage(self, stage: Stage) -> None:
        self._vcall(lambda: stage.on_start(self.model), lambda bk: contextlib.nullcontext(), self._views(), self.buffers)  # type: ignore[misc]

    def _check_finite(self) -> None:
        """A member whose loss turned non-finite stops: no more rows or checkpoints (its last good
        checkpoint stays) while the others go on; only when every member has failed is it an error."""
        steps = self._bad_step.expand(self.n).tolist()
        players = self._bad_player.expand(self.n).tolist()
        for i, (step, idx) in enumerate(zip(steps, players)):
            if step >= 0 and i not in self.failed:
                m = self.members[i]
                last = m.run.latest_checkpoint() if m.run else None
                where = f"its last good checkpoint is {last}" if last else "no checkpoint was written yet"
                self.failed[i] = (f"seed {m.cfg.seed}: the loss of player '{self.players[idx].name}' became non-finite "
                                  f"at step {step + 1}; {where}")
        if len(self.failed) == self.n:
            raise NonFiniteLoss(self.failed[0] + ". Lower train.lr, set train.grad_clip, or check the data.")

    def _log(self, sums: dict[str, Tensor], speed: float, progress: Any, task: Any) -> dict[str, Any]:
        """One metrics row per member, in its own folder and to its own loggers."""
        self._check_finite()
        host = {k: v.tolist() for k, v in sums.items()}
        rows = []
        for i, m in enumerate(self.members):
            row: dict[str, Any] = {"step": self.step, "epoch": round(m.loader.epoch + m.loader.pos / max(1, m.loader.batches_per_epoch), 3)}
            for k, v in host.items():
                prefix = k.split("/")[0] + "/" if "/" in k else ""
                row[k] = v[i] / max(1, self._counts.get(prefix, 1))
            row["steps_per_s"] = round(speed, 2)  # every member advanced this many rounds per second
            row["time"] = round(self.elapsed, 2)
            rows.append(row)
            if i not in self.failed:
                if m.run is not None:
                    m.run.append_metrics(row)
                for cb in m.callbacks:
                    cb.on_log(m, row)
        if progress is not None:
            loss = [r.get("loss", r.get(f"{self.players[-1].name}/loss")) for r in rows]
            shown = " ".join(f"{v:.3g}" for v in loss if isinstance(v, float))
            progress.update(task, losses=f"{self.n} seeds, loss {shown}", speed=f"{speed:.0f} it/s")
        return rows[0]

    def checkpoint(self) -> Path | None:
        """Each member's checkpoint, written by its own Trainer in the format of a single run."""
        for i, m in enumerate(self.members):
            if i in self.failed:
                continue
            self._to_member(i)
            if m.run is not None:
                with self._member_rng(i):
                    tensors, meta = m.state()
                m.run.save_checkpoint(self.step, tensors, meta, self.cfg.keep_checkpoints)
                m.save_weights()
        return None

    def _finish(self) -> None:
        for i, m in enumerate(self.members):
            if i not in self.failed:
                with self._member_rng(i):
                    m._finish()

    def _restore(self, ckpt: Path | None = None) -> None:
        """Every member from its checkpoint at the latest step all of them reached."""
        steps = None
        for m in self.members:
            if m.run is None:
                raise GenzooError("resuming a sweep needs its members' run folders")
            have = {int(d.name.split("_")[1]) for d in m.run.ckpt_root.glob("step_*")} if m.run.ckpt_root.is_dir() else set()
            steps = have if steps is None else steps & have
        if not steps:
            raise GenzooError("the sweep's members share no checkpoint step; resume them one by one with `genzoo train --resume`")
        step = max(steps)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            for i, m in enumerate(self.members):
                m._restore(m.run.ckpt_root / f"step_{step:07d}")  # sets the global generators to the member's
                self.gens[i]["cpu"].set_state(torch.get_rng_state())
                if "cuda" in self.gens[i]:
                    self.gens[i]["cuda"].set_state(torch.cuda.get_rng_state(self.device))
        self._restack()
        first = self.members[0]
        self.step, self.elapsed, self.stage_index = first.step, first.elapsed, first.stage_index
        self._sums.clear()
        self._sums.update({k: torch.stack([m._sums[k] for m in self.members]) for k in first._sums})
        self._counts.clear()
        self._counts.update(first._counts)
        for m in self.members:  # rows the interrupted sweep wrote after this checkpoint come again
            m.run.truncate_metrics(self.step)  # type: ignore[union-attr]
        if self.step > self.total:
            raise GenzooError(f"the sweep's checkpoints are at step {self.step}, beyond the requested {self.total}; pass a larger --steps")

    def fit(self, resume: Path | bool | None = None) -> nn.Module:  # type: ignore[override]
        """Train every member to ``total`` rounds (from their latest common checkpoint when ``resume``)."""
        for m in self.members:  # each member's own start (e.g. its labelled examples), then stacked again
            m.model.on_fit_start(m.data)
        self._restack()
        for m in self.members:
            m.model.train()
            if m.run is not None and not m._loggers:  # what Trainer.fit adds: the chosen loggers
                m.callbacks += loggers_for(m.cfg.logger)
                m._loggers = True
        return super().fit(resume=Path() if resume else None)

    @property
    def models(self) -> list[nn.Module]:
        return [m.model for m in self.members]


__all__ = ["NotVmappable", "VmapTrainer"]
