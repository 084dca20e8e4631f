"""The command line end to end: train, sample, info, runs, resume, and every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main

FAST = ["--set", "train.log_every=10", "--set", "train.progress=false", "--set", "model.encoder.type=mlp", "--set", "model.encoder.hidden=32", "--set", "train.batch_size=32"]


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "vae-digits"
    assert run_cli("train", "vae", "--data", "digits", "--steps", 50, "--out", out, *FAST) == 0
    return out


def test_train_writes_a_complete_run(digits_run: Path) -> None:
    for f in ("config.yaml", "model.safetensors", "metrics.jsonl", "samples/final.png", "samples/reconstructions.png", "plots/loss.png"):
        assert (digits_run / f).is_file(), f
    rows = [json.loads(l) for l in (digits_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40, 50]
    assert all(np.isfinite(r["loss"]) for r in rows)
    ckpt = json.loads((digits_run / "checkpoints/latest.json").read_text())
    assert ckpt["step"] == 50
    model = genzoo.load(digits_run)
    assert model.sample(5).shape == (5, 1, 8, 8)


def test_sample_png_and_npz(digits_run: Path, tmp_path: Path) -> None:
    assert run_cli("sample", digits_run, "-n", 16, "-o", tmp_path / "s.npz") == 0
    x = np.load(tmp_path / "s.npz")["x"]
    assert x.shape == (16, 1, 8, 8) and np.isfinite(x).all()
    assert run_cli("sample", digits_run, "-n", 16, "-o", tmp_path / "s.png") == 0
    assert Image.open(tmp_path / "s.png").size[0] > 8 * 4


def test_listing_commands(digits_run: Path, capsys) -> None:
    assert run_cli("models") == 0 and "vae" in capsys.readouterr().out
    assert run_cli("datasets") == 0 and "mnist" in capsys.readouterr().out
    assert run_cli("runs", digits_run.parent) == 0 and "vae-digits" in capsys.readouterr().out
    assert run_cli("info", digits_run) == 0
    out = capsys.readouterr().out
    assert "params" in out and "step   50" in out


def test_2d_data_gives_scatter_pictures(tmp_path: Path) -> None:
    out = tmp_path / "ae-8g"
    assert run_cli("train", "ae", "--data", "8gaussians", "--steps", 20, "--out", out, *FAST) == 0
    assert (out / "samples/final.png").is_file()
    assert run_cli("sample", out, "-n", 100, "-o", tmp_path / "p.npz") == 0
    assert np.load(tmp_path / "p.npz")["x"].shape == (100, 2)


def test_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    common = ["--data", "digits", *FAST, "--set", "train.checkpoint_every=20"]
    assert run_cli("train", "vae", "--steps", 40, "--out", tmp_path / "full", *common) == 0
    assert run_cli("train", "vae", "--steps", 20, "--out", tmp_path / "part", *common) == 0
    assert run_cli("train", "--resume", tmp_path / "part", "--steps", 40) == 0
    full = [json.loads(l) for l in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    part = [json.loads(l) for l in (tmp_path / "part/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in part] == [10, 20, 30, 40]
    for a, b in zip(full, part):
        assert a["step"] == b["step"] and a["loss"] == b["loss"] and a["kl"] == b["kl"], (a, b)
    wa, wb = genzoo.load(tmp_path / "full").state_dict(), genzoo.load(tmp_path / "part").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_corrupt_checkpoint_is_one_clear_error(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert run_cli("train", "vae", "--data", "digits", "--steps", 20, "--out", out, *FAST) == 0
    latest = out / "checkpoints" / json.loads((out / "checkpoints/latest.json").read_text())["dir"]
    state = latest / "state.safetensors"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    before = snapshot(out)
    capsys.readouterr()
    assert run_cli("train", "--resume", out, "--steps", 40) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and "Traceback" not in err
    assert snapshot(out) == before
    (out / "model.safetensors").write_bytes(b"garbage")
    assert run_cli("sample", out, "-n", 4, "-o", tmp_path / "x.png") == 2
    assert "truncated or corrupt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "vea", "--data", "digits"], "unknown model 'vea'"),
        (["train", "vae", "--data", "digitz"], "unknown dataset 'digitz'"),
        (["train", "vae", "--data", "digits", "--set", "model.latnt_dim=3"], "valid options of model are"),
        (["train", "vae", "--data", "digits", "--set", "train.steps=ten"], "train.steps must be int"),
        (["train", "vae", "--data", "digits", "--set", "optim.lr=1"], "unknown override section 'optim'"),
        (["train", "vae", "--data", "digits", "-c", "missing.yaml"], "missing.yaml does not exist"),
        (["train", "vae", "--data", "npz:nowhere.npz"], "nowhere.npz"),
        (["train", "vae"], "name a dataset"),
        (["sample", "no-such-run", "-o", "x.png"], "does not exist"),
        (["info", "no-such-run"], "does not exist"),
        (["train", "vae", "--data", "digits", "--bogus"], "No such option"),
    ],
)
def test_bad_inputs_exit_2_with_one_sentence(args, message, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_existing_run_is_never_overwritten(digits_run: Path, capsys) -> None:
    before = snapshot(digits_run)
    assert run_cli("train", "vae", "--data", "digits", "--steps", 5, "--out", digits_run) == 2
    assert "already exists" in capsys.readouterr().err
    assert run_cli("train", "--resume", digits_run, "--steps", 50) == 2  # nothing left to do
    assert run_cli("sample", digits_run, "-n", 4, "-o", digits_run / "x.gif") == 2
    assert snapshot(digits_run) == before


def test_non_finite_loss_stops_with_name_step_and_checkpoint(tmp_path: Path) -> None:
    from helpers import mixture_2d

    data = mixture_2d()
    model = genzoo.build("vae", data.info)
    calls = {"n": 0}
    inner = model.loss

    def poisoned(batch):
        calls["n"] += 1
        out = inner(batch)
        if calls["n"] >= 15:
            out["loss"] = out["loss"] * float("nan")
        return out

    model.loss = poisoned  # type: ignore[method-assign]
    with pytest.raises(genzoo.errors.NonFiniteLoss, match=r"player 'model' became non-finite at step 15; the last good checkpoint is .*step_0000010"):
        genzoo.train(model, data, tmp_path / "nan", steps=40, log_every=20, checkpoint_every=10, progress=False)
    assert not (tmp_path / "nan/checkpoints/step_0000020").exists()


def test_ctrl_c_writes_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    """Ctrl-C mid-window: a checkpoint, exit 130, no row for the part of a window (the checkpoint
    carries the window's sums), and the resumed run's log and weights equal an uninterrupted run's."""
    common = ["--data", "digits", "--steps", "400", *FAST, "--set", "train.log_every=7", "--set", "train.checkpoint_every=100000",
              "--set", "train.threads=1", "--set", "train.logger=none"]
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "train", "vae", "--out", str(out), *common],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    step = json.loads((out / "checkpoints/latest.json").read_text())["step"]
    assert 0 < step < 400, step
    assert genzoo.load(out).sample(2).shape == (2, 1, 8, 8)
    assert all(json.loads(line)["step"] % 7 == 0 for line in (out / "metrics.jsonl").read_text().splitlines())
    assert run_cli("train", "--resume", out, "--steps", 400) == 0
    assert run_cli("train", "vae", "--out", tmp_path / "full", *common) == 0

    def untimed(run: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k not in ("time", "steps_per_s")}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert untimed(out) == untimed(tmp_path / "full")
    wa, wb = genzoo.load(out).state_dict(), genzoo.load(tmp_path / "full").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
