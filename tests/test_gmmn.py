"""MMD estimators and the GMMN / GMMN+AE models."""

from __future__ import annotations

import pytest
import torch

import genzoo
from genzoo.divergences import gaussian_kernel_mixture, mmd2
from genzoo.train import Rows, TrainConfig, Trainer

from helpers import tiny_images


from helpers import one_thread  # noqa: E402,F401  (autouse: one torch thread in this module)


BW = (0.5, 1.0, 2.0)


def test_kernel_matches_direct_formula() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(7, 3), torch.randn(5, 3)
    d2 = torch.cdist(x, y).pow(2)
    direct = sum(torch.exp(-d2 / (2 * s * s)) for s in BW)
    assert torch.allclose(gaussian_kernel_mixture(x, y, BW), direct, atol=1e-5)


def test_biased_mmd_of_a_set_with_itself_is_zero() -> None:
    torch.manual_seed(0)
    x = torch.randn(50, 4)
    assert abs(float(mmd2(x, x, BW))) < 1e-5
    assert float(mmd2(x, torch.randn(50, 4), BW)) > 0


def test_unbiased_mmd_is_zero_in_expectation_and_positive_for_shifted_data() -> None:
    torch.manual_seed(0)
    same, shifted, biased = [], [], []
    for _ in range(300):
        x, y = torch.randn(40, 2), torch.randn(40, 2)
        same.append(mmd2(x, y, BW, unbiased=True))
        biased.append(mmd2(x, y, BW))
        shifted.append(mmd2(x, y + 0.5, BW, unbiased=True))
    same_t, shifted_t = torch.stack(same), torch.stack(shifted)
    se = same_t.std() / len(same) ** 0.5
    assert abs(float(same_t.mean())) < 3 * se, (same_t.mean(), se)
    assert float(torch.stack(biased).mean()) > float(same_t.mean()) + 5 * se  # the V-statistic's bias
    assert float(shifted_t.mean()) > float(same_t.mean()) + 20 * se


def test_gmmn_ae_trains_the_autoencoder_then_only_the_generator() -> None:
    torch.manual_seed(0)
    data = tiny_images()
    model = genzoo.build("gmmn_ae", data.info, autoencoder={"latent_dim": 4, "encoder": {"hidden": (32,)}}, ae_steps=20,
                         generator={"hidden": (16,)}, noise_dim=3)
    stages = model.stages()
    assert [s.name for s in stages] == ["autoencoder", "generator"] and stages[0].steps == 20
    log = Rows()
    rows = log.rows
    t = Trainer(model, data, TrainConfig(steps=40, batch_size=64, lr=3e-3, progress=False, log_every=5), callbacks=[log])
    # train the first stage, snapshot the autoencoder, then the second
    t.total = 20
    t.fit()
    ae_before = {k: v.clone() for k, v in model.autoencoder.state_dict().items()}
    ae_rows = [r for r in rows if "autoencoder/loss" in r]
    assert ae_rows[-1]["autoencoder/loss"] < ae_rows[0]["autoencoder/loss"]
    t.total = 40
    t.fit()
    gen_rows = [r for r in rows if "generator/loss" in r]
    assert gen_rows and not any("autoencoder/loss" in r for r in rows[len(ae_rows):])
    for k, v in model.autoencoder.state_dict().items():
        assert torch.equal(v, ae_before[k]), f"{k} changed in the generator stage"
    model.eval()
    s = model.sample(6)
    assert s.shape == (6, 1, 8, 8) and float(s.min()) >= 0 and float(s.max()) <= 1
