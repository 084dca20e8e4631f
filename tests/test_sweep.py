"""Seed sweeps: a vmapped sweep is its seeds' separate runs; members are ordinary runs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import mixture_2d, one_thread, tiny_images  # noqa: F401

import genzoo
from genzoo.cli import main
from genzoo.data.base import Batch
from genzoo.loops.sweep import resume_sweep, sweep
from genzoo.models.base import GenerativeModel
from genzoo.nets.mlp import MLP
from genzoo.train import RunDir
from genzoo.train.callbacks import Pictures, Rows

SEEDS = [0, 1, 2]
QUIET = {"progress": False, "logger": "none", "checkpoint_every": 0, "batch_size": 32}


def losses(run) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k.endswith("loss")} for row in RunDir(run).metrics()]


@pytest.mark.parametrize("name, options", [
    ("vae", {"grad_clip": 1.0, "ema": 0.99}),  # per-member clipping norms and EMA
    ("gan", {}),                                # two players, each seed its own noise
])
def test_vmapped_sweep_equals_separate_runs(name, options, tmp_path) -> None:
    data = mixture_2d()
    res = sweep(name, data, SEEDS, tmp_path / "sweep", callbacks=list, on_message=lambda m: None,
                steps=50, log_every=1, **QUIET, **options)
    assert res.engine == "vmap", res.reason
    separate = []
    for s in SEEDS:
        t = genzoo.train(name, data, tmp_path / f"alone{s}", callbacks=[], steps=50, log_every=1, seed=s, **QUIET, **options)
        separate.append(losses(t.run.path))
    for i, s in enumerate(SEEDS):
        swept = losses(tmp_path / "sweep" / f"seed_{s}")
        assert len(swept) == len(separate[i]) == 50
        for a, b in zip(swept, separate[i]):
            assert a.keys() == b.keys()
            for k in a:
                assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-4), (s, k)
        ema_sweep = genzoo.load(tmp_path / "sweep" / f"seed_{s}", ema="ema" in options)
        ema_alone = genzoo.load(tmp_path / f"alone{s}", ema="ema" in options)
        for (k, a), b in zip(ema_sweep.state_dict().items(), ema_alone.state_dict().values()):
            assert torch.allclose(a.float(), b.float(), atol=1e-3), k
    assert separate[0][-1] != separate[1][-1]  # the seeds really differ, so equality above means something


def test_sweep_folder_members_eval_and_resume(tmp_path) -> None:
    kw = dict(data_options={"n_train": 512, "n_test": 256}, callbacks=list, on_message=lambda m: None, log_every=5,
              **{**QUIET, "checkpoint_every": 10})
    whole = sweep("gan", "8gaussians", 2, tmp_path / "whole", steps=30, sample_every=20,
                  **{**kw, "callbacks": lambda: [Pictures(n=16), Rows()]})
    rows = [[r["step"] for r in cb.rows] for t in whole.trainers for cb in t.callbacks if isinstance(cb, Rows)]
    assert rows == [[5, 10, 15, 20, 25, 30]] * 2  # each member's own callbacks see its rows
    assert (tmp_path / "whole" / "seed_1" / "samples" / "step_0000020.png").is_file()  # and its pictures
    sweep("gan", "8gaussians", 2, tmp_path / "half", steps=20, **kw)
    manifest = (tmp_path / "half" / "sweep.yaml").read_text()
    assert whole.engine == "vmap" and "engine: vmap" in manifest and "seed_1" in manifest
    again = resume_sweep(tmp_path / "half", steps=30, on_message=lambda m: None)
    assert again.engine == "vmap" and [t.step for t in again.trainers] == [30, 30]
    for s in (0, 1):  # a resumed sweep continues exactly as an uninterrupted one
        a, b = genzoo.load(tmp_path / "whole" / f"seed_{s}"), genzoo.load(tmp_path / "half" / f"seed_{s}")
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), k
    # a member is an ordinary run: it resumes on its own, like the sweep it came from
    alone = genzoo.resume(tmp_path / "half" / "seed_1", steps=40, callbacks=[])
    member = genzoo.load(tmp_path / "half" / "seed_1")
    assert alone.step == 40 and isinstance(member, GenerativeModel)
    with pytest.raises(genzoo.GenzooError, match="sweep"):
        genzoo.load(tmp_path / "whole")
    assert main(["eval", str(tmp_path / "whole"), "--metrics", "modes", "-n", "200"]) == 0
    summary = json.loads((tmp_path / "whole" / "sweep.json").read_text())
    modes = summary["metrics"]["modes"]["value"]
    assert len(modes["values"]) == 2 and modes["mean"] == pytest.approx(sum(modes["values"]) / 2)
    assert set(summary["final_losses"]) == {"critic/loss", "generator/loss"}


def test_resumed_vmapped_vae_continues_exactly(tmp_path) -> None:
    """Optimizer states of every parameter, a 0-dim one (the likelihood's log sigma) included, and
    of weights stored in their gradients' memory order, go back to the stacked model on resume."""
    data = mixture_2d()
    kw = dict(callbacks=list, on_message=lambda m: None, **{**QUIET, "checkpoint_every": 10})
    sweep("vae", data, 2, tmp_path / "whole", steps=20, **kw)
    sweep("vae", data, 2, tmp_path / "half", steps=10, **kw)
    assert resume_sweep(tmp_path / "half", data=data, steps=20, on_message=lambda m: None).engine == "vmap"
    for s in (0, 1):
        a, b = genzoo.load(tmp_path / "whole" / f"seed_{s}"), genzoo.load(tmp_path / "half" / f"seed_{s}")
        assert a.state_dict()["likelihood.log_sigma"].dim() == 0
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), k


def test_a_model_that_picks_labelled_examples_at_fit_start_vmaps(tmp_path) -> None:
    """The semi-supervised AAE chooses its labelled examples in on_fit_start: done before the probe round."""
    res = sweep("aae_semi", tiny_images(), 2, tmp_path / "s", callbacks=list, on_message=lambda m: None, steps=2, **QUIET)
    assert res.engine == "vmap", res.reason
    a, b = (genzoo.load(tmp_path / "s" / f"seed_{s}") for s in (0, 1))
    assert (a.labelled_y >= 0).all() and torch.equal(a.labelled_y, b.labelled_y)  # label_seed, not the run's seed, picks them


class Branchy(GenerativeModel):
    """A loss with data-dependent control flow: it cannot run under vmap."""

    def __init__(self, info) -> None:  # noqa: ANN001
        super().__init__()
        self.info, self.net = info, MLP(2, 2, (8,))

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        err = (self.net(batch.x) - batch.x).pow(2).mean()
        return {"loss": err if err > 0 else -err}


def test_sweep_bad_input_and_fallback(tmp_path, capsys) -> None:
    assert main(["sweep", "vae", "--data", "8gaussians", "--seeds", "0", "--out", str(tmp_path / "s0")]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "s0").exists()
    notes: list[str] = []
    res = sweep(Branchy, mixture_2d(), 2, tmp_path / "branchy", callbacks=list, on_message=notes.append, steps=5, **QUIET)
    assert res.engine == "sequential" and "vmap" in res.reason and "control flow" in res.reason
    assert len(notes) == 1 and notes[0].startswith("training the 2 seeds one after another")
    assert [t.step for t in res.trainers] == [5, 5]
    assert main(["sweep", "vae", "--data", "8gaussians", "--seeds", "2", "--steps", "3", "--out", str(tmp_path / "cli"),
                 "--set", "data.n_train=300", "--set", "train.progress=false", "--set", "train.batch_size=50",
                 "--metrics", "modes", "--set", "modes.n_samples=100"]) == 0
    assert (tmp_path / "cli" / "seed_1" / "model.safetensors").is_file()
    assert "modes" in json.loads((tmp_path / "cli" / "sweep.json").read_text())["metrics"]
