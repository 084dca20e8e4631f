"""Hostile ``genzoo train`` command lines for the property-based tests and the fuzz benchmark.

A case is a model, a dataset and a few ``--set section.key=value`` overrides whose keys are
drawn from the real option paths (nested components included) plus made-up ones, and whose
values are ordinary, extreme or ill-typed: negative and huge numbers, nan and inf, empty and
odd strings, lists, mappings. :func:`run_case` runs one in this process under an alarm and
classifies it:

- ``trained``: exit 0;
- ``refused``: exit 2 with one ``error:`` sentence;
- ``diverged``: exit 1 with the one ``training stopped:`` sentence of a non-finite loss (a
  valid but unstable setting, e.g. a huge learning rate);
- anything else is a failure: ``traceback`` (an exception escaped), ``hang`` (past the time
  limit), ``stray`` (a file written outside ``--out``), ``leftover`` (a refusal that left a
  ``--out`` folder behind, blocking a retry with the same ``--out``), ``unclear`` (another exit code or a
  message that is not one sentence).

Every case runs with ``--out`` inside a fresh folder that is also the working directory and
the cache (``GENZOO_CACHE``, ``XDG_CACHE_HOME``), so any file written outside ``--out`` is seen.
"""

from __future__ import annotations

import functools
import io
import math
import os
import signal
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

# matplotlib's own font cache is not genzoo's doing: keep it out of the folders being watched
os.environ.setdefault("MPLCONFIGDIR", os.path.join(os.path.expanduser("~"), ".cache", "matplotlib"))

_POINTS = ("8gaussians", "moons", "swissroll", "checkerboard", "pinwheel")
_SMALL = _POINTS + ("digits",)  # 2-D data (fast) and the bundled 8x8 digits
#: Each model with the datasets its cases draw from: one or more of every family, and each data
#: kind (points, images, two-domain pairs, SMILES sequences). ``smiles`` stands for
#: ``smiles:FILE``, a small file of molecules written once per process (:func:`smiles_file`).
FAMILIES: dict[str, tuple[str, ...]] = {
    **{m: _SMALL for m in ("vae", "iwae", "ae", "gan", "wgan_gp", "realnvp", "gmmn", "ebgan")},
    **{m: _SMALL for m in ("aae", "wae_mmd", "factor_vae")},  # latent matching
    **{m: ("digits+digits",) for m in ("cyclegan", "dann")},  # two domains
    **{m: ("smiles",) for m in ("char_rnn", "smiles_vae")},  # sequences
    "ddpm": _SMALL,  # diffusion (drawn once it is registered)
}


def _registered() -> tuple[str, ...]:
    import genzoo  # noqa: F401  (fills the registries)
    from genzoo.registry import MODELS as MS

    return tuple(m for m in FAMILIES if m in MS.names())


#: Models and datasets the cases draw from.
MODELS = _registered()
DATASETS = tuple(dict.fromkeys(d for m in MODELS for d in FAMILIES[m]))
#: Settings every case gets first (a case may override them) and last (it may not): small data
#: so a case that trains is quick, a time budget so a valid long run still ends, one thread,
#: and no logger (an MLflow store would be written outside --out by design).
BASE = ["--set", "data.n_train=2000", "--set", "data.n_test=500", "--set", "train.log_every=5"]
#: First settings by dataset where the 2-D ones do not apply (digits: 1500 training images).
BASE_OF = {"digits": BASE[-2:], "smiles": BASE[-2:], "digits+digits": ["--set", "data.size=16", *BASE[-2:]]}
FORCED = ["--set", "train.max_minutes=0.02", "--set", "train.progress=false", "--set", "train.threads=1",
          "--set", "train.logger=none"]
#: train.compile is left out too: torch.compile's first step compiles for minutes of CPU by design
#: (not a hang, but it would read as one under the time limits; and it would blow the test's budget).
NOT_FUZZED = {"train.max_minutes", "train.progress", "train.threads", "train.logger", "train.compile"}

_INTS = [-(2**63), -(10**12), -5, -1, 0, 1, 2, 3, 7, 33, 513, 10**9, 2**31, 2**63, 10**30]
_FLOATS = [float("nan"), float("inf"), float("-inf"), -1.0, -0.0, 0.0, 1e-300, 1e-8, 0.5, 0.999, 1.0, 3.7, 1e6, 1e300]
_TEXT = ["", " ", "null", "~", "none", "auto", "yes", "abc", "1e-4", "-1e9", "0x10", "1_000", "[]", "{}", "[1, -2]",
         "[0.5, 2.0]", "{a: 1}", "{type: mlp}", "{type: conv, width: -3}", "{type: nope}", "mlp", "conv", "mog", "vamp",
         "normal", "flow", "../../etc/passwd", "/dev/null", "ünïcødé", "\t", "'", "\"", "*", "&a", "!!python/object:os.system",
         "a" * 300]


@functools.lru_cache(maxsize=None)
def options(model: str, dataset: str) -> dict[str, list[object]]:
    """Every real option path of the model (nested components included), the dataset and the
    trainer, each with values plausible for its type: its default, values near it, its bounds
    and each of its choices, so many cases train with edge settings rather than being refused."""
    import re

    from genzoo.config import options_of
    from genzoo.registry import DATASETS as DS, MODELS as MS
    from genzoo.train import TrainConfig

    from genzoo.data.pairs import load_pair

    factory = load_pair if "+" in dataset else DS.get(dataset)
    rows = [("model." + o.path, o) for o in options_of(MS.get(model))]
    rows += [("data." + o.path, o) for o in options_of(factory, ("root", "path", "name"))]
    rows += [("train." + o.path, o) for o in options_of(TrainConfig, ())]
    out: dict[str, list[object]] = {}
    for path, o in rows:
        if path in NOT_FUZZED or not isinstance(o.default, (bool, int, float, str, tuple, list, type(None))):
            continue
        d, vals = o.default, []
        bounds = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", o.type.split(" in ")[-1])] if " in " in o.type else []
        if isinstance(d, bool):
            vals = [True, False]
        elif isinstance(d, int):
            vals = [d, 1, 2, max(1, d // 4), d * 2] + [int(x) for x in bounds]
        elif isinstance(d, float):
            vals = [d, d / 10, d * 3, 0.0, 1e-3] + bounds
        elif isinstance(d, (tuple, list)):
            vals = [list(d), list(d[:1]), [1], [], [3, 3]]
        if "|" in o.type:  # choices: 'a' | 'b', or a registry's names
            vals += [c.strip().strip("'") for c in o.type.split(":")[-1].split("|")]
        if d is None:
            vals += [None, 1, 0.5]
        out[path] = vals or [d]
    out["train.players.model.lr"] = [1e-3, 10.0]
    out["train.players.critic.lr"] = [1e-4]
    return out


@functools.lru_cache(maxsize=None)
def smiles_file() -> Path:
    """A small ``.smi`` file of molecules (one per line) in a temporary folder of this process."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="genzoo-fuzz-smiles-"))
    atexit.register(shutil.rmtree, folder, True)
    pool = ["CCO", "CCN", "CCCO", "CC(=O)O", "c1ccccc1", "c1ccccc1O", "c1ccncc1", "CC(C)C", "CCOC(=O)C", "C1CCCCC1", "CCS",
            "CC#N", "c1ccc(Cl)cc1", "OCC(O)CO", "CN(C)C", "c1ccc2[nH]ccc2c1", "CC(=O)Nc1ccccc1", "FC(F)F"]
    path = folder / "mols.smi"
    path.write_text("\n".join(pool * 12) + "\n")
    return path


def data_arg(dataset: str) -> str:
    """The ``--data`` argument of a dataset of :data:`FAMILIES`."""
    return f"smiles:{smiles_file()}" if dataset == "smiles" else dataset


def warm() -> None:
    """List every case's options once, before hypothesis draws (importing modules inside a draw trips its checks)."""
    for m in MODELS:
        for d in FAMILIES[m]:
            options(m, d)
    smiles_file()


def option_paths(model: str, dataset: str) -> list[str]:
    return list(options(model, dataset)) + ["train.players.generator.betas"]


def _text(value: object) -> str:
    """A value as it would be typed after ``=`` (YAML flow style for lists and mappings)."""
    import yaml

    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return {True: ".nan"}.get(math.isnan(value), ".inf" if value > 0 else "-.inf")
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


#: Plausible values: many are valid somewhere, so a good share of cases train with edge settings.
_PLAUSIBLE = [0, 1, 2, 3, 8, 16, 100, 0.0, 1e-3, 0.1, 0.5, 0.9, 1.0, 2.0, 10.0, True, False, "mlp", "conv", "mog", "vamp",
              "flow", "normal", "class", "gaussian", "logistic", "bernoulli", "[8]", "[4, 4]", "[]", "{type: mlp, hidden: [8]}",
              "{type: conv, width: 4}", "sgd", "adamw", "rmsprop", "cosine", "step", "linear", "bf16", "fp16", "cpu", "minimax",
              "hinge", "uniform", "mask", "[0.0, 0.9]", "[0.5, 0.999]"]

hostile = st.recursive(
    st.one_of(st.sampled_from(_INTS), st.integers(-10**4, 10**4), st.sampled_from(_FLOATS),
              st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(_TEXT), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["type", "a", "hidden", "width", "lr"]), inner,
                                                                          max_size=3)),
    max_leaves=6,
).map(_text) | st.text(max_size=12)
#: Half plausible, half hostile.
values = st.one_of(st.sampled_from(_PLAUSIBLE).map(_text), hostile)


@st.composite
def cases(draw: st.DrawFn) -> list[str]:
    """One hostile ``genzoo train`` argument list (without ``--out``)."""
    model = draw(st.sampled_from(MODELS))
    data = draw(st.sampled_from(FAMILIES[model]))
    plausible = options(model, data)
    paths = option_paths(model, data)
    keys = st.one_of(st.sampled_from(paths), st.sampled_from(paths).map(lambda p: p + ".x"),
                     st.sampled_from(["model.nope", "data.n_trian", "train.", "model..latent_dim", "train.players", "model",
                                      "model.encoder.type.x", "nope.lr", "model.__class__", "data.root"]))
    argv = ["train", model, "--data", data_arg(data), "--steps", str(draw(st.sampled_from([1, 3, 8, 40])))] + BASE_OF.get(data, BASE)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 3)):  # three in four: a real option with a value plausible for its type
            path = draw(st.sampled_from(sorted(plausible)))
            argv += ["--set", f"{path}={_text(draw(st.sampled_from(plausible[path])))}"]
        else:  # else anything: made-up keys, hostile values
            argv += ["--set", f"{draw(keys)}={draw(values)}"]
    if not draw(st.integers(0, 4)):
        flag = draw(st.sampled_from(["--steps", "--epochs", "--seed"]))
        if flag == "--epochs":
            argv = argv[:4] + argv[6:]  # instead of --steps
        argv += [flag, draw(st.sampled_from(["-5", "0", "1", "0.5", "1e3", "nan", "ten", "9" * 25]))]
    return argv + FORCED


@dataclass
class Outcome:
    kind: str  # trained | refused | diverged | traceback | hang | stray | leftover | unclear
    rc: int | None
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.kind in ("trained", "refused", "diverged")


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` in genzoo can swallow it."""


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def classify(rc: int | None, err: str, new_files: set[str], seconds: float, escaped: str = "", out: Path | None = None) -> Outcome:
    """The outcome of a finished case from its exit code, stderr, the files it created outside ``out``,
    and (given ``out``) whether a refusal left the ``out`` folder behind."""
    lines = [line for line in err.splitlines() if line.strip()]
    if escaped or "Traceback" in err:
        return Outcome("traceback", rc, escaped or err[-2000:], seconds)
    if new_files:
        return Outcome("stray", rc, f"files outside --out: {sorted(new_files)[:5]}", seconds)
    last = lines[-1] if lines else ""
    if rc == 0:
        return Outcome("trained", rc, last, seconds)
    if rc == 2 and last.startswith("error: ") and len([l for l in lines if l.startswith("error:")]) == 1:
        if out is not None and out.exists():  # validated before anything is created: nothing may block a retry
            return Outcome("leftover", rc, f"{last}; but {out} was left holding {sorted(p.name for p in out.iterdir())[:5]}", seconds)
        return Outcome("refused", rc, last, seconds)
    if rc == 1 and last.startswith("training stopped: ") and "became non-finite" in last:
        return Outcome("diverged", rc, last, seconds)
    return Outcome("unclear", rc, err[-2000:], seconds)


def run_case(argv: list[str], root: Path, limit: float = 60.0) -> Outcome:
    """Run ``genzoo`` with ``argv`` (plus ``--out root/run``) in this process, ``root`` as working directory and caches."""
    from genzoo.cli import main

    root.mkdir(parents=True, exist_ok=True)
    out = root / "run"
    before = _files(root)
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in ("GENZOO_CACHE", "XDG_CACHE_HOME")}
    os.chdir(root)
    os.environ["GENZOO_CACHE"] = os.environ["XDG_CACHE_HOME"] = str(root / "cache")

    def alarm(signum: int, frame: object) -> None:
        raise _Hang

    old_handler = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    err, escaped, rc = io.StringIO(), "", None
    t0 = time.perf_counter()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            rc = main([*argv, "--out", str(out)])
    except _Hang:
        return Outcome("hang", None, f"still running after {limit:.0f} s", time.perf_counter() - t0)
    except BaseException as e:  # noqa: BLE001 - anything escaping main is a traceback for a user
        import traceback

        escaped = "".join(traceback.format_exception(e))[-2000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        os.chdir(old_cwd)
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    new = {f for f in _files(root) - before if not (f == "run" or f.startswith("run" + os.sep))}
    return classify(rc, err.getvalue(), new, time.perf_counter() - t0, escaped, out)
