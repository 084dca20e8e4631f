"""Seed sweeps: one model trained under N seeds at once, evaluated per seed, reported as mean ± std.

A sweep folder holds one ordinary run folder per seed, so every member is a run like any
other (``genzoo.load(OUT / "seed_3")``, ``genzoo eval OUT/seed_3``, ``genzoo sample``,
even ``genzoo train --resume OUT/seed_3`` on its own)::

    OUT/sweep.yaml    what was swept: model, data, train settings, seeds, engine (and why)
    OUT/seed_0/ ...   member runs: config.yaml (train.seed = 0), weights, checkpoints, metrics
    OUT/sweep.json    per-seed figures and their mean ± std (final losses, evaluated metrics)

Small models are trained as one vmapped model (:class:`~genzoo.train.vmap.VmapTrainer`):
N times the work per kernel launch, and each member still the exact run of its seed (same
initialisation, data order and noise, to float tolerance). A model that cannot run under
``torch.func.vmap`` is trained one seed after another instead, and the sweep says why in one
line.

Example:
    >>> import genzoo
    >>> res = genzoo.sweep("vae", "8gaussians", seeds=4, steps=2000, metrics="modes")  # doctest: +SKIP
    >>> res.summary["metrics"]["modes"]["value"]                                           # doctest: +SKIP
    {'mean': 7.75, 'std': 0.5, 'values': [8.0, 8.0, 7.0, 8.0], 'seeds': [0, 1, 2, 3]}
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from .. import __version__
from ..api import _model_for, prepared, train_config
from ..config import atomic_write_bytes, load_yaml, save_yaml
from ..data import Data, DataInfo, load_data
from ..errors import GenzooError
from ..models.base import GenerativeModel
from ..train import RunDir, Trainer
from ..train.distributed import world
from ..train.vmap import NotVmappable, VmapTrainer

SWEEP_FILE = "sweep.yaml"
SUMMARY_FILE = "sweep.json"


def member_name(seed: int) -> str:
    return f"seed_{seed}"


def is_sweep(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def seed_list(seeds: int | Iterable[int], first: int = 0) -> list[int]:
    """``4`` -> ``[first, ..., first + 3]``; a list is checked (at least one, no repeats)."""
    if isinstance(seeds, bool):
        raise GenzooError(f"--seeds must be a number of seeds or a list of them, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise GenzooError(f"--seeds must be at least 1, got {seeds}; a sweep trains one run per seed")
        return list(range(first, first + seeds))
    out = [int(s) for s in seeds]
    if not out:
        raise GenzooError("the list of seeds is empty; give at least one")
    if len(set(out)) != len(out):
        raise GenzooError(f"the seeds {out} repeat; each member needs its own seed")
    return out


def _number(v: Any) -> float | None:
    """A figure as a float (eval.json writes non-finite ones as "nan"/"inf"), else ``None``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return float(v) if v in ("nan", "inf", "-inf") else None


def mean_std(values: list[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (n - 1; 0 for one value) of finite ``values``."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": m, "std": sd, "n": len(vals)}


def pm(stats: dict[str, Any], spec: str = ".4g") -> str:
    """``"7.8 ± 0.45"`` from :func:`mean_std`'s result."""
    if stats.get("mean") is None:
        return "n/a"
    return f"{format(stats['mean'], spec)} ± {format(stats['std'], spec)}"


@dataclass
class Sweep:
    """What :func:`sweep` returns.

    Attributes:
        path: the sweep folder.
        seeds: the members' seeds, in order.
        trainers: the members' trainers after training (``trainers[i].model``).
        engine: ``vmap`` or ``sequential``.
        reason: why the members were trained one after another (``None`` for vmap).
        summary: the contents of ``sweep.json``.
    """

    path: Path
    seeds: list[int]
    trainers: list[Trainer]
    engine: str
    reason: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[GenerativeModel]:
        return [t.model for t in self.trainers]


def _default_out(name: str, data_name: str) -> Path:
    stem = f"sweep-{name}-{data_name.replace(':', '_').replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = Path("runs") / stem, 1
    while out.exists():
        out, i = Path("runs") / f"{stem}-{i}", i + 1
    return out


def _train(trainers: list[Trainer], sequential: str | None, resume: bool,
           on_message: Callable[[str], None]) -> tuple[str, str | None]:
    """Train the members together when they can be, else one by one (``sequential`` says why).

    Returns ``(engine, reason)``: ``("vmap", None)`` or ``("sequential", why)``.
    """
    reason = sequential
    if reason is None and len(trainers) == 1:
        reason = "a single seed"
    elif reason is None:
        try:
            vt = VmapTrainer(trainers)
        except NotVmappable as e:
            reason = str(e)
        else:
            if vt.others:
                on_message(f"note: {', '.join(sorted(vt.others))} draw from one generator shared by the members: "
                           "each seed gets its own draws, but not those of a separate run")
            vt.fit(resume=resume)
            return "vmap", None
    on_message(f"training the {len(trainers)} seeds one after another: {reason}")
    for t in trainers:
        ckpt = t.run.latest_checkpoint() if (resume and t.run is not None) else None
        if ckpt is not None and int(RunDir.load_checkpoint(ckpt)[1]["step"]) >= t.total:
            continue  # this member had finished before the interruption
        t.fit(resume=ckpt)
    return "sequential", reason


def sweep(
    model: str | Callable[[DataInfo], GenerativeModel],
    data: str | Data,
    seeds: int | Iterable[int] = 5,
    out: str | Path | None = None,
    *,
    model_options: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    metrics: str | Iterable[str] | None = None,
    n: int = 10_000,
    eval_options: dict[str, dict[str, Any]] | None = None,
    sequential: bool = False,
    callbacks: Callable[[], list[Any]] | None = None,
    on_message: Callable[[str], None] = print,
    **train_options: Any,
) -> Sweep:
    """Train ``model`` on ``data`` under several seeds (vmapped when possible) and summarise them.

    Args:
        model: a registered name, or a function ``info -> model`` (called under each seed).
        data: a registered name (with ``data_options``) or a :class:`~genzoo.data.Data`,
            shared by all members (each draws its own batches from it).
        seeds: how many (counting from ``train.seed``, default 0) or which seeds.
        out: the sweep folder (default ``runs/sweep-MODEL-DATA-TIME``); must not exist yet.
        model_options / data_options: as for :func:`genzoo.train`.
        metrics: evaluate every member with these metrics (:func:`genzoo.evaluate`) and add
            their mean ± std to the summary; ``None``: only the final losses are summarised.
        n: samples / test examples per metric.
        eval_options: per-metric options, e.g. ``{"modes": {"n_samples": 2500}}``.
        sequential: train the seeds one after another even if they could be vmapped.
        callbacks: a function returning each member's trainer callbacks (default: pictures).
        on_message: receives one-line notes (why the sweep is sequential, ...).
        train_options: fields of :class:`~genzoo.train.TrainConfig`, the same for every member.

    Returns:
        A :class:`Sweep` (the trained members, the engine used and the summary).
    """
    if world() is not None:
        raise GenzooError("a sweep trains its seeds in one process; start `genzoo sweep` without torchrun")
    first = int(train_options.pop("seed", 0))
    seed_ids = seed_list(seeds, first)
    train_config(**train_options)  # validate before touching data or disk
    if isinstance(data, str):
        data_cfg: dict[str, Any] = {"type": data, **(data_options or {})}
        data = load_data(data, **(data_options or {}))
    else:
        data_cfg = {"type": data.info.name}
    name = model if isinstance(model, str) else getattr(model, "__name__", "model")
    root = Path(out) if out is not None else _default_out(name, data.info.name)
    if root.exists() and any(root.iterdir()):
        raise GenzooError(f"sweep folder {root} already exists and is not empty; choose another --out, or continue it with --resume {root}")
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as members:  # each member's folder stays locked while the sweep trains
        try:
            trainers = [
                members.enter_context(prepared(model, data, root / member_name(s), model_options=model_options,
                                               data_config=data_cfg, callbacks=callbacks() if callbacks else None,
                                               seed=s, **train_options))
                for s in seed_ids
            ]
        except BaseException:  # refused while building (each member removes its own folder): leave no empty sweep folder
            members.close()
            if made and root.is_dir() and not any(root.iterdir()):
                root.rmdir()
            raise
        manifest = {
            "genzoo": __version__, "model": trainers[0].run.config()["model"] if trainers[0].run else {"type": name},
            "data": data_cfg, "train": {k: v for k, v in trainers[0].cfg.to_dict().items() if k != "seed"},
            "seeds": seed_ids, "members": [member_name(s) for s in seed_ids], "engine": None, "reason": None,
        }
        save_yaml(root / SWEEP_FILE, manifest)
        engine, reason = _train(trainers, "asked for (--sequential)" if sequential else None, False, on_message)
        manifest.update(engine=engine, reason=reason)
        save_yaml(root / SWEEP_FILE, manifest)
    summary = summarise(root, metrics, run_eval=metrics is not None, n=n, options=eval_options, data=data)
    return Sweep(root, seed_ids, trainers, engine, reason, summary)


def resume_sweep(path: str | Path, *, model: Callable[[DataInfo], GenerativeModel] | None = None,
                 data: Data | None = None, sequential: bool = False, callbacks: Callable[[], list[Any]] | None = None,
                 on_message: Callable[[str], None] = print, **train_overrides: Any) -> Sweep:
    """Continue an interrupted sweep from its members' checkpoints (``steps`` may be raised).

    ``model`` rebuilds the members of a sweep of your own model (``info -> model``, as given to
    :func:`sweep`); ``data`` is the data when it cannot be reloaded by name.
    """
    root = Path(path)
    if not is_sweep(root):
        raise GenzooError(f"{root} is not a sweep folder (no {SWEEP_FILE}); resume a single run with `genzoo train --resume`")
    manifest = load_yaml(root / SWEEP_FILE)
    allowed = {"steps", "epochs", "progress", "log_every", "sample_every", "checkpoint_every", "device", "threads"}
    bad = sorted(set(train_overrides) - allowed)
    if bad:
        raise GenzooError(f"train.{bad[0]} cannot change when resuming; only {', '.join(sorted(allowed))} can")
    trainers = []
    with contextlib.ExitStack() as locks:
        for m in manifest["members"]:
            run = RunDir.existing(root / m)
            locks.enter_context(run.lock())  # a second resume of the same sweep is refused
            cfg = run.config()
            tcfg = train_config(**{**cfg["train"], **train_overrides})
            if data is None:
                d = dict(cfg["data"])
                data = load_data(d.pop("type"), **d)
            torch.manual_seed(tcfg.seed)
            net = model(data.info) if model is not None else _model_for(cfg)
            trainers.append(Trainer(net, data, tcfg, run, callbacks() if callbacks else None))
            cfg["train"] = tcfg.to_dict()
            run.save_config(cfg)
        # a sequential sweep stays sequential: its members may stand at different steps
        forced = "asked for (--sequential)" if sequential else manifest.get("reason") if manifest.get("engine") == "sequential" else None
        engine, reason = _train(trainers, forced, True, on_message)
    manifest.update(engine=engine, reason=reason)
    save_yaml(root / SWEEP_FILE, manifest)
    return Sweep(root, list(manifest["seeds"]), trainers, engine, reason, summarise(root))


def summarise(path: str | Path, metrics: str | Iterable[str] | None = None, *, run_eval: bool = False, n: int = 10_000,
              options: dict[str, dict[str, Any]] | None = None, data: Data | None = None, seed: int = 0,
              device: str | None = None, data_root: str | Path | None = None) -> dict[str, Any]:
    """Per-seed figures of a sweep and their mean ± std, written to ``sweep.json``.

    Always: each member's last logged losses. With ``run_eval``: each member is evaluated with
    ``metrics`` (:func:`genzoo.evaluate`; ``None``: every applicable one; results also in its
    ``eval.json``) and every numeric figure of a metric (its value and extras such as
    ``high_quality``) is summarised; without, figures evaluated earlier are kept.
    """
    root = Path(path)
    if not is_sweep(root):
        raise GenzooError(f"{root} is not a sweep folder (no {SWEEP_FILE}); pass the folder `genzoo sweep` wrote")
    manifest = load_yaml(root / SWEEP_FILE)
    seeds, members = list(manifest["seeds"]), list(manifest["members"])
    losses: dict[str, list[float]] = {}
    for m in members:
        rows = RunDir(root / m).metrics()
        last = rows[-1] if rows else {}
        for k, v in last.items():
            if k.endswith("loss") and isinstance(v, (int, float)):
                losses.setdefault(k, []).append(float(v))
    summary: dict[str, Any] = {"seeds": seeds, "engine": manifest.get("engine"), "reason": manifest.get("reason"),
                               "final_losses": {k: {**mean_std(v), "values": v} for k, v in losses.items()}}
    if run_eval:
        from ..evaluate import evaluate  # evaluation sits beside loops, above api

        per: dict[str, dict[str, list[Any]]] = {}
        for m in members:
            res = evaluate(root / m, metrics, n=n, data=data, seed=seed, options=options, device=device, data_root=data_root)
            for name, r in res["metrics"].items():
                for k, v in r.items():
                    if k not in ("stderr", "higher_is_better") and _number(v) is not None:
                        per.setdefault(name, {}).setdefault(k, []).append(_number(v))
                if r.get("value") is None:
                    per.setdefault(name, {}).setdefault("value", []).append(float("nan"))
        summary["metrics"] = {name: {k: {**mean_std(v), "values": v} for k, v in figs.items()} for name, figs in per.items()}
        summary["eval"] = {"n": n, "seed": seed, "options": options or {}}
    elif (root / SUMMARY_FILE).is_file():  # keep metrics evaluated earlier
        old = json.loads((root / SUMMARY_FILE).read_text())
        for k in ("metrics", "eval"):
            if k in old:
                summary[k] = old[k]
    atomic_write_bytes(root / SUMMARY_FILE, json.dumps(summary, indent=1, default=str).encode())
    return summary
