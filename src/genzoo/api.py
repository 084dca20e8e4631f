"""The Python entry points the CLI is thin over: build, train, load.

Example:
    >>> import genzoo
    >>> data = genzoo.load_data("8gaussians", n_train=2000, n_test=500)
    >>> model = genzoo.build("vae", data.info, latent_dim=2)
    >>> run = genzoo.train(model, data, steps=20, progress=False)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ._version import __version__
from .config import Spec, resolve
from .data import DATA_KINDS, Data, DataInfo, kind_of, load_data
from .errors import GenzooError
from .models.base import GenerativeModel
from .registry import MODELS
from .train import RunDir, TrainConfig, Trainer
from .train.checkpoint import RunLock, load_model_state, load_tensors
from .train.distributed import check_split, is_main, trainer_class, world


def build(name: str, info: DataInfo, **options: Any) -> GenerativeModel:
    """Build registered model ``name`` for data described by ``info``; unknown options are errors.

    Networks, priors and likelihoods are nested options: a type name or a mapping with a type
    (``encoder={"type": "conv", "width": 64}``, ``prior="vamp"``); see :mod:`genzoo.config`.
    Options are typed and range-checked first; then the model is built on PyTorch's ``meta``
    device (no memory) to count its parameters, and one too large for this machine's memory
    is refused before anything is allocated.
    """
    return _build(name, info, options, copies=1)


def _build(name: str, info: DataInfo, options: dict[str, Any], copies: int) -> GenerativeModel:
    factory = MODELS.get(name)
    kinds = MODELS.meta(name).get("data_kinds", ("points", "image"))
    # a model of float data (images, points) takes any float data; a model of tokens takes tokens
    if info.kind not in kinds and kind_of(info).float_data not in {DATA_KINDS.get(k).float_data for k in kinds}:
        raise GenzooError(f"model '{MODELS.canonical(name)}' takes {' or '.join(kinds)} data, but {info.name} holds {info.kind} data; "
                          "see `genzoo models` for the models of each kind")
    kwargs = resolve(factory, options, "model", skip=1, info=info)
    check_size(factory, info, kwargs, MODELS.canonical(name), copies)
    model = factory(info, **kwargs)
    model.genzoo_config = {"type": MODELS.canonical(name), **{k: v.to_dict() if isinstance(v, Spec) else v for k, v in kwargs.items()}}
    return model


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_size(factory: Callable[..., Any], info: DataInfo, kwargs: dict[str, Any], name: str, copies: int = 1) -> None:
    """Refuse a model whose float32 parameters, times ``copies``, exceed the memory available.

    The model is built on the ``meta`` device, which allocates nothing; ``copies = 4`` for
    training (weights, gradients and Adam's two moments). A factory that cannot run on
    ``meta`` is not measured.
    """
    try:
        with torch.device("meta"):
            probe = factory(info, **kwargs)
        n = sum(t.numel() for t in probe.parameters()) + sum(t.numel() for t in probe.buffers())
    except GenzooError:
        raise
    except Exception:  # noqa: BLE001 - not measurable on meta; the real build reports its own problems
        return
    need, have = 4 * n * copies, available_memory()
    if have is not None and need > have:
        sizes = _size_options(kwargs, "model.")
        what = "to train (weights, gradients, Adam moments)" if copies > 1 else "as float32"
        raise GenzooError(
            f"model {name} with these options has {n:,} parameters, {need / 2**30:.1f} GiB {what}, more than the "
            f"{have / 2**30:.1f} GiB of memory available; lower its sizes ({', '.join(sizes[:6])})"
        )


def _size_options(options: dict[str, Any], prefix: str) -> list[str]:
    """Dotted paths of the whole-number options (sizes) among ``options``, nested components included."""
    out: list[str] = []
    for k, v in options.items():
        if isinstance(v, Spec):
            out += _size_options(v.options, f"{prefix}{k}.")
        elif isinstance(v, (int, tuple)) and not isinstance(v, bool) and (not isinstance(v, tuple) or all(isinstance(x, int) for x in v)):
            out.append(prefix + k)
    return sorted(out, key=lambda p: (not isinstance(_get(options, p[len(prefix):]), tuple), p))


def _get(options: dict[str, Any], path: str) -> Any:
    v: Any = options
    for part in path.split("."):
        v = v.options.get(part) if isinstance(v, Spec) else v.get(part) if isinstance(v, dict) else None
    return v


def train_config(**options: Any) -> TrainConfig:
    """A :class:`TrainConfig` from ``train.*`` options, typed and range-checked."""
    if "tensorboard" in options:  # configs written before train.logger existed
        on = options.pop("tensorboard")
        options.setdefault("logger", "auto" if on else "none")
    return TrainConfig(**resolve(TrainConfig, options, "train"))


def _empty(folder: Path) -> bool:
    """Nothing in ``folder`` but (perhaps) a lock file."""
    return all(p.name == ".lock" for p in folder.iterdir())


def new_run_dir(out: str | Path | None, model_name: str, data_name: str) -> tuple[RunDir, RunLock, bool]:
    """A fresh run folder, locked for this process; an existing non-empty ``out`` is refused.

    Returns:
        The folder, its held lock, and whether this call created the folder (so a failure
        before training wrote anything can remove it again).
    """
    if out is None:
        stem = f"{model_name}-{data_name.replace(':', '_').replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
        for i in range(1000):
            path = Path("runs") / (stem if i == 0 else f"{stem}-{i}")
            if path.exists():
                continue
            try:
                return new_run_dir(path, model_name, data_name)
            except GenzooError:  # taken by a process started in the same second: the next name
                continue
        raise GenzooError(f"could not find a free run folder name under runs/ for {stem}; pass --out")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise GenzooError(f"--out {path} is a file, not a folder; choose another --out")
    if path.is_dir() and not _empty(path):
        raise GenzooError(f"run folder {path} already exists and is not empty; choose another --out, or continue it with --resume {path}")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenzooError(f"cannot create run folder {path} ({e.strerror or e}); choose a writable --out") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise GenzooError(f"run folder {path} is not writable; choose a writable --out")
    run = RunDir(path)
    lock = run.lock()  # a second process on the same --out is refused here
    if not _empty(path):  # another process filled it between our check and our lock
        lock.release()
        raise GenzooError(f"run folder {path} already exists and is not empty; choose another --out, or continue it with --resume {path}")
    return run, lock, created


def _discard(run: RunDir, created: bool) -> None:
    """Remove a run folder whose training failed before writing a metric or a checkpoint.

    Such a folder holds only ``config.yaml`` (and the lock); left behind, it would block a
    retry with the same ``--out``. Folders with anything of value are kept.
    """
    if (run.metrics_path.is_file() or run.weights_path.is_file()
            or (run.ckpt_root.is_dir() and any(run.ckpt_root.glob("step_*")))):
        return
    if created:
        shutil.rmtree(run.path, ignore_errors=True)
    else:
        for p in run.path.iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


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

    Raises:
        GenzooError: any bad option, model size, data or ``out``, all found before the run
            folder is created; or a run folder held by another process (the folder is locked
            while training).
    """
    with prepared(model, data, out, model_options=model_options, data_options=data_options, callbacks=callbacks,
                  **train_options) as trainer:
        trainer.fit()
    return trainer


@contextlib.contextmanager
def prepared(
    model: GenerativeModel | str | Callable[[DataInfo], GenerativeModel],
    data: Data | str,
    out: str | Path | None = None,
    *,
    model_options: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    data_config: dict[str, Any] | None = None,
    **train_options: Any,
) -> Iterator[Trainer]:
    """Everything :func:`train` does around ``fit``: the trainer, inside its locked run folder.

    Options, data, model and trainer are checked before the folder is made; the folder is
    locked until the block ends, and removed again if the block fails before anything of value
    was written. ``model`` may also be a function ``info -> model``, called once the global
    generator is seeded with ``train.seed`` (so its initialisation is the seed's);
    ``data_config`` records how to reload ``data`` given as a :class:`~genzoo.data.Data`
    (default: its name). Under ``torchrun`` only rank 0 makes and writes the folder.
    """
    cfg = train_config(**train_options)
    if world() is not None:  # under torchrun: every process must get an equal share of the batch
        check_split(cfg.batch_size, world().size)  # type: ignore[union-attr]
    if isinstance(model, str):
        resolve(MODELS.get(model), model_options or {}, "model", skip=1)  # types and ranges before the data is loaded
    data_cfg: dict[str, Any]
    if isinstance(data, str):
        data_cfg = {"type": data, **(data_options or {})}
        data = load_data(data, **(data_options or {}))
    else:
        data_cfg = dict(data_config) if data_config is not None else {"type": data.info.name}
    torch.manual_seed(cfg.seed)
    if isinstance(model, str):
        model = _build(model, data.info, dict(model_options or {}), copies=4)
    elif not isinstance(model, GenerativeModel):
        model = model(data.info)
    model_cfg = getattr(model, "genzoo_config", {"type": None, "class": type(model).__name__})
    # checks device, batch size, players: before any folder
    trainer = trainer_class()(model, data, cfg, None, callbacks)
    if not is_main():  # under torchrun, rank 0 alone makes and writes the run folder
        yield trainer
        return
    run, lock, created = new_run_dir(out, model_cfg["type"] or type(model).__name__.lower(), data.info.name)
    try:
        config = {
            "genzoo": __version__,
            "model": model_cfg,
            "data": data_cfg,
            "train": cfg.to_dict(),
            "data_info": data.info.to_dict(),
        }
        try:
            run.save_config(config)
            trainer.run = run
            yield trainer
        except BaseException:
            _discard(run, created)
            raise
    finally:
        lock.release()


def resume(run_dir: str | Path, callbacks: list[Any] | None = None, **train_overrides: Any) -> Trainer:
    """Continue a run from its latest checkpoint, to a new ``steps`` or ``epochs`` if given.

    The run folder is locked for the whole call, so a second resume of the same run is
    refused. Rows of ``metrics.jsonl`` written after the checkpoint are dropped and written
    again, so the log reads like an uninterrupted run's; a run stopped before its first
    checkpoint starts again from step 0. Giving ``epochs`` to a run trained
    with ``steps`` (or the reverse) replaces it.
    """
    run = RunDir.existing(run_dir)
    config = run.config()
    allowed = {"steps", "epochs", "progress", "log_every", "sample_every", "checkpoint_every", "device", "threads"}
    bad = sorted(set(train_overrides) - allowed)
    if bad:
        raise GenzooError(f"train.{bad[0]} cannot change when resuming; only {', '.join(sorted(allowed))} can")
    train_cfg = dict(config.get("train") or {})
    if "steps" in train_overrides and "epochs" in train_overrides:
        raise GenzooError("give either --steps or --epochs, not both")
    if "steps" in train_overrides:  # the new length replaces the old, whichever unit it was in
        train_cfg["epochs"] = None
    if "epochs" in train_overrides:
        train_cfg["steps"] = None
    cfg = train_config(**{**train_cfg, **train_overrides})
    if world() is not None:  # the run's global batch is fixed; the new number of processes must split it
        check_split(cfg.batch_size, world().size)  # type: ignore[union-attr]
    with run.lock() if is_main() else contextlib.nullcontext():  # under torchrun, rank 0 holds the folder
        ckpt = run.latest_checkpoint()
        data = _data_for(config)
        torch.manual_seed(cfg.seed)
        model = _model_for(config)
        trainer = trainer_class()(model, data, cfg, run, callbacks)  # under torchrun: at any number of processes
        at = int(RunDir.load_checkpoint(ckpt)[1]["step"]) if ckpt is not None else 0
        if trainer.total <= at:
            unit = "--epochs" if cfg.epochs is not None else "--steps"
            raise GenzooError(f"{run.path} already reached step {at} of {trainer.total}; pass a larger {unit} to continue")
        new_train = cfg.to_dict()
        if ckpt is None and is_main():  # stopped before its first checkpoint: start again from step 0
            run.truncate_metrics(0)
        trainer.fit(resume=ckpt)
        config["train"] = new_train
        if is_main():
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


def load(run_dir: str | Path, *, ema: bool | None = None, model: GenerativeModel | None = None,
         device: str | torch.device | None = None) -> GenerativeModel:
    """Rebuild a trained model from its run folder (config + safetensors; nothing is unpickled).

    Args:
        run_dir: a folder written by :func:`train` or ``genzoo train``.
        ema: ``None`` (default): the EMA weights when the run has them (``ema.safetensors``),
            else the raw ones; ``True``: the EMA weights (an error if there are none);
            ``False``: the raw weights.
        model: for runs of custom models: an instance with the same architecture.
        device: where to put the model (default cpu).

    The loaded model's ``genzoo_weights`` attribute says which file it came from (its path
    and ``"ema"`` or ``"raw"``).
    """
    run = RunDir.existing(run_dir)
    config = run.config()
    if model is None:
        model = _model_for(config)
    use_ema = run.ema_path.is_file() if ema is None else ema
    if use_ema and not run.ema_path.is_file():
        raise GenzooError(f"{run.path} has no EMA weights (it was trained without train.ema); load it with ema=False")
    path = run.ema_path if use_ema else run.weights_path
    load_model_state(model, load_tensors(path), path)
    model.genzoo_weights = {"path": str(path), "kind": "ema" if use_ema else "raw"}  # type: ignore[assignment]
    return model.to(device or "cpu").eval()


def make_sampler(name: str | None, options: dict[str, Any] | None = None, model: GenerativeModel | None = None) -> Any:
    """A registered sampler with its options, checked against ``model`` (``None`` name: the model's default).

    Options a sampler names in its ``runs`` attribute (e.g. the ``classifier`` of classifier
    guidance) may be run folders; they are loaded here with :func:`load` (EMA weights when present).

    Raises:
        GenzooError: unknown sampler or option, a bad value, or a sampler that cannot drive ``model``.
    """
    from .registry import SAMPLERS
    from .samplers import make_sampler as _make

    opts = dict(options or {})
    if name is not None:
        for key in SAMPLERS.get(name).runs:
            value = opts.get(key)
            if isinstance(value, (str, Path)) and str(value):
                if not (Path(value) / "config.yaml").is_file():
                    raise GenzooError(f"sampler.{key}={value} is not a run folder; train one and pass its folder")
                opts[key] = load(value, device=str(model.device) if model is not None else None)
    return _make(name, opts, model)
