"""Registry, configs, maths identities and the model contract for every registered model."""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.config import coerce, parse_overrides, resolve
from genzoo.divergences import kl_normal_normal, log_normal_diag
from genzoo.errors import GenzooError
from genzoo.models.base import CanEncode, CanSample, HasNLLBound
from genzoo.registry import MODELS, Registry
from genzoo.train import Rows, TrainConfig, Trainer

from genzoo.data.kinds import kind_of

from helpers import mixture_2d, mlp, one_thread, tiny_images, tiny_pair, tiny_smiles  # noqa: F401  (one_thread: autouse, one torch thread)


# -- registry and configs ----------------------------------------------------------------------


def test_registry_lookup_and_errors() -> None:
    reg = Registry("thing")

    @reg.register("fashion-mnist", help="x")
    def f() -> int:
        return 1

    assert reg.get("fashion_mnist") is f and reg.get("Fashion-MNIST") is f
    with pytest.raises(GenzooError, match="unknown thing 'fashon-mnist'.*did you mean 'fashion-mnist'"):
        reg.get("fashon-mnist")
    with pytest.raises(RuntimeError, match="registered twice"):
        reg.register("fashion_mnist")(lambda: 2)
    assert {"ae", "vae"} <= set(MODELS.names())


def test_config_coercion_and_overrides() -> None:
    assert coerce("1e-4", float, "train.lr") == 1e-4
    assert coerce(3, float, "x") == 3.0 and isinstance(coerce(3, float, "x"), float)
    assert coerce("256,128", tuple[int, ...], "h") == (256, 128)
    assert coerce(512, tuple[int, ...], "h") == (512,)
    assert coerce(None, int | None, "x") is None
    with pytest.raises(GenzooError, match="train.steps must be int"):
        coerce("ten", int, "train.steps")
    with pytest.raises(GenzooError, match="must be True|must be bool"):
        coerce("yes", bool, "train.compile")
    assert parse_overrides(["model.latent_dim=32", "train.lr=1e-4", "train.players.critic.lr=2"]) == {
        "model": {"latent_dim": 32}, "train": {"lr": 1e-4, "players": {"critic": {"lr": 2}}}}
    with pytest.raises(GenzooError, match="section.key=value"):
        parse_overrides(["model.latent_dim"])
    with pytest.raises(GenzooError, match="unknown option model.latnt_dim; valid options of model are: latent_dim"):
        resolve(MODELS.get("vae"), {"latnt_dim": 3}, "model", skip=1)
    with pytest.raises(GenzooError, match=r"model.hidden; .*nested options now: write e.g. model.encoder.hidden=\.\.\."):
        resolve(MODELS.get("vae"), {"hidden": 3}, "model", skip=1)
    with pytest.raises(GenzooError, match="'fp8'"):
        resolve(TrainConfig, {"precision": "fp8"}, "train")


# -- maths identities -------------------------------------------------------------------------


def test_gaussian_kl_closed_form_matches_monte_carlo() -> None:
    torch.manual_seed(0)
    mu_q, lv_q = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    mu_p, lv_p = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    z = mu_q + torch.randn(200_000, 3, 4) * (0.5 * lv_q).exp()
    mc = (log_normal_diag(z, mu_q, lv_q) - log_normal_diag(z, mu_p, lv_p)).mean(0)
    exact = kl_normal_normal(mu_q, lv_q, mu_p, lv_p)
    assert torch.allclose(mc, exact, atol=0.03), (mc, exact)
    # the standard-normal shortcut agrees with the general formula
    assert torch.allclose(kl_normal_normal(mu_q, lv_q), kl_normal_normal(mu_q, lv_q, torch.zeros(3, 4), torch.zeros(3, 4)))


def test_importance_sampled_nll_tightens_with_k() -> None:
    """E[-log p̂_k] is non-increasing in k and at k=1 it is the negative ELBO."""
    torch.manual_seed(0)
    data = tiny_images()
    model = genzoo.build("vae", data.info, latent_dim=4, encoder=mlp(32))
    with torch.no_grad():  # a deliberately poor, wide posterior leaves a large gap for k to close
        model.encoder[-1].bias[4:] += 2.0
        model.decoder[-1].weight.mul_(4.0)
    x = data.x_test[:16]
    torch.manual_seed(1)
    n1 = torch.stack([model.nll_bound(x, k=1) for _ in range(200)]).mean(0)
    model.eval()
    with torch.no_grad():
        neg_elbo = torch.stack([-(lambda t: t[0] - t[1])(model.elbo_terms(x)) for _ in range(200)]).mean(0)
    assert abs(float(n1.mean() - neg_elbo.mean())) < 1.5  # same estimator: agree within Monte Carlo error
    n10 = torch.stack([model.nll_bound(x, k=10) for _ in range(50)]).mean(0)
    n200 = torch.stack([model.nll_bound(x, k=200, max_rows=500) for _ in range(5)]).mean(0)  # chunked: 16*200 > 500
    # expectations over the batch: the estimate tightens monotonically in k
    assert n10.mean() < n1.mean() - 0.5 and n200.mean() < n10.mean() - 0.2, (n1.mean(), n10.mean(), n200.mean())


# -- the contract, for every registered model ---------------------------------------------------


def _data_for(name: str):
    """2-D mixture, else tiny images, else tiny SMILES, by the kinds a model takes (``data_kinds`` registry meta);
    tiny images also for a model that asks for its tiny fit on them (``tiny_fit={"data": "image"}``: one whose
    samples need longer than the test's seconds to settle on four separated modes, e.g. through an adversarial
    latent match)."""
    if MODELS.meta(name).get("streams"):  # two-domain models: two streams of bars
        return tiny_pair()
    kinds = MODELS.meta(name).get("data_kinds", ("points", "image"))
    on_images = MODELS.meta(name).get("tiny_fit", {}).get("data") == "image"
    return mixture_2d() if "points" in kinds and not on_images else tiny_images() if "image" in kinds else tiny_smiles()


def _batch_for(player, data, n: int = 32):  # noqa: ANN001, ANN202
    """A batch of the data ``player`` draws from, collated by its kind: one, or a dict of them for several streams."""

    def collate(d):  # noqa: ANN001, ANN202
        return kind_of(d.info).collate(d.x_train[:n], None if d.y_train is None else d.y_train[:n], d.info)

    if player.stream is None:
        return collate(data)
    batches = {s: collate(data.streams[s]) for s in player.streams}
    return batches[player.stream] if isinstance(player.stream, str) else batches


def _near_centres(x: torch.Tensor, data) -> float:
    centres = torch.tensor(data.info.extras["centers"])
    return float((torch.cdist(x.float(), centres).min(1).values < 0.5).float().mean())


@pytest.mark.parametrize("name", MODELS.names())
def test_model_contract_shapes_gradients_save_load(name: str, tmp_path) -> None:
    data = _data_for(name)
    torch.manual_seed(0)
    model = genzoo.build(name, data.info)
    model.on_fit_start(data)  # as the trainer does (semi-supervised models pick their labelled examples)
    for p in model.players():
        out = p.loss(_batch_for(p, data))
        assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
        grads = torch.autograd.grad(out["loss"], p.params, allow_unused=True)
        missing = [i for i, g in enumerate(grads) if g is None or not torch.isfinite(g).all()]
        assert not missing, f"player {p.name}: no gradient for params {missing}"
    model.eval()
    if isinstance(model, CanSample):
        assert model.sample(7).shape == (7, *data.info.shape)
    if isinstance(model, CanEncode):
        z = model.encode(data.x_test[:5])
        assert model.decode(z).shape == (5, *data.info.shape)
    if isinstance(model, HasNLLBound):
        assert model.nll_bound(data.x_test[:5], k=8).shape == (5,)
    model.train()
    # save / load through a run folder
    trainer = genzoo.train(model, data, tmp_path / "run", steps=3, progress=False, log_every=1)
    loaded = genzoo.load(tmp_path / "run", ema=False)
    for (k, a), (k2, b) in zip(trainer.model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a.cpu(), b), k
    if trainer.ema is not None:  # models that ask for EMA weights load them by default
        averaged = genzoo.load(tmp_path / "run")
        for (k, a), (k2, b) in zip(trainer.ema.state_dict().items(), averaged.state_dict().items()):
            assert k == k2 and torch.equal(a.cpu(), b), k


@pytest.mark.parametrize("name", MODELS.names())
def test_model_fits_a_tiny_dataset(name: str) -> None:
    """2-D models must put most samples on the mixture's modes; image-only ones lower their loss."""
    data = _data_for(name)
    torch.manual_seed(0)
    fit = dict(MODELS.meta(name).get("tiny_fit", {}))
    fit.pop("data", None)
    model = genzoo.build(name, data.info, **fit.pop("model", {}))
    cfg = TrainConfig(**{"steps": 300, "batch_size": 128, "lr": 3e-3, "progress": False, "log_every": 50, **fit})
    log = Rows()
    t = Trainer(model, data, cfg, run=None, callbacks=[log])
    rows = log.rows
    if data.info.kind == "points" and isinstance(model, CanSample):
        model.eval()
        before = _near_centres(model.sample(1000), data)
        model.train()
        t.fit()
        model.eval()
        after = _near_centres(model.sample(1000), data)
        assert after > 0.6 and after > before + 0.2, (before, after)
    else:
        t.fit()
        key = next(k for k in rows[0] if k.endswith("loss"))
        last = [r for r in rows if key in r][-1]  # a staged model's first player stops logging when its stage ends
        assert last[key] < rows[0][key], rows


def test_trainer_options_ema_schedule_clip_bf16(tmp_path) -> None:
    data = mixture_2d()
    torch.manual_seed(0)
    model = genzoo.build("vae", data.info, encoder=mlp(16))
    t = genzoo.train(model, data, tmp_path / "run", steps=12, lr=1e-2, schedule="cosine", warmup_steps=3, grad_clip=1.0,
                     ema=0.5, precision="bf16", optimizer="adamw", progress=False, log_every=4)
    lr_end = t.opts["model"].param_groups[0]["lr"]
    assert 0 < lr_end < 1e-2 * 0.05  # cosine reached (almost) zero at the last round
    raw, ema = genzoo.load(tmp_path / "run", ema=False), genzoo.load(tmp_path / "run", ema=True)
    diffs = [not torch.equal(a, b) for a, b in zip(raw.parameters(), ema.parameters())]
    assert any(diffs)  # EMA weights are a different (averaged) set
    default = genzoo.load(tmp_path / "run")  # a run with EMA weights loads them by default
    assert all(torch.equal(a, b) for a, b in zip(default.parameters(), ema.parameters()))
    # EMA warm-up: the first updates average with decay (1 + k) / (10 + k), then the set decay
    from genzoo.train.ema import EMA

    e = EMA(torch.nn.Linear(1, 1), 0.99)
    assert [round(e.decay_at(k), 4) for k in (0, 1, 1000)] == [0.1, round(2 / 11, 4), 0.99]
    from genzoo.train.optim import lr_factor

    cfg = TrainConfig(schedule="step", decay_every=10, decay_factor=0.5, warmup_steps=2)
    assert [lr_factor(cfg, s, 100) for s in (0, 1, 2, 11, 12, 22)] == [0.5, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_atomic_writes_get_an_ordinary_file_mode(tmp_path) -> None:
    import os
    import stat

    from genzoo.config import _UMASK, atomic_write_bytes

    atomic_write_bytes(tmp_path / "a.txt", b"x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o666 & ~_UMASK
