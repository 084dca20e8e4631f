"""The Python entry points the CLI is thin over: build, train, load.

Example:
    >>> import genzoo
    >>> data = genzoo.load_data("8gaussians", n_train=2000, n_test=500)
    >>> model = genzoo.build("vae", data.info, latent_dim=2)
    >>> run = genzoo.train(model, data, steps=20, progress=False)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import Spec, fields_of, resolve
from .data import Data, DataInfo, load_data
from .errors import GenzooError
from .models.base import GenerativeModel
from .registry import MODELS
from .train import RunDir, TrainConfig, Trainer
from .train.checkpoint import load_model_state, load_tensors


def build(name: str, info: DataInfo, **options: Any) -> GenerativeModel:
    """Build registered model ``name`` for data described by ``info``; unknown options are errors.

    Networks, priors and likelihoods are nested options: a type name or a mapping with a type
    (``encoder={"type": "conv", "width": 64}``, ``prior="vamp"``); see :mod:`genzoo.config`.
    """
    factory = MODELS.get(name)
    kwargs = resolve(factory, options, "model", skip=1, info=info)
    model = factory(info, **kwargs)
    model.genzoo_config = {"type": MODELS.canonical(name), **{k: v.to_dict() if isinstance(v, Spec) else v for k, v in kwargs.items()}}
    return model


def train_config(**options: Any) -> TrainConfig:
    return TrainConfig(**resolve(TrainConfig, options, "train"))


def new_run_dir(out: str | Path | None, model_name: str, data_name: str) -> RunDir:
    """A fresh run folder; an existing non-empty ``out`` is refused (never overwritten)."""
    if out is None:
        stem = f"{model_name}-{data_name.replace(':', '_').replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = Path("runs") / stem
        i = 1
        while out.exists():
            out = Path("runs") / f"{stem}-{i}"
            i += 1
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GenzooError(f"run folder {out} already exists and is not empty; choose another --out, or continue it with --resume {out}")
    out.mkdir(parents=True, exist_ok=True)
    return RunDir(out)


def train(
    model: GenerativeModel | str,
    data: Data | str,
    out: str | Path | None = None,
    *,
    model_options: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    **train_options: Any,
) -> Trainer:
    """Train a model (a registered name or your own ``GenerativeModel``) and write a run folder.

    Args:
        model: registry name (``"vae"``) or a model instance built from your own networks.
        data: registry name (``"mnist"``, ``"folder:/path"``) or a :class:`~genzoo.data.Data`.
        out: run folder; default ``runs/MODEL-DATA-TIME``. ``None`` with ``out=False`` is not
            supported; pass a path.
        model_options / data_options: options of the registered factories.
        train_options: fields of :class:`~genzoo.train.TrainConfig` (``steps``, ``lr``, ...).

    Returns:
        The :class:`Trainer`, after training (``trainer.model``, ``trainer.run``).
    """
    cfg = train_config(**train_options)
    data_cfg: dict[str, Any]
    if isinstance(data, str):
        data_cfg = {"type": data, **(data_options or {})}
        data = load_data(data, **(data_options or {}))
    else:
        data_cfg = {"type": data.info.name}
    torch.manual_seed(cfg.seed)
    if isinstance(model, str):
        model = build(model, data.info, **(model_options or {}))
    model_cfg = getattr(model, "genzoo_config", {"type": None, "class": type(model).__name__})
    run = new_run_dir(out, model_cfg["type"] or type(model).__name__.lower(), data.info.name)
    config = {
        "genzoo": __version__,
        "model": model_cfg,
        "data": data_cfg,
        "train": cfg.to_dict(),
        "data_info": data.info.to_dict(),
    }
    run.save_config(config)
    trainer = Trainer(model, data, cfg, run, callbacks)
    trainer.fit()
    return trainer


def resume(run_dir: str | Path, callbacks: list[Any] | None = None, **train_overrides: Any) -> Trainer:
    """Continue a run from its latest checkpoint (``steps`` may be raised)."""
    run = RunDir.existing(run_dir)
    config = run.config()
    allowed = {"steps", "epochs", "progress", "log_every", "sample_every", "checkpoint_every", "device", "threads"}
    bad = sorted(set(train_overrides) - allowed)
    if bad:
        raise GenzooError(f"train.{bad[0]} cannot change when resuming; only {', '.join(sorted(allowed))} can")
    cfg = train_config(**{**config["train"], **train_overrides})
    ckpt = run.latest_checkpoint()
    if ckpt is None:
        raise GenzooError(f"{run.path} has no checkpoint to resume from; start a new run instead")
    data = _data_for(config)
    torch.manual_seed(cfg.seed)
    model = _model_for(config)
    trainer = Trainer(model, data, cfg, run, callbacks)
    if trainer.total <= int(RunDir.load_checkpoint(ckpt)[1]["step"]):
        raise GenzooError(f"{run.path} already reached step {trainer.total}; pass a larger --steps to continue")
    new_train = cfg.to_dict()
    trainer.fit(resume=ckpt)
    config["train"] = new_train
    run.save_config(config)
    return trainer


def _data_for(config: dict[str, Any]) -> Data:
    d = dict(config["data"])
    name = d.pop("type")
    return load_data(name, **d)


def _model_for(config: dict[str, Any]) -> GenerativeModel:
    m = dict(config["model"])
    name = m.pop("type", None)
    if name is None:
        raise GenzooError("this run holds a custom model; rebuild it yourself and pass it: genzoo.load(run, model=my_model)")
    return build(name, DataInfo.from_dict(config["data_info"]), **m)


def load(run_dir: str | Path, *, ema: bool = False, model: GenerativeModel | None = None, device: str | None = None) -> GenerativeModel:
    """Rebuild a trained model from its run folder (config + safetensors; nothing is unpickled).

    Args:
        run_dir: a folder written by :func:`train` or ``genzoo train``.
        ema: load the EMA weights (``ema.safetensors``) instead of the raw ones.
        model: for runs of custom models: an instance with the same architecture.
        device: where to put the model (default cpu).
    """
    run = RunDir.existing(run_dir)
    config = run.config()
    if model is None:
        model = _model_for(config)
    path = run.ema_path if ema else run.weights_path
    load_model_state(model, load_tensors(path), path)
    return model.to(device or "cpu").eval()
