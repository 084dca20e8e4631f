"""Procedural dSprites and the disentanglement metrics: MIG, FactorVAE score, DCI, SAP, class error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.data.dsprites import FACTOR_SIZES, N_IMAGES, grid_index, render
from genzoo.errors import GenzooError
from genzoo.metrics.disentanglement import cluster_labels, dci, factor_vae_score, mig, sap

from helpers import mlp, one_thread, tiny_images  # noqa: F401


def _factors(n: int = 4000, sizes: tuple[int, ...] = (3, 6, 10), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, sizes, size=(n, len(sizes)))


# -- the metrics on codes we understand -----------------------------------------------------------


def test_mig_is_one_for_the_factors_themselves_and_zero_for_noise() -> None:
    v = _factors()
    rng = np.random.default_rng(1)
    code = np.concatenate([v[:, [2, 0, 1]].astype(float), rng.normal(size=(len(v), 2))], 1)  # permuted + 2 nuisance dims
    assert mig(code, v)["value"] > 0.97
    assert mig(rng.normal(size=(len(v), 5)), v)["value"] < 0.03
    # one factor spread over two dimensions: its gap, hence MIG, falls
    mixed = np.stack([v[:, 0] + 0.5 * v[:, 1], v[:, 0] - 0.5 * v[:, 1], v[:, 2]], 1).astype(float)
    assert mig(mixed, v)["value"] < mig(v.astype(float), v)["value"] - 0.2


def test_factor_vae_score_dci_and_sap_rank_a_disentangled_code_first() -> None:
    v = _factors(3000)
    rng = np.random.default_rng(2)
    good = v.astype(float) + 0.05 * rng.normal(size=v.shape)
    noise = rng.normal(size=v.shape)
    assert factor_vae_score(good, v, 600, 300)["value"] > 0.95
    assert factor_vae_score(noise, v, 600, 300)["value"] < 0.6
    d_good, d_noise = dci(good, v, 2000, "forest"), dci(noise, v, 2000, "forest")
    assert d_good["value"] > 0.8 and d_good["completeness"] > 0.8 and d_good["informativeness"] > 0.95
    assert d_noise["value"] < d_good["value"] - 0.3 and d_noise["informativeness"] < 0.6
    assert sap(good, v, 2000)["value"] > 0.3 > 0.05 > sap(noise, v, 2000)["value"]


def test_cluster_labels_follow_the_paper_rule_and_the_majority() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]])
    y = np.array([3, 1, 5, 1])
    rules = cluster_labels(probs, y, classes=6)
    assert rules["paper"].tolist() == [3, 5] and rules["majority"].tolist() == [1, 1]


# -- dSprites ------------------------------------------------------------------------------------


def test_dsprites_grid_order_and_rendering_geometry() -> None:
    idx = grid_index(torch.arange(N_IMAGES))
    assert idx.shape == (N_IMAGES, 5) and torch.equal(idx.max(0).values + 1, torch.tensor(FACTOR_SIZES))
    assert torch.equal(idx[1], torch.tensor([0, 0, 0, 0, 1])) and len(torch.unique(idx[:: 9973], dim=0)) == len(idx[:: 9973])
    base = torch.tensor([[0, 5, 0, 16, 16]])
    im = render(base)[0]
    assert im.sum() == 16 * 16  # a square of scale 1 is 16 pixels wide
    small = render(torch.tensor([[0, 0, 0, 16, 16]]))[0]
    assert small.sum() < im.sum()
    moved = render(torch.tensor([[0, 5, 0, 31, 16]]))[0]
    cols = lambda a: a.float().sum(0).nonzero().float().mean()  # noqa: E731
    assert abs(float(cols(moved) - cols(im)) - 15 * 40 / 31) < 0.6  # x steps of 40/31 pixels
    assert torch.equal(render(torch.tensor([[1, 3, 39, 5, 7]])), render(torch.tensor([[1, 3, 0, 5, 7]])))  # 2π = 0
    for shape in range(3):  # every sprite stays inside the frame
        corner = render(torch.tensor([[shape, 5, 5, 0, 31], [shape, 5, 5, 31, 0]]))
        assert corner[:, 0].sum() == 0 and corner[:, -1].sum() == 0 and corner[:, :, 0].sum() == 0 and corner[:, :, -1].sum() == 0
    assert render(torch.tensor([[2, 5, 0, 16, 16]]), size=32).shape == (1, 32, 32)


def test_the_streamed_grid_yields_images_with_their_factors() -> None:
    from genzoo.data.base import _collate
    from genzoo.data.dsprites import DspritesStream

    idx = torch.tensor([0, 1, 4095, 737_279])
    bits = np.packbits(render(grid_index(idx), 8).reshape(4, -1).numpy(), axis=1)
    stream = DspritesStream(np.zeros((N_IMAGES, 8), dtype=np.uint8), 8)
    stream.bits[idx.numpy()] = bits
    items = [stream[int(i)] for i in idx]
    x, y = _collate(items)
    assert x.shape == (4, 1, 8, 8) and torch.equal(y, grid_index(idx)) and torch.equal(x[:, 0], render(grid_index(idx), 8).float())


def test_dsprites_dataset_holds_its_factors(tmp_path) -> None:
    data = genzoo.load_data("dsprites", size=16, n_train=300, n_test=200, cache_dir=str(tmp_path))
    assert data.x_train.shape == (300, 1, 16, 16) and data.y_train.shape == (300, 5) and data.y_test.shape == (200, 5)
    assert data.info.extras["factors"] == ["shape", "scale", "orientation", "pos_x", "pos_y"] and data.info.num_classes == 0
    assert torch.equal(data.x_test[:5, 0], render(data.y_test[:5], 16).float())
    assert set(data.x_train.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(GenzooError, match="multiple of 8"):
        genzoo.load_data("dsprites", size=20, n_train=10)
    # the disentangled WAE can read one factor from z_f; asked of data without factors, it refuses
    from genzoo.data.base import Batch

    dwae = genzoo.build("dwae", data.info, label="shape", encoder=mlp(16))
    assert dwae.classifier(torch.zeros(2, dwae.func_dim)).shape == (2, 3)
    assert torch.isfinite(dwae.loss(Batch(data.x_train[:8], data.y_train[:8]))["loss"])
    with pytest.raises(GenzooError, match="no factors"):
        genzoo.build("dwae", tiny_images().info, label="shape")


def test_metrics_on_a_trained_run_and_factors_asked_of_data_without_them(tmp_path, capsys) -> None:
    data = genzoo.load_data("dsprites", size=16, n_train=400, n_test=700, cache_dir=str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = genzoo.build("beta_tcvae", data.info, latent_dim=4, encoder=mlp(32))
    genzoo.train(model, data, tmp_path / "run", steps=5, progress=False, log_every=5)
    res = genzoo.evaluate(model, ["mig", "factor_vae_score", "dci", "sap", "fid"], data=data, n=700,
                          options={"dci": {"n_train": 500, "n_test": 200, "predictor": "forest"},
                                   "sap": {"n_train": 500, "n_test": 200},
                                   "factor_vae_score": {"train_votes": 200, "eval_votes": 100}})["metrics"]
    for name in ("mig", "factor_vae_score", "dci", "sap"):
        assert 0.0 <= res[name]["value"] <= 1.0, (name, res[name])
    assert res["dci"]["protocol"]["predictor"] == "forest"
    # a model without codes: n/a; data without factors: named -> one sentence (exit 2), all -> n/a
    other = tiny_images()
    vae = genzoo.build("vae", other.info, latent_dim=2, encoder=mlp(8))
    with pytest.raises(GenzooError, match="mig.*ground-truth factors"):
        genzoo.evaluate(vae, ["mig"], data=other)
    assert genzoo.evaluate(vae, None, data=other, n=20)["metrics"]["sap"]["value"] is None
    genzoo.train("vae", "digits", tmp_path / "digits", steps=2, progress=False, model_options={"encoder": mlp(8)})
    assert main(["eval", str(tmp_path / "digits"), "--metrics", "mig"]) == 2
    assert "ground-truth factors" in " ".join(capsys.readouterr().err.split())
