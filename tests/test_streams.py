"""Two-domain data: named streams, one batch per stream per round, resumable orders, stages."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from helpers import one_thread  # noqa: F401
from torch import nn

from genzoo.data import load_data
from genzoo.data.base import Batch, Data, DataInfo
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel, Player, Stage
from genzoo.train import RunDir, TrainConfig, Trainer
from genzoo.train.callbacks import Callback


def marked_pair(n_a: int = 16, n_b: int = 24) -> Data:
    """Stream a holds the values 0..n_a-1, stream b 1000..1000+n_b-1: every example names its stream."""
    info = DataInfo("marks", (1,), kind="points", value_range=(0.0, 2000.0))

    def side(offset: float, n: int) -> Data:
        x = offset + torch.arange(n, dtype=torch.float32).unsqueeze(1)
        return Data(x, x[:4].clone(), info)

    a, b = side(0.0, n_a), side(1000.0, n_b)
    return Data(a.x_train, a.x_test, DataInfo("marks", (1,), kind="points", value_range=(0.0, 2000.0)), streams={"a": a, "b": b})


class Recorder(GenerativeModel):
    """Three players (stream a, stream b, both) that record every batch they are given."""

    def __init__(self, info: DataInfo) -> None:
        super().__init__()
        self.info = info
        self.w = nn.Parameter(torch.zeros(3))
        self.seen: list[tuple[str, list[float]]] = []

    def _loss(self, i: int, name: str):  # noqa: ANN202
        def loss(batch):  # noqa: ANN001, ANN202
            parts = batch.values() if isinstance(batch, dict) else [batch]
            x = torch.cat([b.x.flatten() for b in parts])
            self.seen.append((name, x.tolist()))
            return {"loss": (self.w[i] - x.mean() / 1000) ** 2}

        return loss

    def players(self) -> list[Player]:
        return [Player("pa", [self.w], self._loss(0, "pa"), stream="a"),
                Player("pb", [self.w], self._loss(1, "pb"), stream="b", repeat=2),
                Player("both", [self.w], self._loss(2, "both"), stream=("a", "b"))]


def _run(path) -> RunDir:  # noqa: ANN001
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path)


def _cfg(steps: int, **kw) -> TrainConfig:  # noqa: ANN003
    return TrainConfig(**{"steps": steps, "batch_size": 4, "progress": False, "log_every": 1, "lr": 1e-2, "device": "cpu",
                          "logger": "none", **kw})


def test_stream_batches_stay_separate_and_are_shared_within_a_round() -> None:
    data = marked_pair()
    model = Recorder(data.info)
    Trainer(model, data, _cfg(12), run=None, callbacks=[]).fit()
    rounds = [model.seen[i : i + 4] for i in range(0, len(model.seen), 4)]  # pa, pb, pb (repeat), both
    assert len(rounds) == 12
    a_seen, b_seen = [], []
    for (n1, a), (n2, b1), (n3, b2), (n4, ab) in rounds:
        assert (n1, n2, n3, n4) == ("pa", "pb", "pb", "both")
        assert all(v < 1000 for v in a) and all(v >= 1000 for v in b1 + b2)
        assert b1 != b2  # the repeat of a player draws a fresh batch
        assert ab == a + b2  # a tuple player sees this round's batch of each stream: {a: ..., b: ...}
        a_seen += a
        b_seen += b1 + b2
    # each stream keeps its own epochs: every example once per pass (a: 4 batches, b: 6 batches)
    for e in range(3):
        assert sorted(a_seen[16 * e : 16 * (e + 1)]) == list(range(16))
    for e in range(2):
        assert sorted(b_seen[24 * e : 24 * (e + 1)]) == [1000 + i for i in range(24)]


def test_each_stream_order_resumes_exactly(tmp_path) -> None:
    data = marked_pair()
    torch.manual_seed(0)
    full = Recorder(data.info)
    Trainer(full, data, _cfg(11), run=_run(tmp_path / "full"), callbacks=[]).fit()
    torch.manual_seed(0)
    first = Recorder(data.info)
    run = _run(tmp_path / "cut")
    Trainer(first, data, _cfg(5), run=run, callbacks=[]).fit()
    second = Recorder(data.info)
    Trainer(second, data, _cfg(11), run=run, callbacks=[]).fit(resume=run.latest_checkpoint())
    assert first.seen + second.seen == full.seen
    rows_full = {r["step"]: r for r in RunDir(tmp_path / "full").metrics()}
    for r in run.metrics():
        if r["step"] > 5:
            assert all(r[k] == rows_full[r["step"]][k] for k in r if k.endswith("loss")), r["step"]
    assert torch.equal(second.w, full.w)


class TwoStage(GenerativeModel):
    """Stage 1 fits ``src`` on stream a; stage 2 starts ``tgt`` from ``src`` and fits it on b."""

    def __init__(self, info: DataInfo, stage1: int = 4) -> None:
        super().__init__()
        self.info, self.stage1 = info, stage1
        self.src = nn.Linear(1, 1)
        self.tgt = nn.Linear(1, 1)
        self.register_buffer("starts", torch.zeros((), dtype=torch.long))

    def _fit(self, net: nn.Module):  # noqa: ANN202
        def loss(batch: Batch) -> dict[str, torch.Tensor]:
            x = batch.x / 1000
            return {"loss": (net(x) - 2 * x + torch.randn_like(x) * 0.01).pow(2).mean()}  # noise: RNG must resume too

        return loss

    def start_adapting(self, model: GenerativeModel) -> None:
        with torch.no_grad():
            self.tgt.load_state_dict(self.src.state_dict())
        self.starts += 1

    def stages(self) -> list[Stage]:
        return [Stage([Player("src", list(self.src.parameters()), self._fit(self.src), stream="a")], self.stage1, "source"),
                Stage([Player("tgt", list(self.tgt.parameters()), self._fit(self.tgt), stream="b")], None, "adapt",
                      on_start=self.start_adapting, schedule=lambda s, n: 1.0 - s / n)]


class Interrupt(Callback):
    """Sends this process SIGINT at round ``at`` (the trainer checkpoints and stops, as after Ctrl-C)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_sample(self, trainer, tag: str) -> None:  # noqa: ANN001
        if trainer.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_run_interrupted_in_stage_two_resumes_there_with_identical_losses(tmp_path) -> None:
    data = marked_pair()
    torch.manual_seed(0)
    full = TwoStage(data.info)
    t_full = Trainer(full, data, _cfg(10), run=_run(tmp_path / "full"), callbacks=[])
    t_full.fit()
    torch.manual_seed(0)
    cut = TwoStage(data.info)
    run = _run(tmp_path / "cut")
    t1 = Trainer(cut, data, _cfg(10, sample_every=1), run=run, callbacks=[Interrupt(6)])
    t1.fit()
    assert t1.interrupted and t1.step == 6
    ckpt = run.latest_checkpoint()
    assert RunDir.load_checkpoint(ckpt)[1]["stage"] == 1  # the checkpoint knows stage 2 had begun
    resumed = TwoStage(data.info)
    t2 = Trainer(resumed, data, _cfg(10), run=run, callbacks=[])
    t2.fit(resume=ckpt)
    assert t2.stage_index == 1 and int(resumed.starts) == 1  # on_start did not run again
    rows_full = {r["step"]: r for r in RunDir(tmp_path / "full").metrics()}
    resumed_rows = [r for r in run.metrics() if r["step"] > 6]
    assert [r["step"] for r in resumed_rows] == [7, 8, 9, 10]
    for r in resumed_rows:
        assert r["tgt/loss"] == rows_full[r["step"]]["tgt/loss"]
    for a, b in zip(resumed.state_dict().values(), full.state_dict().values()):
        assert torch.equal(a, b)
    # the stage's own schedule ran over its own rounds: 1 - s/6 at its last round (s = 5)
    assert t2.opts["tgt"].param_groups[0]["lr"] == pytest.approx(1e-2 * (1 - 5 / 6))


def test_stream_mismatches_are_one_sentence() -> None:
    data = marked_pair()
    single = Data(data.x_train, data.x_test, DataInfo("marks", (1,), kind="points"))
    with pytest.raises(GenzooError, match="two domains.*--data A\\+B"):
        Trainer(Recorder(data.info), single, _cfg(1), run=None, callbacks=[])

    class OneStream(Recorder):
        def players(self) -> list[Player]:
            return [Player("p", [self.w], self._loss(0, "p"))]

    with pytest.raises(GenzooError, match="one dataset but marks has streams a, b"):
        Trainer(OneStream(data.info), data, _cfg(1), run=None, callbacks=[])

    class Elsewhere(Recorder):
        def players(self) -> list[Player]:
            return [Player("p", [self.w], self._loss(0, "p"), stream="target")]

    with pytest.raises(GenzooError, match="stream 'target'"):
        Trainer(Elsewhere(data.info), data, _cfg(1), run=None, callbacks=[])


def test_pairs_check_their_sides() -> None:
    with pytest.raises(GenzooError, match="unknown dataset 'mnistt'"):
        load_data("mnistt+digits")
    with pytest.raises(GenzooError, match="exactly two"):
        load_data("digits+digits+digits")
    with pytest.raises(GenzooError, match="unknown option data.sise"):
        load_data("digits+digits", sise=3)
    pair = load_data("digits+digits")
    assert sorted(pair.streams) == ["a", "b"] and pair.info.name == "digits+digits" and pair.info.num_classes == 10
    assert pair.info.extras["streams"]["b"]["shape"] == [1, 8, 8]
    with pytest.raises(GenzooError, match="8x8.*--set data.size=16"):
        load_data("digits+digits", a={"size": 16})
    assert load_data("digits+digits", size=16).streams["b"].x_train.shape[1:] == (1, 16, 16)
    with pytest.raises(GenzooError, match="different class sets"):
        load_data("digits+folder:" + _npz_with_classes())
    with pytest.raises(GenzooError, match="data.channels"):
        load_data("digits+npz:" + _npz_rgb())


def _npz_with_classes() -> str:
    """A folder of 8x8 grey images in two class sub-folders (cat, dog): a class set unlike digits'."""
    import tempfile

    import numpy as np
    from PIL import Image

    root = tempfile.mkdtemp()
    for c in ("cat", "dog"):
        os.makedirs(os.path.join(root, c))
        for i in range(6):
            Image.fromarray((np.arange(64).reshape(8, 8) * 4 * (i + 1) % 256).astype("uint8")).save(os.path.join(root, c, f"{i}.png"))
    return root


def _npz_rgb() -> str:
    import tempfile

    import numpy as np

    path = os.path.join(tempfile.mkdtemp(), "rgb.npz")
    x = np.random.default_rng(0).integers(0, 256, (40, 3, 8, 8)).astype("uint8")
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0, 255  # the full 0..1 range after scaling, like digits
    np.savez(path, x=x, y=np.arange(40) % 10)
    return path
