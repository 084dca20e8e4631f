"""``genzoo`` command line: thin over :mod:`genzoo.api`.

Every user mistake is one sentence on stderr and exit code 2; nothing is written into an
existing run folder unless ``--resume`` names it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from . import api
from ._console import console
from ._version import __version__
from .config import fields_of, load_yaml, merge, options_of, parse_overrides, resolve
from .errors import GenzooError, NonFiniteLoss
from .registry import DATASETS, METRICS, MODELS
from .train.checkpoint import RunDir

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train, sample and inspect deep generative models.")
out_console = console()
err_console = console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"genzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Train, sample and inspect deep generative models."""

SECTIONS = ("model", "data", "train")


def _split_type(section: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    section = dict(section or {})
    return section.pop("type", None), section


@app.command()
def train(
    model: Optional[str] = typer.Argument(None, help="Model name (see `genzoo models`)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset name, folder:PATH or npz:PATH (see `genzoo datasets`)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with model/data/train sections."),
    set_: List[str] = typer.Option([], "--set", help="Override, e.g. model.latent_dim=32 or train.lr=1e-4 (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training rounds."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the training set (instead of --steps)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/MODEL-DATA-TIME)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run from its latest checkpoint."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding datasets (else $GENZOO_DATA, then the cache)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
) -> None:
    """Train a model and write a run folder (config, weights, checkpoints, metrics, pictures)."""
    if steps is not None and epochs is not None:
        raise GenzooError("give either --steps or --epochs, not both")
    flags: dict[str, Any] = {k: v for k, v in {"steps": steps, "epochs": epochs, "seed": seed}.items() if v is not None}
    if resume is not None:
        if model or data or config or set_ or out or seed is not None:
            raise GenzooError("--resume continues a run with its own settings; pass only --steps/--epochs with it")
        trainer = api.resume(resume, **flags)
        _done(trainer)
        return
    model_name, model_opts, data_name, data_opts, train_opts, _ = _settings(model, data, config, set_, flags, data_root)
    trainer = api.train(model_name, data_name, out, model_options=model_opts, data_options=data_opts, **train_opts)
    _done(trainer)


def _settings(model: str | None, data: str | None, config: Path | None, set_: list[str], flags: dict[str, Any],
              data_root: Path | None, extra: tuple[str, ...] = ()) -> tuple[str, dict[str, Any], str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(model, model options, data, data options, train options, other sections)`` from a config
    file, flags and ``--set`` overrides, validated before any data or disk is touched. ``--set``
    sections named in ``extra`` (metric names, for sweeps) come back as the last item."""
    cfg: dict[str, Any] = load_yaml(config) if config else {}
    if not isinstance(cfg, dict) or set(cfg) - set(SECTIONS) - {"genzoo", "data_info"}:
        raise GenzooError(f"config file {config} must be a mapping with the sections {', '.join(SECTIONS)}")
    overrides = parse_overrides(set_)
    rest = {k: overrides.pop(k) for k in list(overrides) if k not in SECTIONS and k in extra}
    bad = sorted(set(overrides) - set(SECTIONS))
    if bad:
        raise GenzooError(f"unknown override section '{bad[0]}'; use one of: {', '.join(SECTIONS + extra)}")
    cfg = merge(cfg, {"train": flags})
    cfg = merge(cfg, overrides)
    model_name, model_opts = _split_type(cfg.get("model"))
    data_name, data_opts = _split_type(cfg.get("data"))
    model_name, data_name = model or model_name, data or data_name
    if not model_name:
        raise GenzooError("name a model, e.g. `genzoo train vae --data digits` (see `genzoo models`)")
    if not data_name:
        raise GenzooError("name a dataset with --data, e.g. --data digits (see `genzoo datasets`)")
    factory = MODELS.get(model_name)
    resolve(factory, model_opts, "model", skip=1)  # validate before touching data or disk
    api.train_config(**cfg.get("train", {}))
    if data_root is not None:
        data_opts["root"] = str(data_root)
    return model_name, model_opts, data_name, data_opts, dict(cfg.get("train", {})), rest


@app.command()
def sweep(
    model: Optional[str] = typer.Argument(None, help="Model name (see `genzoo models`)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset name, folder:PATH or npz:PATH (see `genzoo datasets`)."),
    seeds: int = typer.Option(5, "--seeds", help="How many seeds, counting from --seed."),
    seed: int = typer.Option(0, "--seed", help="The first seed."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with model/data/train sections."),
    set_: List[str] = typer.Option([], "--set", help="model.latent_dim=32, train.lr=1e-4, or a metric option such as modes.n_samples=2500 (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training rounds of every seed."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the training set (instead of --steps)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Evaluate every seed with these metrics (comma-separated)."),
    n: int = typer.Option(10_000, "-n", help="Samples / test examples per metric."),
    sequential: bool = typer.Option(False, "--sequential", help="Train the seeds one after another, not as one vmapped model."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep folder (default runs/sweep-MODEL-DATA-TIME)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this sweep from its members' checkpoints."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding datasets (else $GENZOO_DATA, then the cache)."),
) -> None:
    """Train one model under several seeds at once (one vmapped model when it can be) and report mean ± std.

    Each seed is an ordinary run folder OUT/seed_S (load, sample, eval or resume it alone);
    OUT/sweep.json holds the per-seed figures and their mean ± std.
    """
    from .loops.sweep import resume_sweep, seed_list, sweep as run_sweep

    if steps is not None and epochs is not None:
        raise GenzooError("give either --steps or --epochs, not both")
    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    say = lambda msg: err_console.print(escape(msg), highlight=False)  # noqa: E731
    flags: dict[str, Any] = {k: v for k, v in {"steps": steps, "epochs": epochs}.items() if v is not None}
    if resume is not None:
        if model or data or config or set_ or out:
            raise GenzooError("--resume continues a sweep with its own settings; pass only --steps/--epochs with it")
        res = resume_sweep(resume, sequential=sequential, on_message=say, **flags)
    else:
        seed_list(seeds, seed)  # --seeds 0 fails here, before anything is loaded
        from .evaluate import check_options, metric_names

        names = metric_names(metrics) if metrics is not None else []
        model_name, model_opts, data_name, data_opts, train_opts, rest = _settings(
            model, data, config, set_, flags, data_root, extra=tuple(names))
        eval_opts = check_options(names, rest) if names else None
        res = run_sweep(model_name, data_name, seeds, out, model_options=model_opts, data_options=data_opts,
                          metrics=metrics, n=n, eval_options=eval_opts, sequential=sequential, on_message=say,
                          **{**train_opts, "seed": seed})
    _sweep_table(res.summary, f"{res.path}  ({len(res.seeds)} seeds, {res.engine})")
    out_console.print(str(res.path), soft_wrap=True)


def _sweep_table(summary: dict[str, Any], title: str) -> None:
    from .loops.sweep import pm

    table = Table(title=title)
    for col in ("figure", "mean ± std", "per seed"):
        table.add_column(col)
    for k, st in summary.get("final_losses", {}).items():
        table.add_row(f"final {k}", pm(st), ", ".join(_fmt(v) for v in st["values"]))
    for name, figs in summary.get("metrics", {}).items():
        for k, st in figs.items():
            label = name if k == "value" else f"{name}.{k}"
            table.add_row(label, pm(st), ", ".join(_fmt(v) for v in st["values"]))
    out_console.print(table)


def _done(trainer: Any) -> None:
    from .train.distributed import is_main

    if not is_main():  # under torchrun, rank 0 reports
        return
    run = trainer.run
    rows = run.metrics() if run else []
    last = rows[-1] if rows else {}
    shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("step", "epoch", "time") and isinstance(v, float))
    state = "interrupted; checkpoint written" if trainer.interrupted else "done"
    err_console.print(f"[bold]{state}[/bold] at step {trainer.step}: {shown}")
    out_console.print(str(run.path) if run else "")
    if trainer.interrupted:
        raise typer.Exit(130)


@app.command()
def sample(
    run: Path = typer.Argument(..., help="Run folder."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    output: Path = typer.Option(..., "--output", "-o", help="out.png (grid, scatter or molecule drawings), out.smi / out.txt (sequences) or out.npz (array)."),
    ema: Optional[bool] = typer.Option(None, "--ema/--no-ema", help="EMA or raw weights (default: EMA when the run has them)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    label: Optional[int] = typer.Option(None, "--label", help="Class to condition on (conditional models)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="Softmax temperature of sequence models (default: the run's, 1.0)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Registered sampler: ancestral, ddim, cfg, classifier, gibbs, codes (default: the model's)."),
    set_: List[str] = typer.Option([], "--set", help="Sampler option, e.g. sampler.steps=50 or sampler.eta=0 (repeatable)."),
    frames: int = typer.Option(0, "--frames", help="Diffusion samplers: also save the chain x_T -> x_0 at this many steps (OUTPUT-trajectory.png)."),
) -> None:
    """Draw samples from a trained run and save them (picture, SMILES list or array)."""
    import numpy as np
    import torch

    from .data import DataInfo
    from .models.base import CanDenoise, CanSample, HasTemperature
    from .samplers.diffusion import DiffusionSampler
    from .viz.render import renderer_for

    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    if temperature is not None and temperature < 0:
        raise GenzooError(f"--temperature must be 0 (greedy) or more, got {temperature}")
    if frames < 0 or frames == 1:
        raise GenzooError(f"--frames must be 0 (none) or at least 2, got {frames}")
    sets = parse_overrides(set_)
    bad = sorted(set(sets) - {"sampler"})
    if bad:
        raise GenzooError(f"genzoo sample takes only sampler options (--set sampler.steps=50), not {bad[0]}.*")
    cfg = RunDir.existing(run).config()
    render = renderer_for(DataInfo.from_dict(cfg["data_info"]))
    allowed = (*render.suffixes, ".npz")
    if output.suffix not in allowed:
        raise GenzooError(f"output {output} must end in {', '.join(allowed)} for this run's data")
    model = api.load(run, ema=ema)
    if not isinstance(model, CanSample):
        raise GenzooError(f"{type(model).__name__} cannot sample")
    if temperature is not None:
        if not isinstance(model, HasTemperature):
            raise GenzooError(f"{type(model).__name__} samples without a softmax temperature; leave out --temperature")
        model.sample_temperature = temperature
    the_sampler = api.make_sampler(sampler, sets.get("sampler"), model)  # validated before anything is drawn
    chain = the_sampler if the_sampler is not None else (model.sampler() if isinstance(model, CanDenoise) else None)
    if frames and not isinstance(chain, DiffusionSampler):
        raise GenzooError("--frames needs a diffusion model and sampler (ancestral, ddim, cfg, classifier)")
    if label is not None and not 0 <= label < max(1, model.info.num_classes):
        raise GenzooError(f"--label must lie in 0..{model.info.num_classes - 1}, got {label}")
    need, have = 4 * n * math.prod(model.info.shape), api.available_memory()
    if have is not None and need > have:  # the samples alone would not fit, whatever the sampler needs besides
        raise GenzooError(f"-n {n} samples of shape {tuple(model.info.shape)} take {need / 2**30:.1f} GiB, more than the "
                          f"{have / 2**30:.1f} GiB of memory available; lower -n")
    _writable(output)
    torch.manual_seed(seed)
    c = None if label is None else torch.full((n,), label, dtype=torch.long)
    with torch.no_grad():
        x = the_sampler(model, n, c) if the_sampler is not None else model.sample(n, c)
    if output.suffix == ".npz":
        np.savez_compressed(output, x=x.numpy())
    else:
        render.save(x, output, model.info)
    used = the_sampler if the_sampler is not None else getattr(model, "default_sampler", None)
    out_console.print(f"{n} samples of shape {tuple(x.shape[1:])} -> {output}" + (f"  (sampler {used})" if used else ""))
    if frames:
        from .viz.diffusion import trajectory_strip

        torch.manual_seed(seed)
        path = output.with_name(output.stem + "-trajectory.png")
        k = min(n, 8) if model.info.kind == "image" else n  # image chains are rows; points share each frame
        trajectory_strip(model, chain, path, n=k, frames=frames, c=None if c is None else c[:k])
        out_console.print(f"denoising trajectory -> {path}")


def _writable(output: Path) -> None:
    """Create ``output``'s folder and check it can be written, before any work is done."""
    if output.is_dir():
        raise GenzooError(f"output {output} is a folder; name a file such as {output / 'samples.png'}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenzooError(f"cannot create the folder of {output} ({e.strerror or e}); choose a writable --output") from None
    if not os.access(output.parent, os.W_OK | os.X_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise GenzooError(f"cannot write {output} (permission denied); choose a writable --output")


@app.command()
def translate(
    run: Path = typer.Argument(..., help="Run folder of a translation model (cyclegan)."),
    direction: str = typer.Option("a2b", "--direction", help="a2b (first dataset of A+B to the second) or b2a."),
    input: str = typer.Option(..., "--input", "-i", help="images.npz (array x, N x [C x] H x W), an image file, or 'test' (the source domain's test split)."),
    output: Path = typer.Option(..., "--output", "-o", help="out.npz (array x) or out.png (inputs above their translations)."),
    n: int = typer.Option(16, "-n", help="With -i test: how many test images."),
    ema: bool = typer.Option(False, "--ema", help="Use the EMA weights."),
) -> None:
    """Translate images from one domain to the other with a trained two-domain model."""
    import numpy as np
    import torch

    from .models.base import CanTranslate
    from .viz.plots import save_image_grid

    if output.suffix not in (".png", ".npz"):
        raise GenzooError(f"output {output} must end in .png or .npz")
    if input != "test" and not Path(input).is_file():
        raise GenzooError(f"input {input} does not exist; pass an .npz, an image file, or 'test'")
    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    _writable(output)
    model = api.load(run, ema=ema)
    if not isinstance(model, CanTranslate):
        raise GenzooError(f"{type(model).__name__} does not translate; train a translation model such as cyclegan")
    if direction not in model.directions:
        raise GenzooError(f"{type(model).__name__} translates {' or '.join(model.directions)}, not '{direction}'")
    if input == "test":
        streams = api._data_for(RunDir.existing(run).config()).streams or {}
        x = streams[direction.split("2")[0]].x_test[:n]
    else:
        x = _read_images(Path(input), tuple(model.info.shape))
    with torch.no_grad():
        y = torch.cat([model.translate(x[i : i + 256], direction) for i in range(0, len(x), 256)]).float()
    if output.suffix == ".npz":
        np.savez_compressed(output, x=y.numpy())
    else:
        k = min(len(x), 16)  # rows of up to 16 inputs, each above its translations
        rows = [t for i in range(0, len(x), k) for t in (x[i : i + k], y[i : i + k])]
        save_image_grid(torch.cat(rows), output, nrow=k, value_range=tuple(model.info.value_range))
    out_console.print(f"{len(y)} images translated {direction} -> {output}")


def _read_images(path: Path, shape: tuple[int, ...]) -> Any:
    """Images ``(N, C, H, W)`` in [0, 1] from an .npz (array ``x`` or the first one) or an image file, checked against ``shape``."""
    import numpy as np
    import torch

    c, h, w = shape
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if not archive.files:
                raise GenzooError(f"{path} holds no arrays; save the images as x")
            a = archive["x" if "x" in archive.files else archive.files[0]]
        x = torch.from_numpy(a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0))
        x = x.unsqueeze(1) if x.dim() == 3 else x.unsqueeze(0) if x.dim() == 2 else x
    else:
        from PIL import Image, UnidentifiedImageError

        from .data.resize import resize_images

        try:
            img = Image.open(path).convert("L" if c == 1 else "RGB")
        except (UnidentifiedImageError, OSError):
            raise GenzooError(f"cannot read {path} as an image; pass a PNG/JPEG or an .npz") from None
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        x = (x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)).unsqueeze(0)
        x = resize_images(x, h) if (h == w and tuple(x.shape[-2:]) != (h, w)) else x
    if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
        raise GenzooError(f"{path} holds images of shape {tuple(x.shape[1:])}, but the model translates {c}x{h}x{w} images")
    return x


def _registry_table(reg: Any, title: str) -> None:
    table = Table(title=title)
    table.add_column("name", style="bold")
    table.add_column("description")
    for name in reg.names():
        table.add_row(name, escape(reg.meta(name).get("help", "")))
    out_console.print(table)


def _options_table(fn: Any, where: str, context: tuple[str, ...] = ()) -> Table:
    """Every option of ``fn`` (nested components included): path, type with its allowed range, default, help."""
    table = Table(show_edge=False, box=None, pad_edge=False)
    for col in ("option", "type and range", "default", "description"):
        table.add_column(col, style="bold" if col == "option" else None)
    for o in options_of(fn, context):
        shown = json.dumps(list(o.default) if isinstance(o.default, tuple) else o.default) \
            if isinstance(o.default, (list, tuple, dict, type(None), bool)) else str(o.default)
        table.add_row(f"{where}.{o.path}", escape(o.type), escape(shown), escape(o.help))
    return table


@app.command()
def models(name: Optional[str] = typer.Argument(None, help="A model: show its options (types, ranges, defaults).")) -> None:
    """List the registered models, or the options of one (`genzoo models vae`)."""
    if name is None:
        _registry_table(MODELS, "models")
        return
    factory = MODELS.get(name)
    canon, meta = MODELS.canonical(name), MODELS.meta(name)
    out_console.print(f"[bold]{canon}[/bold]: {escape(meta.get('help', ''))}")
    out_console.print(f"data: {', '.join(meta.get('data_kinds', ('points', 'image')))}")
    out_console.print(_options_table(factory, "model", MODELS.context))
    out_console.print(f"set them with --set model.OPTION=VALUE, e.g. genzoo train {canon} --data 8gaussians --set model.{next(iter(fields_of(factory, 1)), 'OPTION')}=...", highlight=False)


@app.command()
def datasets(name: Optional[str] = typer.Argument(None, help="A dataset: show its options.")) -> None:
    """List the registered datasets (plus folder:PATH, npz:PATH, npy:PATH for your own), or the options of one."""
    if name is None:
        _registry_table(DATASETS, "datasets")
        return
    if "+" in name:  # two-domain data: the pair's own options; each side's with `genzoo datasets SIDE`
        from .data.pairs import load_pair, split_pair

        sides = split_pair(name)
        if sides is None:
            raise GenzooError(f"dataset '{name}' is not a pair; write two datasets as A+B, e.g. mnist+digits")
        for side in sides:
            if ":" not in side:
                DATASETS.get(side)  # an unknown side: one sentence with the names
        out_console.print(f"[bold]{escape(name)}[/bold]: two domains as one two-stream dataset (streams a and b); "
                          f"options of one side as data.a.OPTION / data.b.OPTION (list them with genzoo datasets {escape(sides[0])})")
        out_console.print(_options_table(load_pair, "data", ("root", "name")))
        return
    factory = DATASETS.get(name.split(":", 1)[0] if ":" in name else name)
    out_console.print(f"[bold]{DATASETS.canonical(name.split(':', 1)[0] if ':' in name else name)}[/bold]: {escape(DATASETS.meta(name.split(':', 1)[0] if ':' in name else name).get('help', ''))}")
    out_console.print(_options_table(factory, "data", ("root", "path")))


@app.command("metrics")
def metrics_(name: Optional[str] = typer.Argument(None, help="A metric: show its options.")) -> None:
    """List the evaluation metrics (what each needs, which way is better), or the options of one."""
    if name is None:
        table = Table(title="metrics (genzoo eval --metrics a,b; options --set NAME.OPTION=VALUE)")
        for col in ("name", "better", "needs", "description"):
            table.add_column(col, style="bold" if col == "name" else None)
        for m in METRICS.names():
            meta = METRICS.meta(m)
            table.add_row(m, "higher" if meta.get("higher_is_better") else "lower", ", ".join(meta.get("needs", ())) or "-",
                          escape(meta.get("help", "")))
        out_console.print(table)
        return
    fn = METRICS.get(name)
    canon = METRICS.canonical(name)
    meta = METRICS.meta(name)
    out_console.print(f"[bold]{canon}[/bold] ({'higher' if meta.get('higher_is_better') else 'lower'} is better): {escape(meta.get('help', ''))}")
    out_console.print(_options_table(fn, canon, ("ctx",)))


@app.command()
def runs(root: Path = typer.Argument(Path("runs"), help="Folder holding run folders.")) -> None:
    """A table of runs with their last metrics."""
    if not root.is_dir():
        raise GenzooError(f"{root} does not exist; runs are written to ./runs by default")
    table = Table(title=str(root))
    for col in ("run", "model", "data", "step", "loss", "time (s)"):
        table.add_column(col)
    for d in sorted(p for p in root.iterdir() if (p / "config.yaml").is_file()):
        r = RunDir(d)
        try:
            cfg = r.config()
        except GenzooError:
            continue
        rows = r.metrics()
        last = rows[-1] if rows else {}
        loss = next((v for k, v in last.items() if k.endswith("loss")), None)
        table.add_row(
            d.name, str(cfg["model"].get("type")), str(cfg["data"].get("type")), str(last.get("step", 0)),
            f"{loss:.4g}" if isinstance(loss, float) else "-", str(last.get("time", "-")),
        )
    out_console.print(table)


@app.command()
def info(run: Path = typer.Argument(..., help="Run folder.")) -> None:
    """Show a run's configuration, size, progress and last metrics."""
    r = RunDir.existing(run)
    cfg = r.config()
    model = api.load(run)
    n_params = sum(p.numel() for p in model.parameters())
    rows = r.metrics()
    last = rows[-1] if rows else {}
    ckpt = r.latest_checkpoint()
    out_console.print(f"[bold]{r.path}[/bold]")
    out_console.print(f"model  {cfg['model']}")
    out_console.print(f"data   {cfg['data']}  shape={cfg['data_info']['shape']}")
    out_console.print(f"params {n_params:,}")
    out_console.print(f"step   {last.get('step', 0)} / {cfg['train'].get('steps') or '-'}   latest checkpoint: {ckpt.name if ckpt else '-'}")
    out_console.print(f"last   {json.dumps(last)}")
    for sub in ("samples", "plots"):
        files = sorted(p.name for p in (r.path / sub).glob("*.png")) if (r.path / sub).is_dir() else []
        out_console.print(f"{sub:<7}{', '.join(files) or '-'}")


# -- evaluation ---------------------------------------------------------------------------------


def _fmt(x: Any, spec: str = ".4g") -> str:
    return format(x, spec) if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _protocol_text(p: Any) -> str:
    """The protocol's short figures (counts, k, split...); long descriptions stay in eval.json."""
    if not isinstance(p, dict):
        return ""
    short = {k: v for k, v in p.items() if isinstance(v, (int, float))
             or (isinstance(v, str) and (len(v) <= 24 or (" " not in v and len(v) <= 64)))}  # ids, not prose
    return ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in short.items())


def _metric_options(set_: list[str]) -> dict[str, Any]:
    """``--set nll.k=5000`` -> ``{"nll": {"k": 5000}}``."""
    return parse_overrides(set_)


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="Run folder."),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Comma-separated metric names (default: every applicable one)."),
    n: int = typer.Option(10_000, "-n", help="Samples / test examples per metric."),
    set_: List[str] = typer.Option([], "--set", help="Metric option, e.g. nll.k=5000 (repeatable)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps (default auto)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding datasets (else $GENZOO_DATA, then the cache)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Sampler drawing every sample (ddim, ancestral, cfg, ...; options via --set sampler.steps=50)."),
    ema: Optional[bool] = typer.Option(None, "--ema/--no-ema", help="EMA or raw weights (default: EMA when the run has them)."),
) -> None:
    """Score a trained run with registered metrics; results are merged into RUN/eval.json."""
    from .evaluate import EVAL_FILE, evaluate

    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    from .loops.sweep import is_sweep, summarise

    sets = _metric_options(set_)
    sampler_opts = sets.pop("sampler", None)

    if is_sweep(run):  # every seed of a sweep, then mean ± std
        summary = summarise(run, metrics, run_eval=True, n=n, options=sets, seed=seed, device=device,
                            data_root=data_root)
        _sweep_table(summary, f"{run}  ({len(summary['seeds'])} seeds, n={n}, seed={seed})")
        out_console.print(str(Path(run) / "sweep.json"), soft_wrap=True)
        return
    res = evaluate(
        run, metrics, n=n, device=device, seed=seed, progress=err_console.is_terminal,
        options=sets, data_root=data_root, sampler=sampler, sampler_opts=sampler_opts, ema=ema,
    )
    table = Table(title=f"{run}  ({res['model'].get('type') if isinstance(res['model'], dict) else res['model']} on {res['data']}, "
                        f"{res['weights']} weights, n={n}, seed={seed})")
    for col in ("metric", "value", "± stderr", "protocol", "s"):
        table.add_column(col, justify="right" if col in ("value", "± stderr", "s") else "left")
    for name, r in res["metrics"].items():
        arrow = "↑" if r.get("higher_is_better") else "↓"
        if r.get("value") is None:
            value, err = ("n/a", "") if "error" not in r else ("[red]error[/red]", "")
            proto = f"[dim]{escape(str(r.get('reason')))}[/dim]" if "error" not in r else f"[red]{escape(str(r['error']))}[/red]"
        else:
            value, err, proto = _fmt(r["value"]), _fmt(r["stderr"], ".2g") if r.get("stderr") is not None else "", escape(_protocol_text(r.get("protocol")))
        table.add_row(f"{name} {arrow}", value, err, proto, f"{res['wall_s'].get(name, 0):.1f}")
        for part, p in (r.get("parts") or {}).items():  # a metric reporting a table (e.g. moses)
            arrow = "↑" if p.get("higher_is_better") else "↓"
            table.add_row(f"  {escape(part)} {arrow}", _fmt(p.get("value")), _fmt(p["stderr"], ".2g") if p.get("stderr") is not None else "",
                          f"n={p['n']}" if p.get("n") is not None else "", "")
    out_console.print(table)
    out_console.print(str(Path(run) / EVAL_FILE), soft_wrap=True)


@app.command()
def bench(
    data: str = typer.Option(..., "--data", "-d", help="Dataset name (see `genzoo datasets`)."),
    models: str = typer.Option(..., "--models", help="Comma-separated model names, or all (every model for this kind of data)."),
    budget: str = typer.Option("2m", "--budget", "-b", help="Per model: rounds (5000) or wall-clock time (2m, 90s)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Comma-separated metric names (default: every one)."),
    n: int = typer.Option(10_000, "-n", help="Samples / test examples per metric."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for runs and leaderboard (default runs/bench-DATA)."),
    set_: List[str] = typer.Option([], "--set", help="train.lr=1e-3, model.vae.latent_dim=8, data.n_train=2000 or nll.k=1000 (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every model's training and evaluation."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding datasets (else $GENZOO_DATA, then the cache)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Sampler for the models it applies to (e.g. ddim with --set sampler.steps=50); others sample their own way."),
) -> None:
    """Train several models with one budget on one dataset, score them alike, write a leaderboard."""
    from .bench import _cell, bench as run_bench

    if n < 1:
        raise GenzooError(f"-n must be at least 1, got {n}")
    sets = parse_overrides(set_)
    sampler_opts = sets.pop("sampler", None)
    train_opts = sets.pop("train", {})
    data_opts = sets.pop("data", {})
    model_opts = sets.pop("model", {})
    for k, v in model_opts.items():
        if not isinstance(v, dict):
            raise GenzooError(f"model options name their model: write model.MODEL.{k}=..., e.g. model.vae.latent_dim=8")
    if data_root is not None:
        data_opts["root"] = str(data_root)
    board = run_bench(
        data, models, budget=budget, out=out, metrics=metrics, n=n, seed=seed, progress=True,
        model_options=model_opts, train_options=train_opts, data_options=data_opts, options=sets,
        sampler=sampler, sampler_opts=sampler_opts,
    )
    table = Table(title=f"bench on {board['data']}")
    table.add_column("model", style="bold")
    for m in board["metrics"]:
        table.add_column(f"{m} {'↑' if board['higher_is_better'].get(m) else '↓'}", justify="right")
    for col in ("train s", "eval s", "steps"):
        table.add_column(col, justify="right")
    for r in board["rows"]:
        if r["status"] != "ok":
            cells = [f"[red]{escape(r['status'])}[/red]"] + [""] * (len(board["metrics"]) - 1) if board["metrics"] else []
        else:
            cells = [escape(_cell(r["metrics"].get(m))) for m in board["metrics"]]
        table.add_row(r["model"], *cells, *(_fmt(r[k], ".1f") if r[k] is not None else "-" for k in ("train_s", "eval_s")), str(r["steps"] or "-"))
    out_console.print(table)
    out_console.print(str(Path(board["out"]) / "leaderboard.md"), soft_wrap=True)


features_app = typer.Typer(no_args_is_help=True, help="Feature classifiers genzoo trains itself for FID, KID, precision/recall and mode counts.")
app.add_typer(features_app, name="features")


@features_app.command("train")
def features_train(
    data: str = typer.Option(..., "--data", "-d", help="Labelled image dataset, e.g. mnist."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Training passes (default: the library's)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if a network is cached."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding datasets (else $GENZOO_DATA, then the cache)."),
) -> None:
    """Train (or reuse) the cached feature classifier of a dataset and report its test accuracy."""
    from .data import load_data
    from .metrics import features

    if epochs is not None and epochs <= 0:
        raise GenzooError(f"--epochs must be positive, got {epochs}")
    d = load_data(data, root=str(data_root) if data_root is not None else None)
    key = features.cache_key(d.info)
    cached = features.feature_info(key)
    if cached is not None and not force:
        err_console.print(f"feature network for {key} already cached; pass --force to retrain it")
    net = features.feature_net(d, train=True, force=force, progress=err_console.is_terminal,
                               **({"epochs": epochs} if epochs is not None else {}))
    info = features.feature_info(key) or {}
    acc = info.get("test_accuracy", getattr(net, "genzoo_accuracy", None))
    where = features.cache_root() / "features"
    out_console.print(f"{key}: test accuracy {_fmt(100 * acc, '.2f') + ' %' if isinstance(acc, (int, float)) else 'unknown'}")
    out_console.print(str(where / f"{key.replace('/', '_').replace(':', '_')}.safetensors"), soft_wrap=True)


@features_app.command("list")
def features_list() -> None:
    """Show the cached feature networks (dataset, test accuracy, epochs, date)."""
    from .metrics import features

    where = features.cache_root() / "features"
    files = sorted(where.glob("*.json")) if where.is_dir() else []
    if not files:
        out_console.print(f"no feature networks cached in {where}; train one with `genzoo features train --data mnist`")
        return
    table = Table(title=str(where))
    for col in ("dataset", "test acc", "epochs", "shape", "classes", "date"):
        table.add_column(col)
    for f in files:
        try:
            meta = json.loads(f.read_text())
        except (OSError, ValueError):
            table.add_row(f.stem, "[red]corrupt[/red]", "", "", "", "")
            continue
        acc = meta.get("test_accuracy")
        table.add_row(
            str(meta.get("dataset", f.stem)), f"{100 * acc:.2f} %" if isinstance(acc, (int, float)) else "-",
            _fmt(meta.get("epochs", "-")), "x".join(str(s) for s in meta.get("image_shape", [])) or "-",
            str(meta.get("num_classes", "-")), str(meta.get("date", "-")),
        )
    out_console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        import torch

        from .train.config import default_threads

        torch.set_num_threads(default_threads())  # train.threads, when set, wins for training
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) comes back as a return value here
            return rc
    except GenzooError as e:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank finds the same mistake; rank 0 says it
            err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    except NonFiniteLoss as e:
        err_console.print(f"[red]training stopped:[/red] {escape(str(e))}", highlight=False)
        return 1
    except typer.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except MemoryError:
        err_console.print("[red]error:[/red] out of memory; lower what you asked for (-n, train.batch_size, network sizes)", highlight=False)
        return 2
    except RuntimeError as e:  # torch reports a failed allocation as a RuntimeError (OutOfMemoryError on GPUs)
        if not _out_of_memory(e):
            raise
        asked = re.search(r"tried to allocate (\d+ bytes|[\d.]+ \w+)", str(e))
        detail = f" (an allocation of {asked.group(1)} failed)" if asked else ""
        err_console.print(f"[red]error:[/red] out of memory{escape(detail)}; lower what you asked for (-n, train.batch_size, "
                          "network sizes)", highlight=False)
        return 2
    except OSError as e:  # the environment, not genzoo: a full disk, a read-only or vanished folder
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        err_console.print(f"[red]error:[/red] cannot read or write{escape(where)} ({escape(e.strerror or str(e))}); "
                          "check the path, its permissions and the free disk space", highlight=False)
        return 2
    except Exception as e:  # click's usage errors (vendored inside newer typer), matched by their API
        message = getattr(e, "format_message", None)
        if callable(message) and hasattr(e, "exit_code"):
            err_console.print(f"[red]error:[/red] {escape(message())}", highlight=False)
            return 2
        if type(e).__name__ == "Abort":
            return 130
        raise
    return 0


def _out_of_memory(e: BaseException) -> bool:
    import torch

    text = str(e).lower()
    return isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
