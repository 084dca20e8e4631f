"""Reliability: bad input refused before anything is created, run-folder locks, resumes whose
metrics log reads like an uninterrupted run's, and the public logging hook."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.data.base import Batch, DataInfo
from genzoo.errors import NonFiniteLoss
from genzoo.models.base import GenerativeModel, Player
from genzoo.train import Callback, RunDir, TrainConfig, Trainer

from helpers import mixture_2d, one_thread  # noqa: F401  (one torch thread in this module)

FAST = ["--set", "train.progress=false", "--set", "model.encoder.type=mlp", "--set", "model.encoder.hidden=32", "--set", "train.batch_size=32", "--set", "train.logger=none"]
TIMING = ("time", "steps_per_s")  # wall-clock fields: the only ones allowed to differ between two runs


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows(run)]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = genzoo.load(a).state_dict(), genzoo.load(b).state_dict()
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# -- bad input: one sentence, exit 2, nothing created ------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", -5], "train.steps must be int >= 1, got -5"),
        (["--steps", 0], "train.steps must be int >= 1, got 0"),
        (["--epochs", -1], "train.epochs must be float > 0, got -1"),
        (["--set", "train.lr=-1"], "train.lr must be float > 0, got -1"),
        (["--set", "train.lr=nan"], "train.lr must be float > 0, got 'nan'"),
        (["--set", "train.batch_size=0"], "train.batch_size must be int >= 1, got 0"),
        (["--set", "train.batch_size=100000"], "batch size 100000 is larger than the 1500 training examples"),
        (["--set", "train.betas=[0.5,1.5]"], "train.betas must be a list of 2 values, each float in [0, 1)"),
        (["--set", "train.players.model.lr=-2"], "train.players.model.lr must be float > 0, got -2"),
        (["--set", "train.players.critic.lr=1"], "train.players.critic is not a player of this model"),
        (["--set", "train.device=meta"], "train.device must be auto, cpu, mps, cuda or cuda:N"),
        (["--set", "train.seed=-1"], "train.seed must be int in [0, 2^63-1], got -1"),
        (["--set", "train.logger=wandb"], "train.logger must be 'auto' | 'tensorboard' | 'mlflow' | 'none'"),
        (["--set", "train.steps=3", "--set", "train.epochs=2"], "give train.steps or train.epochs, not both"),
    ],
)
def test_bad_train_options_are_refused_before_anything_is_created(args, message, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "digits", "--out", out, *FAST, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not out.exists() and not (tmp_path / "runs").exists()
    # the refusal left nothing behind, so the corrected command works with the same --out
    if "batch_size=100000" in " ".join(map(str, args)):
        assert run_cli("train", "vae", "--data", "digits", "--out", out, "--steps", 2, *FAST) == 0


def test_a_sweep_refused_while_building_its_members_leaves_no_folder(capsys, tmp_path) -> None:
    out = tmp_path / "sweep"
    assert run_cli("sweep", "vae", "--data", "8gaussians", "--seeds", 2, "--steps", 1, "--out", out, "--set", "train.logger=none",
                   "--set", "model.encoder.hidden=[1000000,1000000]") == 2
    assert "GiB of memory available" in capsys.readouterr().err
    assert not out.exists()


def test_a_model_too_large_for_memory_is_refused_before_allocating(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    assert run_cli("train", "vae", "--data", "8gaussians", "--set", "model.encoder.hidden=[1000000,1000000]", "--steps", 1,
                   "--set", "train.logger=none") == 2
    err = capsys.readouterr().err
    assert "parameters" in err and "GiB of memory available" in err and "model.encoder.hidden" in err, err
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "runs").exists()  # counted on the meta device, nothing allocated


def test_unwritable_out_and_output_are_one_sentence(capsys, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run_cli("train", "vae", "--data", "digits", "--steps", 2, "--out", blocker / "run", *FAST) == 2
    err = capsys.readouterr().err
    assert "cannot create run folder" in err and "writable --out" in err and "Traceback" not in err, err
    assert run_cli("train", "vae", "--data", "digits", "--steps", 2, "--out", blocker, *FAST) == 2
    assert "is a file" in capsys.readouterr().err
    run = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "digits", "--steps", 2, "--out", run, *FAST) == 0
    capsys.readouterr()
    assert run_cli("sample", run, "-n", 4, "-o", blocker / "x.png") == 2
    err = capsys.readouterr().err
    assert "cannot create the folder" in err and "Traceback" not in err, err
    # a folder that exists but refuses new files (read-only; root ignores modes, so mkstemp is made to refuse)
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.png.abc.tmp"))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "mkstemp", refuse)
        assert run_cli("sample", run, "-n", 4, "-o", tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert f"cannot read or write {tmp_path / 'x.png'} (Permission denied)" in err and ".tmp" not in err, err


def test_sampling_more_than_memory_holds_is_one_sentence(tmp_path, capsys, monkeypatch) -> None:
    run = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "8gaussians", "--steps", 2, "--out", run, "--set", "data.n_train=256", "--set", "train.logger=none",
                   "--set", "train.progress=false") == 0
    capsys.readouterr()
    assert run_cli("sample", run, "-n", 10**11, "-o", tmp_path / "s.npz") == 2  # the samples alone: refused before drawing
    err = capsys.readouterr().err
    assert "-n 100000000000 samples of shape (2,) take 745.1 GiB, more than the" in err and "lower -n" in err, err
    assert not (tmp_path / "s.npz").exists()

    def starved(self, n, c=None):  # what torch raises when the sampler's own tensors do not fit
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 51200000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(type(genzoo.load(run)), "sample", starved)
    assert run_cli("sample", run, "-n", 10**8, "-o", tmp_path / "s.npz") == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: out of memory (an allocation of 51200000000 bytes failed); lower what you asked for (-n, " \
                  "train.batch_size, network sizes)", err


def test_python_dash_m_messages_unwrapped_off_a_terminal_version_py_typed(tmp_path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    long_out = blocker / ("x" * 70) / ("y" * 70) / "run"  # unwritable: the message names the whole path
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-m", "genzoo", "train", "vae", "--data", "digits", "--out", str(long_out),
                           "--steps", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot create run folder {long_out} " in lines[0], proc.stderr  # one line, however long
    assert len(lines[0]) > 2 * 80  # long enough that wrapping at 80 columns would have split it (and the path)
    assert run_cli("--version") == 0
    assert capsys.readouterr().out.strip() == f"genzoo {genzoo.__version__}"
    assert (Path(genzoo.__file__).parent / "py.typed").is_file()
    from genzoo import _version

    assert _version.__version__ == genzoo.__version__


def test_registry_tables_print_help_text_verbatim(capsys, monkeypatch) -> None:
    """Help strings are text, not rich markup: square brackets survive (z = [z_f, z_s], genzoo[molecules])."""
    from genzoo.registry import MODELS

    real = MODELS.meta
    monkeypatch.setattr(MODELS, "meta", lambda name: {**real(name), "help": "code [z_f, z_s]; pip install genzoo[molecules]"}
                        if name == "vae" else real(name))
    assert run_cli("models") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[z_f, z_s]" in out and "genzoo[molecules]" in out


def test_models_metrics_and_datasets_list_their_options(capsys) -> None:
    assert run_cli("models", "vae") == 0
    out = capsys.readouterr().out
    assert "model.latent_dim" in out and "model.encoder.hidden" in out and "mog | normal |" in out and "| vamp" in out
    assert run_cli("models", "vea") == 2 and "did you mean 'vae'" in capsys.readouterr().err
    assert run_cli("metrics") == 0
    out = capsys.readouterr().out
    assert "fid" in out and "parzen" in out and "higher" in out
    assert run_cli("metrics", "parzen") == 0 and "parzen.n_samples" in capsys.readouterr().out
    assert run_cli("datasets", "8gaussians") == 0
    out = capsys.readouterr().out
    assert "data.n_train" in out and "int in [1, 10^7]" in out
    assert run_cli("datasets", "digits+digits") == 0  # two domains: the pair's options, and how to reach a side's
    out = capsys.readouterr().out
    assert "data.size" in out and "data.channels" in out and "data.a.OPTION" in out
    assert run_cli("datasets", "digits+nope") == 2 and "unknown dataset 'nope'" in capsys.readouterr().err


# -- the run-folder lock -----------------------------------------------------------------------


def test_a_second_process_on_one_run_folder_is_refused_and_a_kill_releases_it(tmp_path, capsys) -> None:
    done, fresh = tmp_path / "done", tmp_path / "fresh"
    assert run_cli("train", "vae", "--data", "digits", "--steps", 4, "--out", done, *FAST, "--set", "train.checkpoint_every=2") == 0
    before = (done / "metrics.jsonl").read_bytes()
    with _held(done, fresh):  # another process is training into both folders
        assert run_cli("train", "vae", "--data", "digits", "--steps", 4, "--out", fresh, *FAST) == 2
        err = capsys.readouterr().err
        assert f"run folder {fresh} is in use by another genzoo process" in err and "Traceback" not in err, err
        assert run_cli("train", "--resume", done, "--steps", 8) == 2
        assert "is in use by another genzoo process" in capsys.readouterr().err
        with pytest.raises(genzoo.GenzooError, match="in use by another genzoo process"):
            RunDir(done).lock()
    assert (done / "metrics.jsonl").read_bytes() == before
    # the holder was killed with SIGKILL: the operating system released its locks
    assert run_cli("train", "--resume", done, "--steps", 8) == 0
    assert run_cli("train", "vae", "--data", "digits", "--steps", 4, "--out", fresh, *FAST) == 0


class _held:
    """Hold run folders' locks from a separate process, as a concurrent `genzoo train` would."""

    def __init__(self, *folders: Path) -> None:
        self.folders = folders

    def __enter__(self) -> "_held":
        for f in self.folders:
            f.mkdir(parents=True, exist_ok=True)
        code = ("import sys, time; from genzoo.train.checkpoint import RunDir; locks = [RunDir(f).lock() for f in sys.argv[1:]]; "
                "print('held', flush=True); time.sleep(600)")
        self.proc = subprocess.Popen([sys.executable, "-c", code, *map(str, self.folders)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGKILL)  # a crash
        self.proc.wait(timeout=60)


# -- resumed runs read like uninterrupted ones -------------------------------------------------


def test_resume_after_a_kill_drops_rows_past_the_checkpoint(tmp_path) -> None:
    """A process killed after logging steps 30 and 40 but checkpointing only at 25: on resume
    those rows (and a half-written line) are dropped and written again, once each."""
    common = ["--data", "digits", *FAST, "--set", "train.log_every=10", "--set", "train.checkpoint_every=25"]
    assert run_cli("train", "vae", "--steps", 60, "--out", tmp_path / "full", *common) == 0
    part = tmp_path / "part"
    assert run_cli("train", "vae", "--steps", 40, "--out", part, *common) == 0
    import shutil

    shutil.rmtree(part / "checkpoints" / "step_0000040")  # as if killed before its final checkpoint
    (part / "checkpoints" / "latest.json").write_text(json.dumps({"step": 25, "dir": "step_0000025"}))
    with open(part / "metrics.jsonl", "a") as f:
        f.write('{"step": 50, "epoch": 1.0, "lo')  # a line cut by the kill
    assert run_cli("train", "--resume", part, "--steps", 60) == 0
    assert [r["step"] for r in rows(part)] == [10, 20, 30, 40, 50, 60]
    assert untimed(part) == untimed(tmp_path / "full")
    assert same_weights(part, tmp_path / "full")


def test_resume_with_epochs_a_run_trained_with_steps(tmp_path) -> None:
    run = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "digits", "--steps", 20, "--out", run, *FAST) == 0
    assert run_cli("train", "--resume", run, "--epochs", 2) == 0  # 1500 // 32 = 46 batches per epoch
    assert rows(run)[-1]["step"] == 2 * 46
    cfg = RunDir(run).config()["train"]
    assert cfg["epochs"] == 2 and cfg["steps"] is None
    assert run_cli("train", "--resume", run, "--steps", 100) == 0 and rows(run)[-1]["step"] == 100


# -- the trainer's public hooks and its non-finite report --------------------------------------


def test_on_log_sees_every_row_as_written(tmp_path) -> None:
    class Spy(Callback):
        def __init__(self) -> None:
            self.rows: list[dict] = []
            self.closed = False

        def on_log(self, trainer, row) -> None:
            self.rows.append(row)

        def on_close(self, trainer) -> None:
            self.closed = True

    spy = Spy()
    data = mixture_2d()
    t = genzoo.train("vae", data, tmp_path / "run", model_options={"encoder": {"type": "mlp", "hidden": (8,)}}, callbacks=[spy], steps=12, log_every=5,
                     progress=False, logger="none")
    assert spy.rows == rows(t.run.path) and [r["step"] for r in spy.rows] == [5, 10, 12] and spy.closed


class ManyPlayers(GenerativeModel):
    """70 one-parameter players; player ``bad`` returns a NaN loss from round ``at`` on."""

    def __init__(self, bad: int, at: int) -> None:
        super().__init__()
        self.info = DataInfo("toy", (2,), kind="points")
        self.w = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(())) for _ in range(70)])
        self.bad, self.at, self.calls = bad, at, 0

    def players(self) -> list[Player]:
        def loss(i: int):
            def f(batch: Batch) -> dict:
                v = (self.w[i] - batch.x.mean()) ** 2
                if i == self.bad and self.calls >= self.at:
                    v = v * float("nan")
                if i == len(self.w) - 1:
                    self.calls += 1
                return {"loss": v}
            return f

        return [Player(f"p{i}", [self.w[i]], loss(i)) for i in range(len(self.w))]


def test_non_finite_loss_names_its_player_and_round_for_any_number_of_players(tmp_path) -> None:
    """Player 66 of 70 at round 3: the old ``step * 64 + index`` code decoded this as player 2, round 5."""
    model = ManyPlayers(bad=66, at=2)
    t = Trainer(model, mixture_2d(), TrainConfig(steps=10, batch_size=16, log_every=5, progress=False), callbacks=[])
    with pytest.raises(NonFiniteLoss, match="player 'p66' became non-finite at step 3;"):
        t.fit()


# -- loggers -----------------------------------------------------------------------------------


def test_missing_tensorboard_is_said_once_and_an_explicit_choice_is_refused(tmp_path, monkeypatch, capsys) -> None:
    import sys as _sys

    loggers = _sys.modules["genzoo.train.loggers"]
    monkeypatch.setattr(loggers, "_installed", lambda module: module != "tensorboard")
    monkeypatch.setattr(loggers, "_SAID", set())
    data = mixture_2d()
    for i in range(2):
        genzoo.train("vae", data, tmp_path / f"r{i}", model_options={"encoder": {"type": "mlp", "hidden": (8,)}}, callbacks=[], steps=2, progress=False)
    err = capsys.readouterr().err
    assert err.count("TensorBoard logging is off: the tensorboard package is not installed") == 1, err
    with pytest.raises(genzoo.GenzooError, match=r"train.logger=tensorboard needs the tensorboard package; pip install"):
        genzoo.train("vae", data, tmp_path / "r2", callbacks=[], steps=2, progress=False, logger="tensorboard")
    assert not (tmp_path / "r2").exists()


def test_mlflow_logger_writes_a_local_store_and_continues_on_resume(tmp_path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "8gaussians", "--steps", 6, "--out", run, "--set", "train.logger=mlflow",
                   "--set", "train.log_every=2", "--set", "train.checkpoint_every=2", "--set", "model.encoder.hidden=8",
                   "--set", "data.n_train=256") == 0
    assert run_cli("train", "--resume", run, "--steps", 10) == 0
    from mlflow.tracking import MlflowClient

    ids = json.loads((run / "mlflow.json").read_text())
    assert ids["tracking_uri"] == (tmp_path / "mlruns").as_uri()  # a local folder: nothing sent anywhere
    client = MlflowClient(tracking_uri=ids["tracking_uri"])
    history = client.get_metric_history(ids["run_id"], "loss")
    assert [(m.step, m.value) for m in history] == [(r["step"], r["loss"]) for r in rows(run)]
    assert [m.step for m in history] == [2, 4, 6, 8, 10]  # one MLflow run, continued by the resume
    params = client.get_run(ids["run_id"]).data.params
    assert params["model.type"] == "vae" and params["train.log_every"] == "2"


# -- every option typed and range-checked in one place -----------------------------------------


def _numeric_without_range(ann) -> bool:
    import types
    import typing

    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return False
    if ann in (int, float):
        return True
    if origin in (typing.Union, types.UnionType, tuple, list):
        return any(_numeric_without_range(a) for a in args if a is not Ellipsis)
    return False


def test_every_numeric_option_of_every_registry_declares_its_range() -> None:
    """Models, networks, priors, likelihoods, flows, datasets, metrics and the trainer: every int
    or float option carries ``Annotated[..., Range(...)]``, checked by ``config.coerce``."""
    import gc

    from genzoo.config import fields_of
    from genzoo.registry import Registry
    from genzoo.train.config import PlayerOptim

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gc.get_objects touches deprecated torch aliases
        registries = [o for o in gc.get_objects() if isinstance(o, Registry)]
    assert {r.kind for r in registries} >= {"model", "network", "dataset", "metric", "prior", "likelihood", "flow"}
    missing = []
    for reg in registries:
        for name in reg.names():
            if not callable(reg.get(name)):  # registries of objects (renderers, data kinds) hold no options
                continue
            for opt, (ann, _) in fields_of(reg.get(name)).items():
                if opt not in reg.context and opt not in ("root", "path", "ctx") and _numeric_without_range(ann):
                    missing.append(f"{reg.kind} {name}: {opt}")
    for cls in (TrainConfig, PlayerOptim):
        missing += [f"{cls.__name__}.{k}" for k, (ann, _) in fields_of(cls).items() if _numeric_without_range(ann)]
    assert not missing, missing


@pytest.mark.parametrize(
    "model, option, message",
    [
        ("vae", "model.latent_dim=0", "model.latent_dim must be int in [1, 2^20], got 0"),
        ("vae", "model.encoder.hidden=[64,0]", "model.encoder.hidden must be a list of int, each in [1, 2^20], got [64, 0]"),
        ("vae", "model.beta=-1", "model.beta must be float in [0, 1e+06], got -1"),
        ("vae", "model.encoder.dropout=1.5", "model.encoder.dropout must be float in [0, 1), got 1.5"),
        ("vae", "model.prior={type: mog, n_components: 0}", "model.prior.n_components must be int in [1, 10000], got 0"),
        ("wgan_gp", "model.n_critic=0", "model.n_critic must be int in [1, 100], got 0"),
        ("gan", "model.pack=1e9", "model.pack must be int in [1, 64]"),
        ("realnvp", "model.alpha=0.5", "model.alpha must be float in (0, 0.5), got 0.5"),
        ("vae", "data.n_train=1e12", "data.n_train must be int in [1, 10^7], got 1000000000000"),
        ("vae", "data.std=-0.1", "data.std must be float in (0, 1e+06], got -0.1"),
        ("vae", "data.seed=yes", "data.seed must be int"),
    ],
)
def test_model_and_data_options_are_range_checked(model, option, message, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", model, "--data", "8gaussians", "--steps", 2, "--set", option, "--set", "train.logger=none") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_default_threads_and_the_knob(monkeypatch) -> None:
    from genzoo.train import default_threads

    monkeypatch.setenv("GENZOO_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("GENZOO_THREADS", "many")
    with pytest.raises(genzoo.GenzooError, match="GENZOO_THREADS must be a whole number"):
        default_threads()
    monkeypatch.delenv("GENZOO_THREADS")
    cores = len(os.sched_getaffinity(0))
    assert default_threads() == max(1, cores // 2)  # never every core: a busy machine oversubscribes
    before = torch.get_num_threads()
    try:
        Trainer(genzoo.build("vae", mixture_2d().info), mixture_2d(), TrainConfig(steps=1, progress=False), callbacks=[])
        assert torch.get_num_threads() == max(1, cores // 2)
        Trainer(genzoo.build("vae", mixture_2d().info), mixture_2d(), TrainConfig(steps=1, threads=2, progress=False), callbacks=[])
        assert torch.get_num_threads() == 2  # train.threads wins
    finally:
        torch.set_num_threads(before)


def test_a_failed_dataset_lookup_leaves_no_empty_cache_folder(tmp_path, monkeypatch) -> None:
    import sys as _sys

    idx = _sys.modules["genzoo.data.idx"]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GENZOO_DATA", raising=False)

    def offline(url: str, dest: Path, timeout: float = 60.0) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(idx, "_download", offline)
    with pytest.raises(genzoo.GenzooError, match="kmnist data not found.*network is unreachable"):
        genzoo.load_data("kmnist")
    assert not (tmp_path / "cache").exists()
    mol = _sys.modules["genzoo.data.molecules"]  # MOSES looks up and downloads its files its own way
    monkeypatch.setattr(mol, "_download", offline)
    with pytest.raises(genzoo.GenzooError, match="MOSES file test.csv.gz not found.*network is unreachable"):
        mol.moses_file("test")
    assert not (tmp_path / "cache").exists()


# -- evaluation in the first hour --------------------------------------------------------------


def test_evaluate_loads_through_genzoo_load_with_ema_weights(tmp_path) -> None:
    data = mixture_2d()
    genzoo.train("vae", data, tmp_path / "run", model_options={"encoder": {"type": "mlp", "hidden": (8,)}}, callbacks=[],
                 steps=6, lr=1e-2, ema=0.5, progress=False, logger="none")
    auto = genzoo.evaluate(tmp_path / "run", ["recon"], n=50, data=data)
    raw = genzoo.evaluate(tmp_path / "run", ["recon"], n=50, data=data, ema=False)
    assert auto["weights"] == "ema" and raw["weights"] == "raw"
    by_hand = genzoo.evaluate(genzoo.load(tmp_path / "run", ema=True), ["recon"], n=50, data=data)
    assert auto["metrics"]["recon"]["value"] == by_hand["metrics"]["recon"]["value"] != raw["metrics"]["recon"]["value"]


def test_parzen_honours_n_and_kid_reports_a_spread_only_where_subsets_differ() -> None:
    from genzoo.metrics import EvalContext, run_metric

    data = mixture_2d(n_train=500, n_test=300)
    model = genzoo.build("gan", data.info).eval()
    r = run_metric("parzen", EvalContext(model, data, n=60))
    assert r["protocol"]["n_samples"] == 60 and r["protocol"]["n_val"] == 60 and r["protocol"]["n_test"] == 60
    whole = run_metric("kid", EvalContext(model, data, n=200), subset_size=1000)
    assert "std" not in whole and whole["protocol"]["subsets"] == 1 and "whole of both sets" in whole["protocol"]["spread"]
    parts = run_metric("kid", EvalContext(model, data, n=200), subset_size=50, subsets=10)
    assert parts["std"] > 1e-6 and parts["protocol"]["subsets"] == 10


def test_bench_gives_a_flow_an_nll_number_with_its_kind(tmp_path) -> None:
    board = genzoo.bench("8gaussians", "vae,gan,realnvp", budget=3, out=tmp_path / "b", metrics="nll", n=40, progress=False,
                         data_options={"n_train": 256, "n_test": 64}, train_options={"logger": "none"},
                         model_options={"realnvp": {"flow": {"n_layers": 2, "hidden": (8,)}}})
    got = {r["model"]: r["metrics"]["nll"] for r in board["rows"]}
    assert isinstance(got["realnvp"]["value"], float) and got["realnvp"]["protocol"]["kind"] == "exact"
    assert isinstance(got["vae"]["value"], float) and got["vae"]["protocol"]["kind"] == "bound"
    assert got["gan"]["value"] is None and "needs an exact log_prob, an nll_bound or an energy" in got["gan"]["reason"]
    md = (tmp_path / "b" / "leaderboard.md").read_text()
    assert "(exact)" in md and "(bound)" in md and "- nll (exact: realnvp): kind=exact" in md


def test_fid_without_a_cached_feature_net_says_what_it_does_and_how_long(tmp_path, monkeypatch, capsys) -> None:
    from helpers import tiny_images

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    data = tiny_images(n_train=128, n_test=64)
    model = genzoo.build("gan", data.info).eval()
    genzoo.evaluate(model, ["fid"], n=64, data=data, options={"fid": {}})
    err = capsys.readouterr().err
    assert "no feature network is cached for bars: training one now" in err and "CPU-minute" in err, err
    assert "genzoo features train --data bars" in err and len(err.strip().splitlines()) == 1
    genzoo.evaluate(model, ["fid"], n=64, data=data)
    assert capsys.readouterr().err == ""  # cached: nothing to say
