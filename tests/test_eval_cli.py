"""`genzoo.evaluate`, `genzoo.bench` and the `eval` / `bench` / `features` commands.

The metrics used here are throwaway ones registered by a fixture (and removed afterwards), so
these tests exercise the plumbing -- seeding, n/a, options, merging, leaderboards, exit codes --
independently of the real metric implementations.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.errors import GenzooError, NonFiniteLoss
from genzoo.metrics.base import NotApplicable, metric
from genzoo.registry import METRICS
from genzoo.train import TrainConfig, Trainer

from helpers import mixture_2d, one_thread  # noqa: F401

bench_mod = importlib.import_module("genzoo.bench")  # genzoo.bench is the function
TOY = {"n_train": 256, "n_test": 128}
SMALL = {"encoder": {"hidden": (32,)}, "latent_dim": 2}
GAN_SMALL = {"generator": {"hidden": (32, 32)}, "critic": {"hidden": (32, 32)}}


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def said(capsys, stream: str = "err") -> str:
    """What the CLI printed, with rich's line wrapping undone."""
    return " ".join(getattr(capsys.readouterr(), stream).split())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", autouse=True)
def toy_metrics():
    """Register throwaway metrics: one random (seeding), one needing nll_bound (n/a), two failing."""
    names = ["t_mean", "t_nll", "t_notapp", "t_broken"]
    assert not any(n in METRICS for n in names)

    @metric("t_mean", needs=("sample",), help="distance of the sample mean to the test mean")
    def t_mean(ctx, m: int = 200) -> dict:
        x = ctx.model.sample(m).double()  # (m, D)
        d = x.mean(0) - ctx.data.x_test.double().mean(0)
        return {"value": float(d.norm()), "stderr": float(x.std(0).norm() / m**0.5), "protocol": {"m": m, "n": ctx.n}}

    @metric("t_nll", needs=("nll_bound",), help="IWAE bound on a few test points")
    def t_nll(ctx, k: int = 4) -> dict:
        return {"value": float(ctx.model.nll_bound(ctx.data.x_test[:32], k=k).mean()), "protocol": {"k": k}}

    @metric("t_notapp", help="refuses inside the metric")
    def t_notapp(ctx) -> dict:
        raise NotApplicable("this data has no mode centres")

    @metric("t_broken", help="a user-facing failure that is not n/a")
    def t_broken(ctx) -> dict:
        raise GenzooError("no feature network is cached for 8gaussians; run `genzoo features train`")

    yield names
    for n in names:
        METRICS._items.pop(n, None)


def only_metrics(monkeypatch, *names: str) -> None:
    """Hide every other registered metric (the real ones are slow and not ours to test here)."""
    monkeypatch.setattr(METRICS, "_items", {k: v for k, v in METRICS._items.items() if k in names})


def _train(name: str, out: Path, steps: int = 30, **model_options) -> Path:
    genzoo.train(name, "8gaussians", out, data_options=TOY, model_options=model_options, steps=steps,
                 batch_size=64, progress=False, log_every=10, callbacks=[])
    return out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    return _train("vae", tmp_path_factory.mktemp("runs") / "vae", **SMALL)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    return _train("gan", tmp_path_factory.mktemp("runs") / "gan", steps=10, **GAN_SMALL)


# -- the API -----------------------------------------------------------------------------------


def test_evaluate_writes_merges_and_reproduces(vae_run: Path) -> None:
    (vae_run / "eval.json").unlink(missing_ok=True)
    before = snapshot(vae_run)
    res = genzoo.evaluate(vae_run, ["t_mean"], n=50, seed=1)
    assert set(res) >= {"metrics", "run", "model", "data", "n", "seed", "wall_s", "genzoo_version", "date"}
    assert res["model"]["type"] == "vae" and res["data"] == "8gaussians" and res["n"] == 50 and res["seed"] == 1
    r = res["metrics"]["t_mean"]
    assert r["value"] > 0 and r["protocol"] == {"m": 200, "n": 50} and r["higher_is_better"] is False
    # only eval.json was added
    after = snapshot(vae_run)
    assert set(after) - set(before) == {"eval.json"} and all(after[k] == v for k, v in before.items())
    on_disk = json.loads((vae_run / "eval.json").read_text())
    assert on_disk["metrics"]["t_mean"]["value"] == r["value"]
    # another metric merges in, the first is kept
    res2 = genzoo.evaluate(vae_run, ["t_nll"], n=50)
    assert set(res2["metrics"]) == {"t_nll"}
    on_disk = json.loads((vae_run / "eval.json").read_text())
    assert set(on_disk["metrics"]) == {"t_mean", "t_nll"} and set(on_disk["wall_s"]) == {"t_mean", "t_nll"}
    assert on_disk["metrics"]["t_mean"]["settings"]["seed"] == 1 and on_disk["metrics"]["t_nll"]["settings"]["seed"] == 0
    # same seed -> same value, whatever ran before; another seed -> another draw
    again = genzoo.evaluate(vae_run, ["t_nll", "t_mean"], n=50, seed=1)["metrics"]["t_mean"]["value"]
    other = genzoo.evaluate(vae_run, ["t_mean"], n=50, seed=2)["metrics"]["t_mean"]["value"]
    assert again == r["value"] and other != r["value"]


def test_results_of_other_weights_are_not_merged(vae_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(vae_run, run)
    genzoo.evaluate(run, ["t_mean"], n=20)
    model = genzoo.load(run)
    with torch.no_grad():
        next(model.parameters()).add_(0.1)
    from genzoo.train.checkpoint import model_state, save_tensors

    save_tensors(run / "model.safetensors", model_state(model))  # "retrained" weights
    genzoo.evaluate(run, ["t_nll"], n=20)
    assert set(json.loads((run / "eval.json").read_text())["metrics"]) == {"t_nll"}


def test_options_are_checked_and_coerced(vae_run: Path) -> None:
    res = genzoo.evaluate(vae_run, "t_mean,t_nll", n=20, options={"t_mean": {"m": "30"}, "t_nll": {"k": 2.0}})
    assert res["metrics"]["t_mean"]["protocol"]["m"] == 30 and res["metrics"]["t_nll"]["protocol"]["k"] == 2
    with pytest.raises(GenzooError, match=r"unknown option t_mean\.q; valid options of t_mean are: m"):
        genzoo.evaluate(vae_run, ["t_mean"], options={"t_mean": {"q": 1}})
    with pytest.raises(GenzooError, match="t_mean.m must be int"):
        genzoo.evaluate(vae_run, ["t_mean"], options={"t_mean": {"m": "many"}})
    with pytest.raises(GenzooError, match="not being evaluated"):
        genzoo.evaluate(vae_run, ["t_mean"], options={"t_nll": {"k": 3}})
    with pytest.raises(GenzooError, match="did you mean 't_mean'"):
        genzoo.evaluate(vae_run, ["t_maen"])
    with pytest.raises(GenzooError, match="positive"):
        genzoo.evaluate(vae_run, ["t_mean"], n=0)


def test_missing_capability_is_na_and_default_is_every_metric(gan_run: Path, monkeypatch) -> None:
    only_metrics(monkeypatch, "t_mean", "t_nll", "t_notapp", "t_broken")
    res = genzoo.evaluate(gan_run, n=20)  # metrics=None: every registered one
    m = res["metrics"]
    assert set(m) == {"t_mean", "t_nll", "t_notapp", "t_broken"}
    # unasked-for metrics that fail are recorded, not fatal (named ones raise: see below)
    assert m["t_broken"]["value"] is None and "no feature network" in m["t_broken"]["error"]
    assert isinstance(m["t_mean"]["value"], float)
    assert m["t_nll"]["value"] is None and "nll_bound" in m["t_nll"]["reason"] and "GAN" in m["t_nll"]["reason"]
    assert m["t_notapp"]["value"] is None and "mode centres" in m["t_notapp"]["reason"]


def test_metric_errors_propagate_and_leave_eval_json_alone(vae_run: Path) -> None:
    genzoo.evaluate(vae_run, ["t_mean"], n=20)
    before = (vae_run / "eval.json").read_bytes()
    with pytest.raises(GenzooError, match="^metric 't_broken': no feature network"):
        genzoo.evaluate(vae_run, ["t_mean", "t_broken"], n=20)
    assert (vae_run / "eval.json").read_bytes() == before
    res = genzoo.evaluate(vae_run, ["t_broken"], n=20, on_error="record")
    assert res["metrics"]["t_broken"]["value"] is None and "no feature network" in res["metrics"]["t_broken"]["error"]


def test_evaluate_a_model_instance(vae_run: Path) -> None:
    model = genzoo.load(vae_run).train()
    data = genzoo.load_data("8gaussians", **TOY)
    res = genzoo.evaluate(model, ["t_mean"], data=data, n=20)
    assert res["run"] is None and isinstance(res["metrics"]["t_mean"]["value"], float)
    assert model.training  # the caller's mode is restored
    with pytest.raises(GenzooError, match="needs its data"):
        genzoo.evaluate(model, ["t_mean"])


def test_run_of_unnamed_data_needs_the_data(tmp_path: Path) -> None:
    data = mixture_2d(256, 64)
    genzoo.train("ae", data, tmp_path / "r", model_options=SMALL, steps=5, progress=False, callbacks=[])
    with pytest.raises(GenzooError, match="cannot load by name; pass it yourself"):
        genzoo.evaluate(tmp_path / "r", ["t_mean"], n=20)
    assert genzoo.evaluate(tmp_path / "r", ["t_mean"], n=20, data=data)["data"] == "mixture4"


# -- the eval command --------------------------------------------------------------------------


def test_eval_cli(vae_run: Path, capsys) -> None:
    assert run_cli("eval", vae_run, "--metrics", "t_mean,t_nll", "-n", 40, "--set", "t_mean.m=30", "--seed", 3) == 0
    out = said(capsys, "out")
    assert "t_mean" in out and "t_nll" in out and "m=30" in out and "eval.json" in out
    saved = json.loads((vae_run / "eval.json").read_text())["metrics"]["t_mean"]
    assert saved["protocol"] == {"m": 30, "n": 40} and saved["settings"]["seed"] == 3


def test_eval_cli_shows_na(gan_run: Path, capsys) -> None:
    assert run_cli("eval", gan_run, "--metrics", "t_nll,t_mean", "-n", 20) == 0
    out = said(capsys, "out")
    assert "n/a" in out and "nll_bound" in out


@pytest.mark.parametrize("args, message", [
    (["--metrics", "t_maen"], "did you mean 't_mean'"),
    (["--metrics", "t_mean", "-n", "0"], "-n must be at least 1"),
    (["--metrics", "t_mean", "-n", "abc"], "Invalid value for '-n'"),
    (["--metrics", "t_mean", "--set", "t_mean.zz=1"], "unknown option t_mean.zz"),
    (["--metrics", "t_mean", "--set", "t_nll.k=1"], "not being evaluated"),
    (["--metrics", "t_mean", "--set", "oops"], "section.key=value"),
    (["--metrics", "t_broken"], "no feature network"),
])
def test_eval_cli_bad_inputs_exit_2_and_touch_nothing(vae_run: Path, capsys, args: list[str], message: str) -> None:
    before = snapshot(vae_run)
    assert run_cli("eval", vae_run, *args) == 2
    err = said(capsys)
    assert message in err and "Traceback" not in err
    assert snapshot(vae_run) == before


def test_eval_cli_bad_run_folders(tmp_path: Path, capsys) -> None:
    assert run_cli("eval", tmp_path / "nope", "--metrics", "t_mean") == 2
    assert "does not exist" in said(capsys)
    (tmp_path / "empty").mkdir()
    assert run_cli("eval", tmp_path / "empty", "--metrics", "t_mean") == 2
    assert "not a genzoo run" in said(capsys)
    assert list((tmp_path / "empty").iterdir()) == []


# -- bench -------------------------------------------------------------------------------------


def test_parse_budget() -> None:
    assert bench_mod.parse_budget(5000) == (5000, None) and bench_mod.parse_budget("5000") == (5000, None)
    assert bench_mod.parse_budget("2m") == (None, 2.0) and bench_mod.parse_budget("90s") == (None, 1.5)
    for bad in ("", "2x", "0", "-3", "1.5", "0s"):
        with pytest.raises(GenzooError, match="budget"):
            bench_mod.parse_budget(bad)


def test_max_minutes_ends_training_like_its_last_round() -> None:
    data = mixture_2d(256, 64)
    torch.manual_seed(0)
    model = genzoo.build("ae", data.info, **SMALL)
    fitted = []
    model.on_fit_end = lambda d: fitted.append(True)  # type: ignore[method-assign]
    t = Trainer(model, data, TrainConfig(steps=10**9, max_minutes=0.01, batch_size=64, progress=False, log_every=10**9), None, [])
    t0 = time.perf_counter()
    t.fit()
    took = time.perf_counter() - t0
    assert 0.6 <= took < 10 and 0 < t.step < 10**9 and not t.interrupted and fitted == [True]


def test_bench_writes_a_leaderboard_and_survives_a_failing_model(tmp_path: Path, monkeypatch) -> None:
    from genzoo.models.gan import GAN

    real_fit = Trainer.fit

    def fit(self, *a, **k):
        if isinstance(self.model, GAN):
            raise NonFiniteLoss("the loss of player 'critic' became non-finite at step 3")
        return real_fit(self, *a, **k)

    monkeypatch.setattr(Trainer, "fit", fit)
    out = tmp_path / "bench"
    board = genzoo.bench("8gaussians", "vae,ae,gan", budget=20, out=out, metrics=["t_mean", "t_nll"], n=30, progress=False,
                         data_options=TOY, model_options={"vae": SMALL, "ae": SMALL, "gan": GAN_SMALL},
                         train_options={"batch_size": 64, "log_every": 10})
    rows = {r["model"]: r for r in board["rows"]}
    assert list(rows) == ["vae", "ae", "gan"]
    assert rows["gan"]["status"] == "training failed" and "non-finite" in rows["gan"]["error"]
    for m in ("vae", "ae"):
        assert rows[m]["status"] == "ok" and rows[m]["steps"] == 20 and rows[m]["train_s"] > 0 and rows[m]["eval_s"] > 0
        assert isinstance(rows[m]["metrics"]["t_mean"]["value"], float)
        assert (out / m / "model.safetensors").is_file()
    assert isinstance(rows["vae"]["metrics"]["t_nll"]["value"], float)
    assert rows["ae"]["metrics"]["t_nll"]["value"] is None and "nll_bound" in rows["ae"]["metrics"]["t_nll"]["reason"]
    assert json.loads((out / "leaderboard.json").read_text()) == json.loads(json.dumps(board))
    md = (out / "leaderboard.md").read_text().splitlines()
    ae_row = next(l for l in md if l.startswith("| ae |"))
    gan_row = next(l for l in md if l.startswith("| gan |"))
    assert ae_row.split("|")[3].strip() == "n/a" and "training failed" in gan_row
    assert "| model | t_mean ↓ | t_nll ↓ | train s | eval s | steps |" in md
    assert any("gan: training failed" in l for l in md)
    assert Image.open(out / "leaderboard.png").size[0] > 100
    # each run reloads on its own (the data section names the dataset and its options)
    assert genzoo.evaluate(out / "vae", ["t_mean"], n=10)["data"] == "8gaussians"
    with pytest.raises(GenzooError, match="not empty"):
        genzoo.bench("8gaussians", "vae", budget=5, out=out, metrics=["t_mean"], progress=False, data_options=TOY)


def test_bench_checks_everything_before_training(tmp_path: Path) -> None:
    kw = dict(out=tmp_path / "b", metrics=["t_mean"], progress=False, data_options=TOY)
    for call, message in [
        (lambda: genzoo.bench("8gaussians", "vae,vea", budget=5, **kw), "did you mean 'vae'"),
        (lambda: genzoo.bench("8gaussians", "vae", budget="soon", **kw), "budget"),
        (lambda: genzoo.bench("8gaussians", "vae", budget=5, train_options={"steps": 3}, **kw), "set by the bench"),
        (lambda: genzoo.bench("8gaussians", "vae", budget=5, model_options={"gan": {}}, **kw), "not in the bench"),
        (lambda: genzoo.bench("8gaussians", "vae", budget=5, model_options={"vae": {"zz": 1}}, **kw), "unknown option model.vae.zz"),
        (lambda: genzoo.bench("8gaussians", "vae,dcgan", budget=5, **kw), "model 'dcgan' takes image data, not points"),
    ]:
        with pytest.raises(GenzooError, match=message):
            call()
    assert not (tmp_path / "b").exists()
    kinds = {n: genzoo.MODELS.meta(n).get("data_kinds", ("points", "image")) for n in genzoo.MODELS.names()}
    generative = {n for n in kinds if genzoo.MODELS.meta(n).get("generative", True)}  # not e.g. guidance classifiers
    assert bench_mod.model_names("all", "points") == [n for n, k in kinds.items() if "points" in k and n in generative]
    assert "noisy_classifier" not in bench_mod.model_names("all", "points")
    assert "dcgan" not in bench_mod.model_names("all", "points") and "dcgan" in bench_mod.model_names("all", "image")


def test_bench_cli_with_a_time_budget(tmp_path: Path, capsys) -> None:
    out = tmp_path / "b"
    rc = run_cli("bench", "--data", "8gaussians", "--models", "vae", "--budget", "1s", "--metrics", "t_mean", "-n", 20,
                 "--out", out, "--set", "data.n_train=256", "--set", "data.n_test=128", "--set", "model.vae.encoder.hidden=[32]",
                 "--set", "train.batch_size=64", "--set", "t_mean.m=25")
    assert rc == 0
    assert "leaderboard.md" in said(capsys, "out")
    board = json.loads((out / "leaderboard.json").read_text())
    row = board["rows"][0]
    assert board["budget"] == {"minutes": pytest.approx(1 / 60)} and row["status"] == "ok"
    assert row["total_s"] >= 1.0 and row["train_s"] > 0.9 and 0 < row["steps"] < 10**9 and row["metrics"]["t_mean"]["protocol"]["m"] == 25
    assert run_cli("bench", "--data", "8gaussians", "--models", "vae", "--set", "model.latent_dim=2", "--out", tmp_path / "c") == 2
    assert "model.MODEL.latent_dim" in said(capsys)


# -- features ----------------------------------------------------------------------------------


def test_features_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    features = importlib.import_module("genzoo.metrics.features")
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    calls: list[dict] = []

    def fake_train(data, **kw):
        calls.append(kw)
        return features.FeatureNet(data.info.shape[0], data.info.num_classes).eval(), 0.875

    monkeypatch.setattr(features, "train_feature_net", fake_train)
    assert run_cli("features", "list") == 0 and "no feature networks cached" in said(capsys, "out")
    assert run_cli("features", "train", "--data", "digits", "--epochs", 0.5) == 0
    out = said(capsys, "out")
    assert "87.50 %" in out and len(calls) == 1 and calls[0]["epochs"] == 0.5
    saved = tmp_path / "cache" / "features" / "digits.safetensors"
    assert saved.is_file() and str(saved) in out.replace(" ", "")
    assert run_cli("features", "train", "--data", "digits") == 0  # cached: reused, not retrained
    assert len(calls) == 1 and "already cached" in said(capsys)
    assert run_cli("features", "train", "--data", "digits", "--force") == 0 and len(calls) == 2
    capsys.readouterr()
    assert run_cli("features", "list") == 0
    out = said(capsys, "out")
    assert "digits" in out and "87.50 %" in out
    assert run_cli("features", "train", "--data", "digitz") == 2 and "did you mean 'digits'" in said(capsys)
    assert run_cli("features", "train", "--data", "digits", "--epochs", 0) == 2 and "--epochs" in said(capsys)
    assert len(calls) == 2


def test_bench_on_images_draws_a_gallery_of_every_sampler(tmp_path: Path) -> None:
    from helpers import tiny_images

    out = tmp_path / "bench"
    board = genzoo.bench(tiny_images(n_train=64, n_test=32), "vae,gan", budget=3, out=out, metrics=["recon"], n=16,
                         progress=False, model_options={"vae": {"encoder": {"type": "mlp", "hidden": (32,)}, "latent_dim": 2},
                                            "gan": {"generator": {"type": "mlp", "hidden": (16,)}, "critic": {"type": "mlp", "hidden": (16,)}}},
                         train_options={"batch_size": 16})
    assert [r["status"] for r in board["rows"]] == ["ok", "ok"]
    im = Image.open(out / "gallery.png")
    assert im.size[0] > 200 and im.size[1] > 100
    # a model that cannot be loaded any more is left out rather than failing the picture
    board["rows"].append({"model": "gone", "status": "ok", "run": str(tmp_path / "missing")})
    from genzoo.bench import write_gallery

    assert write_gallery(board, tmp_path / "g.png") == tmp_path / "g.png"
