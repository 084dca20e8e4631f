"""``genzoo.evaluate``: run registered metrics on a trained model and record them in its run folder.

Every metric is a registered function of an :class:`~genzoo.metrics.EvalContext` (see
:mod:`genzoo.metrics.base`). This module picks the metrics (all of them by default), checks
their options against their signatures before anything is loaded, seeds the random number
generators before each one so a result does not depend on which metrics ran before it, turns
a missing capability into ``{"value": None, "reason": ...}`` ("n/a"), and merges the results
into the run's ``eval.json``, which is written atomically and is the only file it touches.

Example:
    >>> import genzoo
    >>> res = genzoo.evaluate("runs/vae-mnist", ["nll", "fid"], n=5000,
    ...                       options={"nll": {"k": 5000}})          # doctest: +SKIP
    >>> res["metrics"]["nll"]["value"], res["metrics"]["nll"]["protocol"]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from ._version import __version__
from .api import load, make_sampler
from .config import atomic_write_bytes, coerce, fields_of
from .data import Data, DataInfo, kind_of, load_data
from .errors import GenzooError
from .metrics.base import EvalContext, NotApplicable, check_named, missing_capability, run_metric
from .registry import METRICS
from .samplers import sampler_options
from .train.checkpoint import RunDir
from .train.trainer import pick_device

EVAL_FILE = "eval.json"
#: Metric names of earlier versions and the one that answers for them now.
RENAMED = {"exact_nll": "nll", "ais_nll": "nll"}


def metric_names(metrics: str | Iterable[str] | None) -> list[str]:
    """Canonical names of ``metrics`` (``None``: every registered one); unknown names are errors.

    ``metrics`` may be a list or a comma-separated string (``"nll,fid"``); duplicates are dropped.
    """
    if metrics is None:
        return METRICS.names()
    if isinstance(metrics, str):
        metrics = [m for m in metrics.split(",") if m.strip()]
    names: list[str] = []
    for m in metrics:
        if m.strip() in RENAMED:
            raise GenzooError(f"metric '{m.strip()}' is now part of '{RENAMED[m.strip()]}' (its protocol kind says exact, bound or "
                              f"estimate); use --metrics {RENAMED[m.strip()]}")
        c = METRICS.canonical(m.strip())  # unknown -> GenzooError with a did-you-mean hint
        if c not in names:
            names.append(c)
    if not names:
        raise GenzooError("no metric named; pass e.g. --metrics nll,fid (see `genzoo eval --help`)")
    return names


def check_options(names: list[str], options: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-metric options validated against each metric's keyword parameters and coerced to their types.

    Args:
        names: the metrics being run (canonical names).
        options: ``{"nll": {"k": 5000}}``; strings from the command line are converted.

    Raises:
        GenzooError: options for a metric not being run, or an option the metric does not take.
    """
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, opts in (options or {}).items():
        name = METRICS.canonical(key)
        if name not in names:
            raise GenzooError(f"options were given for metric '{name}', which is not being evaluated; add it to --metrics")
        if not isinstance(opts, dict):
            raise GenzooError(f"options of metric '{name}' must be a mapping such as {{'k': 5000}}, got {opts!r}")
        fn = METRICS.get(name)
        fields = fields_of(fn, skip=1)
        takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
        for k, v in opts.items():
            if k not in fields:
                if takes_any:
                    out[name][k] = v
                    continue
                valid = ", ".join(fields) or "(none)"
                raise GenzooError(f"unknown option {name}.{k}; valid options of {name} are: {valid}")
            out[name][k] = coerce(v, fields[k][0], f"{name}.{k}")
    return out


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)  # seeds CUDA too
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _plain(obj: Any) -> Any:
    """JSON-able copy: tensors/arrays -> numbers or lists, non-finite floats -> "nan"/"inf"/"-inf"."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().tolist() if obj.numel() != 1 else obj.item()
    elif isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _fingerprint(path: Path) -> str | None:
    """Short sha256 of the weights file, so results of other weights are not merged with these."""
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _run_data(config: dict[str, Any], run: Path, data: Data | str | None, data_root: str | None) -> Data:
    """The run's data: ``data`` when given, else reloaded from the run's config (its data section)."""
    root = {"root": data_root} if data_root is not None else {}
    if isinstance(data, Data):
        got = data
    elif isinstance(data, str):
        got = load_data(data, **root)
    else:
        opts = dict(config.get("data") or {})
        name = opts.pop("type", None)
        if not name:
            raise GenzooError(f"{run}/config.yaml names no dataset; pass the data: genzoo.evaluate(run, data=my_data)")
        try:
            got = load_data(name, **{**opts, **root})
        except GenzooError as e:
            if not str(e).startswith("unknown dataset"):
                raise
            raise GenzooError(
                f"run {run} was trained on data '{name}' that genzoo cannot load by name; "
                "pass it yourself: genzoo.evaluate(run, data=my_data)"
            ) from None
    trained_on = config.get("data_info")
    if trained_on is None:
        return got
    try:  # the data's kind checks it fits the model (shape; a sequence's vocabulary, re-encoded)
        return kind_of(got.info).adapt(got, DataInfo.from_dict(trained_on))
    except GenzooError as e:
        raise GenzooError(f"run {run}: {e}") from None


def evaluate(
    run_or_model: str | Path | torch.nn.Module,
    metrics: str | Iterable[str] | None = None,
    *,
    n: int = 10_000,
    data: Data | str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = False,
    options: dict[str, dict[str, Any]] | None = None,
    data_root: str | Path | None = None,
    on_error: str | None = None,
    sampler: str | None = None,
    sampler_opts: dict[str, Any] | None = None,
    ema: bool | None = None,
) -> dict[str, Any]:
    """Evaluate a trained model with registered metrics; results go into the run's ``eval.json``.

    Every metric is run with ``torch``, ``numpy`` and ``random`` seeded by ``seed`` just before
    it, so a result is reproducible and independent of the other metrics chosen. A metric the
    model or data is not capable of (``NotApplicable``) is reported as ``{"value": None,
    "reason": ...}``. Any other error of a metric the caller *named* stops the evaluation
    (nothing is written); with ``metrics=None`` (or ``on_error="record"``) it is stored as
    ``{"value": None, "error": ...}`` instead, so one metric lacking, say, an optional package
    does not cost the results of all the others.

    Args:
        run_or_model: a run folder (the model is rebuilt with :func:`genzoo.load` and the data
            reloaded from the run's config) or a model instance (then ``data`` is required).
        metrics: names (list or ``"a,b"``); ``None``: every registered metric, n/a where the
            model lacks what it needs.
        n: default number of samples / test examples per metric (``EvalContext.n``).
        data: the data (a :class:`~genzoo.data.Data` or a registered name); for a run folder
            it defaults to the run's own dataset.
        device: where to compute (default: the model's device, or ``auto`` for a run folder).
        seed: seed of every random draw.
        progress: progress bars on long computations.
        options: per-metric options, e.g. ``{"nll": {"k": 5000}}``, checked against the
            metric's signature.
        data_root: folder holding downloadable datasets (``--data-root``).
        on_error: ``"raise"`` or ``"record"`` (see above); default ``"record"`` when
            ``metrics`` is ``None``, else ``"raise"``.
        sampler / sampler_opts: a registered sampler (``"ddim"``) and its options (``{"steps":
            50}``) that draws every sample the metrics use; ``None``: the model's own sampling.
        ema: for a run folder: evaluate its EMA weights (``True``), its raw weights
            (``False``), or the EMA weights when it has them (``None``, the default), loaded
            by :func:`genzoo.load`; the result's ``weights`` says which.

    Returns:
        ``{"metrics": {name: result}, "run", "model", "data", "n", "seed", "wall_s":
        {name: seconds}, "genzoo_version", "date"}`` for the metrics of this call (``eval.json``
        also keeps earlier results of other metrics computed on the same weights).

    Raises:
        GenzooError: bad run folder, unknown metric or option, ``n < 1``, or a metric's own
            user-facing error (e.g. a feature network that cannot be built).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GenzooError(f"n must be a positive whole number of samples, got {n!r}")
    if on_error is None:
        on_error = "record" if metrics is None else "raise"
    if on_error not in ("raise", "record"):
        raise GenzooError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    names = metric_names(metrics)
    opts = check_options(names, options)
    if sampler is not None:
        sampler_options(sampler, sampler_opts)  # name and options checked before anything is loaded
    elif sampler_opts:
        raise GenzooError("sampler options were given without a sampler; add --sampler NAME")

    run: RunDir | None = None
    fingerprint = None
    if isinstance(run_or_model, (str, Path)):
        run = RunDir.existing(run_or_model)
        config = run.config()
        dev = pick_device(str(device) if device is not None else "auto")
        model = load(run.path, ema=ema)  # the one loader: EMA weights when the run has them (unless ema=False)
        weights = model.genzoo_weights
        fingerprint = _fingerprint(Path(weights["path"]))
        the_data = _run_data(config, run.path, data, None if data_root is None else str(data_root))
        model_desc: Any = config.get("model")
        was_training = False
        weights_kind = weights["kind"]
    elif isinstance(run_or_model, torch.nn.Module):
        if data is None:
            raise GenzooError("evaluating a model instance needs its data: genzoo.evaluate(model, data=my_data)")
        model = run_or_model
        the_data = data if isinstance(data, Data) else load_data(data, **({"root": str(data_root)} if data_root else {}))
        dev = pick_device(str(device)) if device is not None else getattr(model, "device", torch.device("cpu"))
        model_desc = getattr(model, "genzoo_config", {"type": None, "class": type(model).__name__})
        was_training = model.training
        weights_kind = "given"
    else:
        raise GenzooError(f"evaluate needs a run folder or a model, got {type(run_or_model).__name__}")

    if metrics is not None:
        check_named(names, the_data)
    model = model.to(dev).eval()
    the_sampler = make_sampler(sampler, sampler_opts, model) if sampler is not None else None
    ctx = EvalContext(model=model, data=the_data, n=n, device=dev, seed=seed, progress=progress, sampler=the_sampler)
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results: dict[str, Any] = {}
    wall: dict[str, float] = {}
    try:
        for name in names:
            t0 = time.perf_counter()
            cap = missing_capability(name, model, the_data)
            if cap is not None:
                res: dict[str, Any] = {"value": None, "reason": f"needs '{cap}', which {type(model).__name__} on {the_data.info.name} lacks"}
            else:
                _seed_all(seed)
                try:
                    res = run_metric(name, ctx, **opts[name])
                except NotApplicable as e:
                    res = {"value": None, "reason": str(e)}
                except GenzooError as e:
                    if on_error == "raise":
                        raise GenzooError(f"metric '{name}': {e}") from None
                    res = {"value": None, "error": str(e)}
                except Exception as e:
                    if on_error == "raise":
                        raise
                    res = {"value": None, "error": f"{type(e).__name__}: {e}"}
            res.setdefault("higher_is_better", METRICS.meta(name).get("higher_is_better", False))
            wall[name] = round(time.perf_counter() - t0, 3)
            res["settings"] = {"n": n, "seed": seed, "options": opts[name], "date": date,
                               **({"sampler": the_sampler.options()} if the_sampler is not None else {})}
            results[name] = _plain(res)
    finally:
        if was_training:
            model.train()

    out = {
        "metrics": results,
        "run": str(run.path) if run else None,
        "model": _plain(model_desc),
        "data": the_data.info.name,
        "n": n,
        "seed": seed,
        "weights": weights_kind,
        "wall_s": wall,
        "genzoo_version": __version__,
        "date": date,
    }
    if run is not None:
        out["weights_sha256"] = fingerprint
        _merge_into(run.path / EVAL_FILE, out)
    return out


def read_eval(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``eval.json`` (``None`` if absent); a corrupt file is an error naming the fix."""
    path = Path(run_dir) / EVAL_FILE
    if not path.is_file():
        return None
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        raise GenzooError(f"{path} is corrupt; delete it and rerun `genzoo eval {run_dir}`") from None
    if not isinstance(got, dict) or not isinstance(got.get("metrics"), dict):
        raise GenzooError(f"{path} is not a genzoo evaluation file; delete it and rerun `genzoo eval {run_dir}`")
    return got


def _merge_into(path: Path, new: dict[str, Any]) -> None:
    """Write ``new`` into ``path``, keeping earlier results of other metrics on the same weights."""
    try:
        old = read_eval(path.parent)
    except GenzooError:
        old = None  # unreadable: replaced by the fresh results (it held nothing usable)
    merged = dict(new)
    if old is not None and old.get("weights_sha256") == new.get("weights_sha256"):
        merged["metrics"] = {**old["metrics"], **new["metrics"]}
        merged["wall_s"] = {**(old.get("wall_s") or {}), **new["wall_s"]}
    atomic_write_bytes(path, (json.dumps(merged, indent=1) + "\n").encode())
