"""CycleGAN, ADDA, DANN and source-only: their parts, their stages and their metrics, on tiny data."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import one_thread, tiny_pair  # noqa: F401
from PIL import Image
from torch import nn

import genzoo
from genzoo.cli import main
from genzoo.data.base import Batch
from genzoo.errors import GenzooError
from genzoo.metrics.base import EvalContext, run_metric
from genzoo.models.base import CanTranslate, GenerativeModel
from genzoo.models.domains import HistoryBuffer, reverse_gradient
from genzoo.train import RunDir, TrainConfig, Trainer
from genzoo.train.callbacks import Callback


def test_history_buffer_fills_then_swaps_half_the_time() -> None:
    torch.manual_seed(0)
    pool = HistoryBuffer(50, (1, 2, 2))
    first = torch.arange(50.0).view(50, 1, 1, 1).expand(50, 1, 2, 2).clone()
    assert torch.equal(pool.query(first[:30], first[:30, 0, 0, 0] / 1000)[0], first[:30]) and int(pool.count) == 30  # filling: stored and returned
    assert torch.equal(pool.query(first[30:], first[30:, 0, 0, 0] / 1000)[0], first[30:]) and torch.equal(pool.images, first)
    swapped = 0
    for step in range(40):
        new = (1000.0 + 10 * step + torch.arange(10.0)).view(10, 1, 1, 1).expand(10, 1, 2, 2).clone()
        before = pool.images[:, 0, 0, 0].tolist()
        images, weights = pool.query(new, weight=new[:, 0, 0, 0] / 1000)  # each image's weight names it too
        assert torch.equal(weights, images[:, 0, 0, 0] / 1000)  # weights travel with their images
        out = images[:, 0, 0, 0].tolist()
        after, fresh = pool.images[:, 0, 0, 0].tolist(), new[:, 0, 0, 0].tolist()
        # nothing is lost or made up: what went in (stored + new) is what is there (stored + returned)
        assert sorted(before + fresh) == sorted(after + out)
        for i, v in enumerate(out):
            if v != fresh[i]:  # swapped: an image stored before (or put in by an earlier image of this batch)
                assert v in before or v in fresh[:i]
                assert fresh[i] in after or fresh[i] in out[i + 1 :]  # ... and the new image took its slot
                swapped += 1
            else:
                assert fresh[i] not in after  # kept out of the history
        assert int(pool.count) == 50
    assert 0.4 < swapped / 400 < 0.6  # probability ½ per image
    assert torch.equal(HistoryBuffer(0, (1, 2, 2)).query(first[:3])[0], first[:3])  # size 0: newest fakes only


def test_history_buffer_is_part_of_the_saved_state(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = genzoo.build("cyclegan", tiny_pair().info, generator={"width": 4, "n_blocks": 1}, critic={"width": 4}, history=5)
    m.pool_a.query(torch.rand(3, 1, 16, 16))
    keys = m.state_dict().keys()
    assert {"pool_a.images", "pool_a.weights", "pool_a.count", "pool_b.images"} <= set(keys)
    assert int(m.state_dict()["pool_a.count"]) == 3


def test_translation_keeps_shapes_and_ranges() -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    model = genzoo.build("cyclegan", data.info, generator={"width": 8, "n_blocks": 2}, critic={"width": 8})
    assert isinstance(model, CanTranslate) and model.directions == ("a2b", "b2a")
    x = data.streams["a"].x_test[:5]
    with torch.no_grad():
        for direction in model.directions:
            y = model.translate(x * 4 - 2, direction)  # even far outside the data's range
            assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    with pytest.raises(GenzooError, match="a2b or b2a, not 'a2c'"):
        model.translate(x, "a2c")


def test_critics_reuse_the_generators_fakes_of_the_round() -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    model = genzoo.build("cyclegan", data.info, generator={"width": 4, "n_blocks": 1}, critic={"width": 4}, history=0)
    batch = {s: Batch(data.streams[s].x_train[:8], data.streams[s].y_train[:8]) for s in "ab"}
    model.generator_loss(batch)
    cached = model._fakes
    calls = []
    hook = model.g_ab.register_forward_hook(lambda *a: calls.append(1))
    model.critic_loss(batch)
    assert cached is not None and not calls  # same batch: no generator pass
    model.critic_loss(batch)
    assert calls  # nothing cached any more: fakes are recomputed
    hook.remove()


class Interrupt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_sample(self, trainer, tag: str) -> None:  # noqa: ANN001
        if trainer.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def _adda():  # noqa: ANN202
    return genzoo.build("adda", tiny_pair().info, features=16, critic={"hidden": (16,)}, source_steps=4)


def _cfg(steps: int, **kw) -> TrainConfig:  # noqa: ANN003
    return TrainConfig(**{"steps": steps, "batch_size": 16, "progress": False, "log_every": 1, "device": "cpu",
                          "logger": "none", **kw})


def _run(path: Path) -> RunDir:
    path.mkdir(parents=True)
    return RunDir(path)


def test_adda_stage_two_starts_from_the_source_encoder() -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    model = _adda()
    t = Trainer(model, data, _cfg(4), run=None, callbacks=[])
    t.fit()
    assert t.stage_index == 0 and not all(torch.equal(a, b) for a, b in zip(model.encoder.parameters(), model.target.parameters()))
    src = [p.clone() for p in model.encoder.parameters()]
    model.stages()[1].on_start(model)  # what the trainer calls when round 5 begins stage 2
    assert all(torch.equal(a, b) for a, b in zip(model.target.parameters(), src))


@pytest.mark.parametrize("align", ["logits", "features"])
def test_adda_stage_two_moves_only_the_target_encoder_and_critic(align: str) -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    model = genzoo.build("adda", data.info, features=16, critic={"hidden": (16,)}, source_steps=4, align=align)
    width = data.info.num_classes if align == "logits" else 16
    assert model.critic(torch.zeros(2, width)).shape == (2, 1)  # the critic reads class logits or features
    seen: dict[str, torch.Tensor] = {}
    copy = model.start_adaptation

    def start(m: GenerativeModel) -> None:  # the state when stage 2 begins, after its copy
        copy(m)
        seen.update({k: v.clone() for k, v in model.state_dict().items()})

    model.start_adaptation = start  # type: ignore[method-assign]
    t = Trainer(model, data, _cfg(8), run=None, callbacks=[])
    t.fit()
    assert t.stage_index == 1 and seen
    frozen = {k: v for k, v in seen.items() if k.startswith(("encoder.", "classifier."))}
    moving = {k: v for k, v in seen.items() if k.startswith(("target.", "critic."))}
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())  # M_s and C stay as stage 1 left them
    assert any(not torch.equal(state[k], v) for k, v in moving.items() if k.startswith("target."))
    assert any(not torch.equal(state[k], v) for k, v in moving.items() if k.startswith("critic."))
    with pytest.raises(GenzooError, match="data.align|model.align|align"):
        genzoo.build("adda", data.info, align="pixels")


def test_adda_interrupted_in_stage_two_resumes_in_stage_two_with_identical_losses(tmp_path: Path) -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    full = _adda()
    Trainer(full, data, _cfg(9), run=_run(tmp_path / "full"), callbacks=[]).fit()
    torch.manual_seed(0)
    cut = _adda()
    run = _run(tmp_path / "cut")
    t1 = Trainer(cut, data, _cfg(9, sample_every=1), run=run, callbacks=[Interrupt(6)])
    t1.fit()
    assert t1.interrupted and t1.step == 6 and RunDir.load_checkpoint(run.latest_checkpoint())[1]["stage"] == 1
    resumed = _adda()
    t2 = Trainer(resumed, data, _cfg(9), run=run, callbacks=[])
    t2.fit(resume=run.latest_checkpoint())
    assert t2.stage_index == 1
    ctx = EvalContext(resumed.eval(), data)
    acc = run_metric("target_accuracy", ctx)
    with torch.no_grad():  # "unadapted" reads the target through the frozen stage-1 source encoder
        before = (resumed.classifier(resumed.encoder(data.streams["b"].x_test)).argmax(1) == data.streams["b"].y_test).float().mean()
    assert acc["unadapted"] == float(before)
    rows_full = {r["step"]: r for r in RunDir(tmp_path / "full").metrics()}
    rows = [r for r in run.metrics() if r["step"] > 6]
    assert [r["step"] for r in rows] == [7, 8, 9]
    for r in rows:
        assert "classifier/loss" not in r  # stage 2 players only
        for k in ("critic/loss", "target_encoder/loss"):
            assert r[k] == rows_full[r["step"]][k], (k, r["step"])
    for (k, a), b in zip(resumed.state_dict().items(), full.state_dict().values()):
        assert torch.equal(a, b), k


def test_gradient_reversal_flips_and_scales_the_gradient() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    (reverse_gradient(x, 0.3) * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.3 * torch.arange(3.0).expand(4, 3))
    m = genzoo.build("dann", tiny_pair().info, ramp_steps=10)
    assert m.grl_weight() == 0.0
    m.updates.fill_(10)
    assert abs(m.grl_weight() - (2 / (1 + np.exp(-10)) - 1)) < 1e-9


class Restyle(GenerativeModel):
    """The exact translation of tiny_pair's domains: b = 0.3 + 0.4 a, and its inverse."""

    directions = ("a2b", "b2a")

    def __init__(self, info) -> None:  # noqa: ANN001
        super().__init__()
        self.info = info
        self.w = nn.Parameter(torch.zeros(()))

    def translate(self, x: torch.Tensor, direction: str, c=None) -> torch.Tensor:  # noqa: ANN001
        return 0.3 + 0.4 * x if direction == "a2b" else (x - 0.3) / 0.4


class Thresholds(nn.Module):
    """Classifies bars by orientation: horizontal (0) when the row means vary more than the column means."""

    genzoo_accuracy = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # where embed() looks for the device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, cols = x.mean(-1).flatten(1).var(1), x.mean(-2).flatten(1).var(1)
        return torch.stack([rows - cols, cols - rows], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(-1).flatten(1), x.mean(-2).flatten(1)], 1)


def test_translation_metrics_on_an_exact_translation() -> None:
    data = tiny_pair()
    ctx = EvalContext(Restyle(data.info), data)
    ctx.cache[("domain_net", "a")] = ctx.cache[("domain_net", "b")] = Thresholds()
    lp = run_metric("label_preservation", ctx)
    assert lp["a2b"] == 1.0 and lp["b2a"] == 1.0 and lp["value"] == 1.0
    ce = run_metric("cycle_error", ctx)
    assert ce["value"] < 1e-6
    fid = run_metric("translation_fid", ctx)
    assert fid["value"] < 0.2 * min(fid["untranslated"].values())  # exact translation: much closer than the raw source


def test_target_accuracy_and_not_applicable() -> None:
    data = tiny_pair()
    torch.manual_seed(0)
    model = genzoo.build("source_only", data.info, features=16)
    Trainer(model, data, _cfg(60, lr=3e-3, log_every=60), run=None, callbacks=[]).fit()
    out = run_metric("target_accuracy", EvalContext(model.eval(), data))
    assert out["source_accuracy"] > 0.9 and 0 <= out["value"] <= 1 and out["protocol"]["n_target"] == 64
    assert out["unadapted"] == out["value"]  # one encoder for both domains
    ctx = EvalContext(Restyle(data.info), data)
    with pytest.raises(GenzooError, match="does not classify"):
        run_metric("target_accuracy", ctx)
    with pytest.raises(GenzooError, match="needs 'translate'"):
        run_metric("cycle_error", EvalContext(model, data))


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def test_cli_translate_and_bad_inputs(tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "cg"
    tiny = ["--set", "data.size=16", "--set", "model.generator.width=4", "--set", "model.generator.n_blocks=1", "--set", "model.critic.width=4",
            "--set", "train.batch_size=8", "--set", "train.progress=false", "--set", "train.log_every=1"]
    assert run_cli("train", "cyclegan", "--data", "digits+digits", "--steps", 2, "--out", out, *tiny) == 0
    assert (out / "samples" / "translations.png").is_file()
    assert run_cli("translate", out, "--direction", "b2a", "-i", "test", "-n", 5, "-o", tmp_path / "t.png") == 0
    assert Image.open(tmp_path / "t.png").size[1] > 2 * 16
    np.savez(tmp_path / "in.npz", x=np.random.default_rng(0).random((3, 16, 16)).astype("float32"))
    assert run_cli("translate", out, "-i", tmp_path / "in.npz", "-o", tmp_path / "t.npz") == 0
    y = np.load(tmp_path / "t.npz")["x"]
    assert y.shape == (3, 1, 16, 16) and 0 <= y.min() and y.max() <= 1
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype("uint8")).save(tmp_path / "one.png")
    assert run_cli("translate", out, "-i", tmp_path / "one.png", "-o", tmp_path / "one.npz") == 0
    assert np.load(tmp_path / "one.npz")["x"].shape == (1, 1, 16, 16)
    plain = tmp_path / "so"  # a model that does not translate
    assert run_cli("train", "source_only", "--data", "digits+digits", "--steps", 1, "--out", plain, "--set", "data.size=16",
                   "--set", "train.progress=false") == 0
    for c in ("cat", "dog"):  # 8x8 grey images of two classes unlike the digits'
        (tmp_path / "pets" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray((np.arange(64).reshape(8, 8) * (i + 1) % 256).astype("uint8")).save(tmp_path / "pets" / c / f"{i}.png")
    rgb = np.random.default_rng(0).integers(0, 256, (20, 3, 8, 8)).astype("uint8")
    rgb[0, 0, 0, :2] = 0, 255  # the full range after scaling, like digits
    np.savez(tmp_path / "rgb.npz", x=rgb, y=np.arange(20) % 10)
    capsys.readouterr()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    bad = [
        (("translate", plain, "-i", "test", "-o", tmp_path / "x.png"), "SourceOnly does not translate"),
        (("train", "adda", "--data", f"digits+folder:{tmp_path / 'pets'}", "--steps", 1), "different class sets"),
        (("train", "cyclegan", "--data", f"digits+npz:{tmp_path / 'rgb.npz'}", "--steps", 1), "--set data.channels=1"),
        (("translate", out, "--direction", "a2c", "-i", "test", "-o", tmp_path / "x.png"), "translates a2b or b2a, not 'a2c'"),
        (("train", "cyclegan", "--data", "digits+mnistt", "--steps", 1), "unknown dataset 'mnistt'"),
        (("train", "cyclegan", "--data", "digits", "--steps", 1), "two domains"),
        (("train", "vae", "--data", "digits+digits", "--steps", 1), "one dataset but digits+digits has streams a, b"),
    ]
    for args, message in bad:
        assert run_cli(*args) == 2, args
        err = capsys.readouterr().err
        assert message in " ".join(err.split()) and "Traceback" not in err, err
    assert not any((tmp_path / "cwd").iterdir())  # validated before any run folder was made


@pytest.mark.parametrize("space", ["features", "logits"])
def test_adaptation_embedding_draws_both_panels(tmp_path: Path, space: str) -> None:
    from genzoo.viz.domains import adaptation_embedding

    data = tiny_pair()
    model = _adda()
    a, b = data.streams["a"], data.streams["b"]
    path = adaptation_embedding(model, a.x_test[:20], a.y_test[:20], b.x_test[:20], b.y_test[:20], tmp_path / "e.png", method="pca", space=space)
    assert Image.open(path).size[0] > Image.open(path).size[1]  # two panels side by side
    with pytest.raises(GenzooError, match="space must be"):
        adaptation_embedding(model, a.x_test[:4], a.y_test[:4], b.x_test[:4], b.y_test[:4], tmp_path / "f.png", space="pixels")
