"""DDP under torchrun: N processes are one process with the whole batch; rank 0 alone writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import one_thread  # noqa: F401

import genzoo
from genzoo.cli import main
from genzoo.train import RunDir

WORKER = Path(__file__).with_name("ddp_worker.py")
SETTINGS = ["--set", "data.n_train=512", "--set", "data.n_test=64", "--set", "train.batch_size=32",
            "--set", "train.progress=false", "--set", "train.threads=1", "--set", "train.log_every=1",
            "--set", "train.checkpoint_every=4"]
OPTIONS = {"data_options": {"n_train": 512, "n_test": 64}, "batch_size": 32, "progress": False, "threads": 1,
           "log_every": 1, "checkpoint_every": 4, "callbacks": []}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp: Path, *args: str) -> dict[str, list[str]]:
    """``torchrun --nproc_per_node 2 ddp_worker.py ARGS`` in ``tmp``; returns each rank's writes."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tmp / "tmp"),
           "PYTHONPATH": str(Path(genzoo.__file__).parents[1])}
    (tmp / "tmp").mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_port()), str(WORKER), *args]
    out = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    audits = {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2]) for line in out.stdout.splitlines() if line.startswith("AUDIT ")}
    assert set(audits) == {"0", "1"}, out.stdout[-2000:]
    return audits


def losses(run: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k.endswith("loss")} for r in RunDir(run).metrics()]


def same_run(a: Path, b: Path) -> None:
    ra, rb = losses(a), losses(b)
    assert len(ra) == len(rb) > 0
    for x, y in zip(ra, rb):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k] == pytest.approx(y[k], rel=1e-4, abs=1e-5), k
    wa, wb = genzoo.load(a).state_dict(), genzoo.load(b).state_dict()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5), k


def test_two_processes_equal_one_and_resume_at_other_world_sizes(tmp_path) -> None:
    # 2 gloo processes, 16 examples each, against one process with the whole batch of 32
    audits = torchrun(tmp_path, "train", "gan", "--data", "8gaussians", "--steps", "8", "--out", "two", *SETTINGS)
    genzoo.train("gan", "8gaussians", tmp_path / "one", steps=8, **OPTIONS)
    same_run(tmp_path / "two", tmp_path / "one")
    # rank 0 wrote the run folder; rank 1 nothing but torch's own temporary files and compile cache folder
    assert any(str(tmp_path / "two") in w for w in audits["0"])
    assert [w for w in audits["1"] if str(tmp_path / "tmp") not in w and "torchinductor" not in w] == []
    assert RunDir(tmp_path / "two").latest_checkpoint().name == "step_0000008"

    # a 1-process run resumed by 2 processes, a 2-process run resumed by 1: both as if never stopped
    torchrun(tmp_path, "train", "--resume", "one", "--steps", "12")
    genzoo.resume(tmp_path / "two", steps=12, callbacks=[])
    genzoo.train("gan", "8gaussians", tmp_path / "straight", steps=12, **OPTIONS)
    same_run(tmp_path / "one", tmp_path / "straight")
    same_run(tmp_path / "two", tmp_path / "straight")


def test_world_size_the_batch_cannot_be_split_over(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    code = main(["train", "vae", "--data", "8gaussians", "--steps", "2", "--out", str(tmp_path / "r"),
                 "--set", "train.batch_size=32", "--set", "data.n_train=100", "--set", "train.progress=false"])
    assert code == 2
    err = capsys.readouterr().err
    assert "train.batch_size 32 cannot be split over 3 processes" in " ".join(err.split())
    assert not (tmp_path / "r").exists()  # refused before anything was written
    # a run saved with batch 32 cannot resume on 3 processes either (one sentence, exit 2)
    monkeypatch.setenv("WORLD_SIZE", "1")
    genzoo.train("vae", "8gaussians", tmp_path / "saved", steps=2, data_options={"n_train": 100}, batch_size=32,
                 progress=False, callbacks=[])
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert main(["train", "--resume", str(tmp_path / "saved"), "--steps", "4"]) == 2
    assert "cannot be split over 3 processes" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setenv("RANK", "1")  # the other ranks fail alike, silently
    assert main(["train", "--resume", str(tmp_path / "saved"), "--steps", "4"]) == 2
    assert capsys.readouterr().err == ""


def test_each_process_samples_its_share_of_the_global_batch() -> None:
    """In-memory and streamed data: process r of N gets rows r*B/N:(r+1)*B/N of one process's
    batch, binarized with the same draws, and the loader state does not depend on N."""
    from torch.utils.data import TensorDataset

    from genzoo.data.base import InMemoryLoader, StreamingLoader
    from genzoo.train.distributed import ShardedLoader

    x, y = torch.rand(64, 3), torch.arange(64)
    for make in (lambda: InMemoryLoader(x, y, 12, seed=3, binarize="dynamic"),
                 lambda: StreamingLoader(TensorDataset(x, y), 12, seed=3, binarize="dynamic")):
        whole = make()
        shards = []
        for rank in range(3):
            loader = make()
            if isinstance(loader, StreamingLoader):
                loader.set_shard(rank, 3)  # reads only its rows
            else:
                loader = ShardedLoader(loader, rank, 3)
            shards.append(loader)
        for _ in range(7):  # across an epoch boundary (5 batches per epoch)
            full = next(whole)
            parts = [next(s) for s in shards]
            assert torch.equal(torch.cat([p.x for p in parts]), full.x)  # binarized alike
            assert torch.equal(torch.cat([p.c for p in parts]), full.c)
            assert set(full.x.unique().tolist()) <= {0.0, 1.0}
        for s in shards:
            assert s.state_dict()["pos"] == whole.state_dict()["pos"] and s.state_dict()["epoch"] == whole.state_dict()["epoch"]
