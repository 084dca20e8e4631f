"""Trainer speed options: channels-last convolutions (and their checkpoints), optimizer choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.train import TrainConfig, Trainer
from genzoo.train.optim import make_optimizer

from helpers import tiny_images

torch.set_num_threads(1)

SMALL = ["--set", "model.generator.width=8", "--set", "model.critic.width=8", "--set", "model.latent_dim=8",
         "--set", "train.batch_size=32", "--set", "train.progress=false", "--set", "train.log_every=5",
         "--set", "train.channels_last=true"]


def test_channels_last_weights_and_resume(tmp_path: Path) -> None:
    data = tiny_images(64, 16)
    model = genzoo.build("dcgan", data.info, latent_dim=8, generator={"type": "conv", "width": 8}, critic={"type": "conv", "width": 8})
    t = Trainer(model, data, TrainConfig(steps=2, batch_size=16, progress=False, channels_last=True, device="cpu"), callbacks=[])
    convs = [p for p in t.model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    t.fit()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    # checkpoints are layout-free: a resumed channels-last run is the uninterrupted one
    common = ["--data", "digits", *SMALL, "--set", "train.checkpoint_every=10"]
    assert main(["train", "dcgan", "--steps", "20", "--out", str(tmp_path / "full"), *common]) == 0
    assert main(["train", "dcgan", "--steps", "10", "--out", str(tmp_path / "part"), *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "20"]) == 0
    full = [json.loads(l) for l in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    part = [json.loads(l) for l in (tmp_path / "part/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in full] == [r["step"] for r in part] == [5, 10, 15, 20]
    for a, b in zip(full, part):
        assert a["critic/loss"] == b["critic/loss"] and a["generator/loss"] == b["generator/loss"], (a, b)
    wa, wb = genzoo.load(tmp_path / "full").state_dict(), genzoo.load(tmp_path / "part").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_optimizers_use_the_fused_or_foreach_paths() -> None:
    p = [torch.nn.Parameter(torch.randn(3))]
    cpu = torch.device("cpu")
    for name in ("adam", "adamw", "sgd"):
        assert make_optimizer(p, {"name": name, "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0}, cpu).defaults["fused"]
    assert make_optimizer(p, {"name": "rmsprop", "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0}, cpu).defaults["foreach"]


def test_channels_last_for_named_players_only() -> None:
    data = tiny_images(64, 16, side=16)
    model = genzoo.build("dcgan", data.info, latent_dim=8, generator={"type": "conv", "width": 8}, critic={"type": "conv", "width": 8})
    cfg = TrainConfig(steps=1, batch_size=16, progress=False, channels_last=["generator"], device="cpu")
    Trainer(model, data, cfg, callbacks=[])
    # NHWC: the channel index is the innermost (stride 1); only weights with several channels show it
    inner = lambda m: [p.stride(1) == 1 for p in m.parameters() if p.dim() == 4 and p.shape[1] > 1]  # noqa: E731
    assert inner(model.generator) and all(inner(model.generator))
    assert inner(model.critic) and not any(inner(model.critic))
    with pytest.raises(genzoo.GenzooError, match="not a player"):
        Trainer(model, data, TrainConfig(steps=1, batch_size=16, channels_last=["painter"], device="cpu"), callbacks=[])
