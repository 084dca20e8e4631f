"""``genzoo.bench``: train several models on one dataset with one budget, score them alike, rank them.

Every model gets the same data, the same seed, its registry defaults (so comparable default
networks) and the same budget, either rounds (``5000``) or wall-clock minutes (``"2m"``,
through :attr:`~genzoo.train.TrainConfig.max_minutes`, which ends the run cleanly as if its
last round had been reached). Each trained run is then scored with the same metrics by
:func:`genzoo.evaluate`. The out folder holds one run folder per model plus

    leaderboard.json   every figure, protocol, n/a reason and failure
    leaderboard.md     a table: model | metric value ± stderr (or n/a) ... | train s | eval s | steps
    leaderboard.png    one bar chart per metric (models without a value left out)

A model whose training fails (non-finite loss, missing labels...) gets a row saying so; the
bench goes on with the next model.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Iterable

from . import api
from ._version import __version__
from .config import atomic_write_bytes, resolve
from .data import Data, load_data
from .errors import GenzooError
from .evaluate import check_options, evaluate, metric_names
from .metrics.base import check_named
from .registry import METRICS, MODELS

BUDGET_KEYS = ("steps", "epochs", "max_minutes", "seed")
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$")


def parse_budget(budget: int | str) -> tuple[int | None, float | None]:
    """``5000`` or ``"5000"`` -> ``(5000, None)`` rounds; ``"2m"`` / ``"90s"`` / ``"1h"`` -> ``(None, minutes)``."""
    if isinstance(budget, bool):
        raise GenzooError(f"budget must be rounds (5000) or a time (2m, 90s), got {budget!r}")
    if isinstance(budget, int):
        if budget < 1:
            raise GenzooError(f"budget must be at least 1 round, got {budget}")
        return budget, None
    m = _BUDGET.match(str(budget).lower())
    if m is None:
        raise GenzooError(f"budget must be rounds (5000) or a time (2m, 90s, 1h), got {budget!r}")
    value, unit = float(m.group(1)), m.group(2)
    if unit is None:
        if not value.is_integer() or value < 1:
            raise GenzooError(f"a budget in rounds must be a whole number of at least 1, got {budget!r}")
        return int(value), None
    minutes = value * {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}[unit]
    if minutes <= 0:
        raise GenzooError(f"a time budget must be positive, got {budget!r}")
    return None, minutes


def model_names(models: str | Iterable[str], kind: str) -> list[str]:
    """Canonical names; ``"all"`` is every registered model whose ``data_kinds`` include ``kind``."""
    if isinstance(models, str):
        models = [m for m in models.split(",") if m.strip()]
    models = [m.strip() for m in models]
    if models == ["all"]:  # every generative model for this kind (not helpers such as guidance classifiers)
        names = [m for m in MODELS.names() if kind in MODELS.meta(m).get("data_kinds", ("points", "image"))
                 and MODELS.meta(m).get("generative", True)]
        if not names:
            raise GenzooError(f"no registered model takes data of kind '{kind}'")
        return names
    out: list[str] = []
    for m in models:
        c = MODELS.canonical(m)  # unknown -> error with a did-you-mean hint
        kinds = MODELS.meta(c).get("data_kinds", ("points", "image"))
        if kind not in kinds:
            raise GenzooError(f"model '{c}' takes {' or '.join(kinds)} data, not {kind}; leave it out of --models")
        if c not in out:
            out.append(c)
    if not out:
        raise GenzooError("name the models to compare, e.g. --models vae,iwae,gan (or --models all)")
    return out


def budget_text(steps: int | None, minutes: float | None) -> str:
    """``"5000 rounds"``, ``"90 s"`` or ``"2 min"``."""
    if steps is not None:
        return f"{steps} rounds"
    assert minutes is not None
    return f"{minutes * 60:.3g} s" if minutes < 1 else f"{minutes:.3g} min"


def _default_out(data_name: str) -> Path:
    stem = Path("runs") / f"bench-{data_name.replace(':', '_').replace('/', '_')}"
    out, i = stem, 1
    while out.exists() and any(out.iterdir()):
        out = Path(f"{stem}-{i}")
        i += 1
    return out


def bench(
    data: Data | str,
    models: str | Iterable[str],
    *,
    budget: int | str = "2m",
    out: str | Path | None = None,
    metrics: str | Iterable[str] | None = None,
    n: int = 10_000,
    seed: int = 0,
    progress: bool = True,
    model_options: dict[str, dict[str, Any]] | None = None,
    train_options: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    sampler: str | None = None,
    sampler_opts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train each model on ``data`` with the same budget, evaluate each alike, write a leaderboard.

    Args:
        data: a registered dataset name (loaded once with ``data_options``) or a
            :class:`~genzoo.data.Data`.
        models: names (list or ``"vae,iwae,gan"``), or ``"all"``: every registered model whose
            registry ``data_kinds`` include the data's kind.
        budget: rounds (``5000``) or wall-clock time per model (``"2m"``, ``"90s"``).
        out: folder for the run folders and leaderboard files (default ``runs/bench-DATA``,
            numbered when taken); an existing non-empty folder is refused.
        metrics: metric names; ``None``: every registered metric (n/a where not applicable).
        n: samples / test examples per metric.
        seed: the one seed of every model's training and evaluation.
        progress: a status line per model on stderr.
        model_options: per-model factory options, ``{"vae": {"latent_dim": 8}}``.
        train_options: :class:`~genzoo.train.TrainConfig` fields shared by all models
            (``batch_size``, ``lr``, ``device``...); the budget and seed are set by the bench.
        data_options: options of the dataset factory when ``data`` is a name.
        options: per-metric options, ``{"nll": {"k": 1000}}``.
        sampler / sampler_opts: a registered sampler (``"ddim"``, ``{"steps": 50}``) used by every
            model it applies to (its ``check`` passes); the others sample their own way. Each
            row records the sampler it was scored with. Models are scored with their EMA
            weights when they have them.

    Returns:
        The leaderboard: ``{"data", "budget", "metrics", "n", "seed", "out", "rows": [{"model",
        "status" ("ok" | "training failed" | "evaluation failed"), "error", "run", "steps",
        "train_s" (seconds in the training loop), "total_s" (with building, checkpoints and
        pictures), "eval_s", "params", "metrics": {name: result}}], "genzoo_version", "date"}``.

    Raises:
        GenzooError: an unknown model, metric or option, a bad budget, or a taken ``out``; all
            checked before any training.
    """
    steps, minutes = parse_budget(budget)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GenzooError(f"n must be a positive whole number of samples, got {n!r}")
    train_options = dict(train_options or {})
    fixed = sorted(set(train_options) & set(BUDGET_KEYS))
    if fixed:
        raise GenzooError(f"train.{fixed[0]} is set by the bench itself; use --budget and --seed instead")
    train_options.setdefault("progress", False)
    api.train_config(**train_options)  # validate before loading data
    names_m = metric_names(metrics)
    metric_opts = check_options(names_m, options)
    if sampler is not None:
        from .samplers import sampler_options

        sampler_options(sampler, sampler_opts)  # checked before any training
    elif sampler_opts:
        raise GenzooError("sampler options were given without a sampler; add --sampler NAME")

    if isinstance(data, str):
        data_cfg: dict[str, Any] = {"type": data, **(data_options or {})}
        the_data = load_data(data, **(data_options or {}))
    else:
        if data_options:
            raise GenzooError("data_options apply only when data is a dataset name")
        the_data, data_cfg = data, {"type": data.info.name}
    if metrics is not None:  # a named metric the data cannot have is refused before any training
        check_named(names_m, the_data)
    names = model_names(models, the_data.info.kind)
    model_options = dict(model_options or {})
    for key, opts in model_options.items():
        name = MODELS.canonical(key)
        if name not in names:
            raise GenzooError(f"options were given for model '{name}', which is not in the bench; add it to --models")
        resolve(MODELS.get(name), dict(opts), f"model.{name}", skip=1)
    model_opts = {MODELS.canonical(k): dict(v) for k, v in model_options.items()}

    out_dir = Path(out) if out is not None else _default_out(the_data.info.name)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise GenzooError(f"bench folder {out_dir} already exists and is not empty; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)

    board: dict[str, Any] = {
        "data": the_data.info.name,
        "data_config": data_cfg,
        "budget": {"steps": steps} if steps is not None else {"minutes": minutes},
        "models": names,
        "metrics": names_m,
        "sampler": {"type": sampler, **(sampler_opts or {})} if sampler else None,
        "higher_is_better": {m: bool(METRICS.meta(m).get("higher_is_better", False)) for m in names_m},
        "n": n,
        "seed": seed,
        "out": str(out_dir),
        "rows": [],
        "genzoo_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, quiet=not progress)
    what = budget_text(steps, minutes)
    for i, name in enumerate(names, 1):
        tag = f"[{i}/{len(names)}] {name}"
        with console.status(f"{tag}: training ({what})"):
            row = _train_one(name, the_data, data_cfg, out_dir / name, steps, minutes, seed, model_opts.get(name, {}), train_options)
        if row.get("interrupted"):
            board["rows"].append({k: v for k, v in row.items() if k != "interrupted"})
            write_leaderboard(board, out_dir)
            raise KeyboardInterrupt
        if row["status"] == "ok":
            use = _applies(sampler, sampler_opts, out_dir / name)
            row["sampler"] = repr(api.make_sampler(sampler, sampler_opts)) if use else None
            with console.status(f"{tag}: evaluating {len(names_m)} metric(s) on n={n}"):
                t0 = time.perf_counter()
                try:
                    res = evaluate(out_dir / name, names_m, n=n, data=the_data, seed=seed, options=metric_opts,
                                   device=train_options.get("device"), on_error="record",
                                   sampler=sampler if use else None, sampler_opts=sampler_opts if use else None)
                    row["metrics"] = res["metrics"]
                except GenzooError as e:
                    row.update(status="evaluation failed", error=str(e))
                row["eval_s"] = round(time.perf_counter() - t0, 2)
            console.print(f"[green]✓[/green] {tag}: {row['steps']} rounds in {row['train_s']:.1f} s, evaluated in {row['eval_s']:.1f} s")
        if row["status"] != "ok":
            console.print(f"[red]✗[/red] {tag}: {row['status']}: {escape(str(row['error']))}", highlight=False)
        board["rows"].append(row)
        write_leaderboard(board, out_dir)  # after every model, so a long bench shows partial results
    with console.status("drawing the sample gallery"):
        write_gallery(board, out_dir / "gallery.png", seed=seed)
    return board


def _applies(sampler: str | None, opts: dict[str, Any] | None, run: Path) -> bool:
    """Whether ``sampler`` can drive the model of ``run`` (``False`` when no sampler is given)."""
    if sampler is None:
        return False
    try:
        api.make_sampler(sampler, opts, api.load(run))
    except GenzooError:
        return False
    return True


def write_gallery(board: dict[str, Any], path: Path, per_model: int = 16, seed: int = 0) -> Path | None:
    """One panel of ``per_model`` samples for every trained model that samples, titled by name.

    Models come back from their run folders (:func:`genzoo.load`); each samples with the same
    seed; the data kind's renderer draws each panel (image grid, 2-D scatter, molecules).
    Returns the path, or ``None`` when no model could sample.
    """
    import torch

    from .models import CanSample
    from .viz.plots import _plt, save_figure
    from .viz.render import renderer_for

    plt = _plt()

    panels = []
    for r in board["rows"]:
        if r.get("status") != "ok" or not r.get("run"):
            continue
        try:
            model = api.load(r["run"])
        except GenzooError:
            continue
        if not isinstance(model, CanSample):
            continue
        spec = board.get("sampler") or {}
        sampler = api.make_sampler(spec["type"], {k: v for k, v in spec.items() if k != "type"}, model) if r.get("sampler") else None
        torch.manual_seed(seed)
        with torch.no_grad():
            x = sampler(model, per_model) if sampler is not None else model.sample(per_model)
        panels.append((r["model"], renderer_for(model.info).panel(x, model.info)))
    if not panels:
        return None
    ncols = min(6, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    h, w = panels[0][1].shape[:2]
    scale = 2.1 / max(h, w)  # inches per pixel of the largest side
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(2.1, w * scale) * ncols, (max(2.1, h * scale) + 0.25) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, grid) in zip(axes.flat, panels):
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    budget = board["budget"]
    what = f"{budget['steps']} rounds" if "steps" in budget else f"{budget['minutes']:g} min"
    fig.suptitle(f"genzoo bench on {board['data']}: samples after {what} per model (seed {seed})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _train_one(name: str, data: Data, data_cfg: dict[str, Any], run_dir: Path, steps: int | None, minutes: float | None,
               seed: int, model_opts: dict[str, Any], train_opts: dict[str, Any]) -> dict[str, Any]:
    """Train one model; failures become a row instead of an exception."""
    row: dict[str, Any] = {"model": name, "status": "ok", "error": None, "run": str(run_dir), "steps": None,
                           "train_s": None, "total_s": None, "eval_s": None, "params": None, "metrics": {}}
    t0 = time.perf_counter()
    try:
        trainer = api.train(name, data, run_dir, model_options=model_opts, steps=steps if steps is not None else 10**9,
                            max_minutes=minutes, seed=seed, **train_opts)
    except KeyboardInterrupt:
        row.update(status="interrupted", error="interrupted by the user", interrupted=True)
        return row
    except Exception as e:  # noqa: BLE001 — any failure of one model must not end the bench
        row.update(status="training failed", error=f"{type(e).__name__}: {e}" if not isinstance(e, GenzooError) else str(e))
        row["total_s"] = round(time.perf_counter() - t0, 2)
        return row
    finally:
        cfg_path = run_dir / "config.yaml"
        if cfg_path.is_file():  # record how to reload the data (api.train only knows its name)
            from .train.checkpoint import RunDir

            r = RunDir(run_dir)
            cfg = r.config()
            cfg["data"] = data_cfg
            r.save_config(cfg)
    row["train_s"] = round(trainer.elapsed, 2)  # the training loop alone: comparable between models
    row["total_s"] = round(time.perf_counter() - t0, 2)  # plus building, checkpoints and pictures
    row["steps"] = trainer.step
    row["params"] = sum(p.numel() for p in trainer.model.parameters())
    if trainer.interrupted:
        row.update(status="interrupted", error="interrupted by the user", interrupted=True)
    return row


# -- output ---------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _cell(res: dict[str, Any] | None) -> str:
    if not res:
        return "—"
    v = _num(res.get("value"))
    if v is None:
        if res.get("error"):
            return "error"
        return "n/a" if res.get("value") is None else str(res.get("value"))
    s = _num(res.get("stderr"))
    kind = (res.get("protocol") or {}).get("kind")  # exact, bound or estimate (nll): never mistaken for each other
    return (f"{v:.4g} ± {s:.2g}" if s is not None else f"{v:.4g}") + (f" ({kind})" if kind else "")


def _best(board: dict[str, Any], metric: str) -> float | None:
    vals = [_num(r["metrics"].get(metric, {}).get("value")) for r in board["rows"] if r["status"] == "ok"]
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return None
    return max(vals) if board["higher_is_better"].get(metric) else min(vals)


def leaderboard_markdown(board: dict[str, Any]) -> str:
    """The leaderboard as a markdown table, best value per metric in bold, then notes."""
    ms = board["metrics"]
    arrow = {m: "↑" if board["higher_is_better"].get(m) else "↓" for m in ms}
    budget = budget_text(board["budget"].get("steps"), board["budget"].get("minutes"))
    lines = [
        f"# genzoo bench: {board['data']}",
        "",
        f"budget {budget} per model · n = {board['n']} · seed {board['seed']} · genzoo {board['genzoo_version']} · {board['date']}",
        "",
        "| model | " + " | ".join(f"{m} {arrow[m]}" for m in ms) + " | train s | eval s | steps |",
        "|---|" + "---|" * len(ms) + "---|---|---|",
    ]
    notes: list[str] = []
    best = {m: _best(board, m) for m in ms}
    for r in board["rows"]:
        if r["status"] != "ok":
            cells = [r["status"]] + ["—"] * (len(ms) - 1) if ms else []
            notes.append(f"- {r['model']}: {r['status']}: {r['error']}")
        else:
            cells = []
            for m in ms:
                res = r["metrics"].get(m)
                c = _cell(res)
                if best[m] is not None and res and _num(res.get("value")) == best[m]:
                    c = f"**{c}**"
                cells.append(c)
                if res and res.get("value") is None:
                    notes.append(f"- {r['model']}: {m} {'error: ' + res['error'] if res.get('error') else 'n/a: ' + str(res.get('reason', ''))}")
        f = lambda x: "—" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))  # noqa: E731
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {f(r['train_s'])} | {f(r['eval_s'])} | {f(r['steps'])} |")
    protocols = []
    for m in ms:
        kinds: dict[Any, tuple[dict[str, Any], list[str]]] = {}  # one line per kind of figure (nll: exact, bound, estimate)
        for r in board["rows"]:
            p = r["metrics"].get(m, {}).get("protocol") if r["status"] == "ok" else None
            if isinstance(p, dict):
                kinds.setdefault(p.get("kind"), (p, []))[1].append(r["model"])
        for kind, (p, who) in kinds.items():
            label = f"{m} ({kind}: {', '.join(who)})" if len(kinds) > 1 else m
            protocols.append(f"- {label}: " + ", ".join(f"{k}={v}" for k, v in p.items()))
    scored = [f"{r['model']}: {r['sampler']}" for r in board["rows"] if r.get("sampler")]
    if scored:
        protocols.append("- sampler: " + "; ".join(scored) + " (the other models sample their own way)")
    if protocols:
        lines += ["", "Protocols:", "", *protocols]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def leaderboard_plot(board: dict[str, Any], path: Path) -> None:
    """One horizontal bar chart per metric with a value (error bars = stderr); n/a models left out."""
    from .viz.plots import _plt, save_figure

    plt = _plt()

    panels = []
    for m in board["metrics"]:
        rows = [(r["model"], _num(r["metrics"].get(m, {}).get("value")), _num(r["metrics"].get(m, {}).get("stderr")))
                for r in board["rows"] if r["status"] == "ok"]
        rows = [x for x in rows if x[1] is not None]
        if rows:
            panels.append((m, rows))
    ncols = max(1, min(3, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    n_models = max([len(p[1]) for p in panels] + [1])
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 0.5 + (0.35 * n_models + 0.9) * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no metric values", ha="center", va="center")
    for ax, (m, rows) in zip(axes.flat, panels):
        labels = [r[0] for r in rows]
        vals = [r[1] for r in rows]
        errs = [r[2] or 0.0 for r in rows]
        ax.barh(range(len(rows)), vals, xerr=errs if any(errs) else None, color="tab:blue", alpha=0.8)
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(n_models - 0.5, -0.5)  # same bar thickness in every panel, first model on top
        ax.set_title(f"{m} ({'higher' if board['higher_is_better'].get(m) else 'lower'} is better)", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"genzoo bench: {board['data']}", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def write_leaderboard(board: dict[str, Any], out_dir: Path) -> None:
    """``leaderboard.json``, ``leaderboard.md`` and ``leaderboard.png`` in ``out_dir`` (atomic writes)."""
    atomic_write_bytes(out_dir / "leaderboard.json", (json.dumps(board, indent=1) + "\n").encode())
    atomic_write_bytes(out_dir / "leaderboard.md", leaderboard_markdown(board).encode())
    leaderboard_plot(board, out_dir / "leaderboard.png")
