"""Likelihood, two-sample, mode-coverage and reconstruction metrics: identities and calibration.

Parzen windows against the exact density of a Gaussian; the MMD permutation test's p-value
uniform under H0 and tiny under a shift; the unbiased MMD² centred on 0; bits/dim of a
uniform density = log2 L; sliced Wasserstein against exact 1-D and Gaussian-shift values;
mode rules on hand-placed samples; AIS against the exact log Z of a tiny RBM.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.data.base import Data, DataInfo
from genzoo.data.toy import toy_log_density
from genzoo.divergences import log_normal_diag, mmd2
from genzoo.metrics import EvalContext, NotApplicable, run_metric
from genzoo.metrics.likelihood import ais_nll, bits_per_dim, parzen_log_likelihood, select_sigma
from genzoo.metrics.modes import mode_coverage
from genzoo.metrics.two_sample import mmd_permutation_test, sliced_wasserstein, wasserstein_1d
from genzoo.models.rbm import RBM

from helpers import mixture_2d, one_thread  # noqa: F401  (autouse: one torch thread in this module)

D64 = torch.float64


class MixtureSampler(nn.Module):
    """Draws exactly from the data's Gaussian mixture: a perfect 'model' of known density."""

    def __init__(self, info: DataInfo) -> None:
        super().__init__()
        self.centers = torch.tensor(info.extras["centers"])
        self.std = float(info.extras["std"])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        k = torch.randint(len(self.centers), (n,))
        return self.centers[k] + self.std * torch.randn(n, self.centers.shape[1])


class UniformCube(nn.Module):
    """The uniform density on [0, 1]^D: log p = 0 inside, -inf outside."""

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        inside = ((x >= 0) & (x <= 1)).flatten(1).all(1)
        return torch.where(inside, 0.0, -math.inf).to(x.dtype)


# -- Parzen windows --------------------------------------------------------------------------


def test_parzen_matches_brute_force_and_the_smoothed_gaussian() -> None:
    g = torch.Generator().manual_seed(0)
    D, N, sig = 2, 5000, 0.3
    s = torch.randn(N, D, generator=g, dtype=D64)  # samples of N(0, I)
    x = torch.randn(300, D, generator=g, dtype=D64)
    ll = parzen_log_likelihood(s, x, sig)
    # identity: the log of the average kernel density
    brute = torch.logsumexp(log_normal_diag(x[:, None], s[None], torch.full((D,), 2 * math.log(sig), dtype=D64)), 1) - math.log(N)
    assert torch.allclose(ll, brute, atol=1e-9)
    # the grid form agrees with single-σ calls
    grid = parzen_log_likelihood(s, x, [0.2, sig])
    assert torch.allclose(grid[1], ll, atol=1e-12)
    # E_s[N(x; s, σ²I)] = N(x; 0, (1 + σ²) I) =: E(x). To first order the error of the mean
    # log-estimate is (1/N) Σ_s h(s) - 1 with h(s) = mean_i K(x_i - s) / E(x_i), E h = 1, so its
    # standard error is std(h)/sqrt(N); the Jensen gap E log - log E ≈ -mean_i Var K_i /(2 N E_i²)
    # with E K² = N(x; 0, (1 + σ²/2) I) / (4πσ²)^{D/2}
    lv0 = torch.zeros(D, dtype=D64)
    conv = log_normal_diag(x, lv0, torch.full((D,), math.log(1 + sig**2), dtype=D64))
    kern = log_normal_diag(x[:, None], s[None], torch.full((D,), 2 * math.log(sig), dtype=D64)).exp()  # (M, N)
    se = float((kern / conv.exp()[:, None]).mean(0).std()) / math.sqrt(N)
    ek2 = log_normal_diag(x, lv0, torch.full((D,), math.log(1 + sig**2 / 2), dtype=D64)).exp() / (4 * math.pi * sig**2) ** (D / 2)
    gap = float(((ek2 - conv.exp().pow(2)) / conv.exp().pow(2)).mean()) / (2 * N)
    assert se < 0.01 and 0 < gap < 0.01
    assert abs(float(ll.mean() - conv.mean()) + gap) < 4 * se


def test_select_sigma_approaches_the_true_log_density() -> None:
    g = torch.Generator().manual_seed(1)
    D, N = 2, 5000
    s, x, x_val = (torch.randn(m, D, generator=g, dtype=D64) for m in (N, 300, 300))
    grid = torch.logspace(-2, 0, 11, dtype=D64)
    sigma, val_ll = select_sigma(s, x_val, grid)
    assert 0.02 < sigma < 1.0  # an interior optimum, near N^{-1/(D+4)} ≈ 0.24
    assert val_ll == pytest.approx(float(parzen_log_likelihood(s, x_val, sigma).mean()))
    true = log_normal_diag(x, torch.zeros(D, dtype=D64), torch.zeros(D, dtype=D64))
    # smoothing bias O(σ⁴) + KDE noise O((N σ^D)^{-1/2}): a few hundredths of a nat here
    assert abs(float(parzen_log_likelihood(s, x, sigma).mean() - true.mean())) < 0.05


def test_parzen_metric_on_a_perfect_sampler() -> None:
    data = mixture_2d(n_train=512, n_test=200)
    ctx = EvalContext(MixtureSampler(data.info), data, n=200, seed=0)
    r = run_metric("parzen", ctx, n_samples=3000, n_val=200)  # 512 < 5 x 200: a fifth of the training set
    true = float(toy_log_density(data.info, data.x_test.double()).mean())
    assert r["higher_is_better"] and not r["sigma_at_edge"]
    assert r["protocol"]["n_samples"] == 3000 and r["protocol"]["n_test"] == 200 and r["protocol"]["n_val"] == 102
    assert abs(r["value"] - true) < 0.15 + 3 * r["stderr"] / 10  # KDE of 3 000 points vs the exact mixture
    assert r["value"] < true + 0.1  # a smoothed density cannot beat the true one by much on average


# -- MMD ---------------------------------------------------------------------------------------


def test_mmd_statistic_is_the_unbiased_u_statistic() -> None:
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(30, 3, generator=g), torch.randn(45, 3, generator=g) + 0.3
    bw = [0.5, 1.0, 2.0]
    stat, _ = mmd_permutation_test(x, y, bandwidths=bw, permutations=10, generator=g, block=7)
    assert float(stat) == pytest.approx(float(mmd2(x.double(), y.double(), bw, unbiased=True)), abs=1e-10)


def test_mmd_p_value_is_uniform_under_the_null_and_small_under_a_shift() -> None:
    g = torch.Generator().manual_seed(3)
    ps = []
    for _ in range(40):
        x, y = torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g)
        ps.append(float(mmd_permutation_test(x, y, permutations=99, generator=g)[1]))
    ps_t = torch.tensor(ps)
    # under H0, #{p <= 0.1} ~ Binomial(40, 0.1) (mean 4): P(> 10) < 0.002; P(0) = 0.015
    assert 1 <= int((ps_t <= 0.1).sum()) <= 10
    # the mean of a uniform p-value is 1/2 with standard error 0.29 / sqrt(40) = 0.046
    assert abs(float(ps_t.mean()) - 0.5) < 0.15
    for kernel in ("gaussian", "laplacian", "imq"):
        x, y = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + torch.tensor([1.0, 0.0])
        assert float(mmd_permutation_test(x, y, kernel=kernel, permutations=200, generator=g)[1]) < 0.01


def test_unbiased_mmd_of_two_draws_of_one_distribution_averages_zero() -> None:
    g = torch.Generator().manual_seed(4)
    u, v = [], []
    for _ in range(60):
        x, y = torch.randn(25, 2, generator=g), torch.randn(25, 2, generator=g)
        u.append(float(mmd_permutation_test(x, y, bandwidths=[1.0], permutations=0)[0]))
        v.append(float(mmd2(x, y, [1.0], unbiased=False)))
    u_t, v_t = torch.tensor(u, dtype=D64), torch.tensor(v, dtype=D64)
    se = float(u_t.std()) / math.sqrt(len(u_t))
    assert abs(float(u_t.mean())) < 3 * se
    assert float(v_t.mean()) > 10 * se  # the biased V-statistic is positive: the contrast is real
    assert bool((u_t < 0).any())  # the U-statistic can be negative


def test_mmd_metric_protocol() -> None:
    data = mixture_2d(n_train=256, n_test=150)
    r = run_metric("mmd", EvalContext(MixtureSampler(data.info), data, n=1000, seed=0), permutations=50)
    assert r["protocol"]["n_samples"] == 150 and r["protocol"]["permutations"] == 50 and len(r["protocol"]["bandwidths"]) == 3
    assert r["p_value"] > 0.01 and abs(r["value"]) < 0.05 and not r["higher_is_better"]


# -- Wasserstein ---------------------------------------------------------------------------------


def test_sliced_wasserstein_in_one_dimension_is_the_exact_distance() -> None:
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(300, 1, generator=g, dtype=D64), 2 * torch.rand(300, 1, generator=g, dtype=D64)
    for p in (1.0, 2.0):
        exact = ((x[:, 0].sort().values - y[:, 0].sort().values).abs().pow(p).mean()) ** (1 / p)
        assert float(sliced_wasserstein(x, y, 16, p, g)) == pytest.approx(float(exact), rel=1e-10)
    # unequal sizes: identical to the equal-size formula on atoms replicated M and N times
    x3, y2 = x[:3, 0], y[:2, 0]
    rep = wasserstein_1d(x3.repeat_interleave(2), y2.repeat_interleave(3), 2.0)
    assert float(wasserstein_1d(x3, y2, 2.0)) == pytest.approx(float(rep), rel=1e-12)
    assert float(sliced_wasserstein(x[:200], y[:120], 4, 2.0, g)) == pytest.approx(float(wasserstein_1d(x[:200, 0], y[:120, 0])), rel=1e-10)


def test_sliced_wasserstein_of_gaussian_shifts() -> None:
    g = torch.Generator().manual_seed(6)
    # 1-D, independent draws: W2(N(0,1), N(m,1)) = |m|
    a, b = torch.randn(4000, 1, generator=g), torch.randn(4000, 1, generator=g) + 1.0
    assert float(sliced_wasserstein(a, b, 1, 2.0, g)) == pytest.approx(1.0, abs=0.05)
    # D = 5, y = x + μ: along θ the distance is |θ·μ|, and E_θ (θ·μ)² = |μ|²/D
    D, mu = 5, torch.tensor([1.0, -2.0, 0.5, 0.0, 1.0])
    x = torch.randn(500, D, generator=g)
    sw = float(sliced_wasserstein(x, x + mu, 4000, 2.0, g)) ** 2
    # (θ·μ)²/|μ|² ~ Beta(1/2, (D-1)/2): variance 2(D-1)/(D²(D+2)) -> standard error with 4000 directions
    se = float(mu.pow(2).sum()) * math.sqrt(2 * (D - 1) / (D**2 * (D + 2)) / 4000)
    assert abs(sw - float(mu.pow(2).sum()) / D) < 4 * se


def test_exact_wasserstein_with_pot() -> None:
    pytest.importorskip("ot")
    from genzoo.metrics.two_sample import wasserstein_exact

    g = torch.Generator().manual_seed(7)
    x = torch.randn(200, 2, generator=g)
    mu = torch.tensor([0.6, -0.8])
    assert float(wasserstein_exact(x, x + mu, 2)) == pytest.approx(1.0, abs=1e-6)  # translation: W2 = |μ|
    a, b = torch.randn(150, 1, generator=g), torch.rand(150, 1, generator=g)
    assert float(wasserstein_exact(a, b, 1)) == pytest.approx(float(wasserstein_1d(a[:, 0], b[:, 0], 1.0)), abs=1e-6)
    data = mixture_2d(n_train=256, n_test=100)
    r = run_metric("wasserstein", EvalContext(MixtureSampler(data.info), data, n=1000), max_n=80)
    assert r["protocol"]["n_samples"] == 80 and r["w1"] <= r["value"] + 1e-9


# -- mode coverage --------------------------------------------------------------------------------


def test_mode_coverage_rules() -> None:
    centers = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    at_all = centers.repeat(5, 1)
    r = mode_coverage(at_all, centers, 0.1)
    assert r == {"modes": 4.0, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12), "total_modes": 4.0}
    # half of the samples 2.5σ off two centres (still high quality), half far away
    two = torch.cat([centers[:2] + torch.tensor([0.25, 0.0]), torch.full((2, 2), 10.0)])
    r = mode_coverage(two, centers, 0.1)
    assert r["modes"] == 2 and r["high_quality"] == 0.5 and r["reverse_kl"] == pytest.approx(math.log(2.0))
    r = mode_coverage(centers + 0.31, centers, 0.1)  # 3.1σ per axis: outside every 3σ ball
    assert r["modes"] == 0 and r["high_quality"] == 0 and r["reverse_kl"] == math.inf


def test_modes_metric_and_not_applicable() -> None:
    data = mixture_2d()
    r = run_metric("modes", EvalContext(MixtureSampler(data.info), data, seed=0), n_samples=500)
    assert r["value"] == 4 and r["high_quality"] > 0.98 and r["reverse_kl"] < 0.02 and r["higher_is_better"]
    assert r["protocol"]["n_samples"] == 500
    plain = Data(data.x_train, data.x_test, DataInfo("plain", (2,), kind="points"))
    with pytest.raises(NotApplicable):
        run_metric("modes", EvalContext(MixtureSampler(data.info), plain))


# -- NLL, bits/dim, AIS, reconstruction ---------------------------------------------------------


def test_bits_per_dim_of_a_uniform_density_is_log2_levels() -> None:
    assert float(bits_per_dim(torch.zeros(3), 784, 256)[0]) == pytest.approx(8.0, abs=1e-12)
    g = torch.Generator().manual_seed(8)
    info = DataInfo("img8", (1, 4, 4), levels=256)
    x = torch.randint(0, 256, (40, 1, 4, 4), generator=g).float() / 255  # includes 0 and 1 exactly
    x[0], x[1] = 0.0, 1.0
    r = run_metric("bpd", EvalContext(UniformCube(), Data(x, x, info), n=40))
    assert r["value"] == pytest.approx(8.0, abs=1e-9) and r["stderr"] == pytest.approx(0.0, abs=1e-9)
    assert r["protocol"]["levels"] == 256 and "dequantization" in r["protocol"]["scale"]
    with pytest.raises(NotApplicable):  # continuous data has no bits/dim
        run_metric("bpd", EvalContext(UniformCube(), mixture_2d()))


def test_bpd_metric_agrees_with_realnvp_bits_per_dim() -> None:
    g = torch.Generator().manual_seed(9)
    info = DataInfo("img8", (1, 4, 4), levels=256)
    x = torch.randint(0, 256, (64, 1, 4, 4), generator=g).float() / 255
    torch.manual_seed(0)
    model = genzoo.build("realnvp", info, flow={"type": "coupling", "n_layers": 2, "hidden": (16,)}).eval()
    r = run_metric("bpd", EvalContext(model, Data(x, x, info), n=64, seed=1))
    with torch.no_grad():
        ref = model.bits_per_dim(x).double()  # another dequantization draw of the same formula
    assert abs(r["value"] - float(ref.mean())) < 4 * math.hypot(r["stderr"], float(ref.std()) / 8)


def _tiny_vae(data: Data) -> nn.Module:
    torch.manual_seed(0)
    return genzoo.build("vae", data.info, latent_dim=2, encoder={"type": "mlp", "hidden": (16,)}).eval()


def test_nll_metric_is_the_mean_importance_sampled_bound() -> None:
    g = torch.Generator().manual_seed(11)
    info = DataInfo("bin", (1, 4, 4), binarize="dynamic", levels=2, extras={"test_binarization_seed": 3})
    data = Data(torch.rand(64, 1, 4, 4, generator=g), torch.rand(48, 1, 4, 4, generator=g), info)  # test stored as intensities
    model = _tiny_vae(data)
    ctx = EvalContext(model, data, n=32, seed=5)
    r = run_metric("nll", ctx, k=20)
    assert r["protocol"]["k"] == 20 and r["protocol"]["n_test"] == 32 and r["protocol"]["split"] == "test"
    assert r["protocol"]["kind"] == "bound"
    assert "seed 3" in r["protocol"]["test_binarization"]
    from genzoo.data.mnist import binarize_once

    xb = binarize_once(data.x_test[:32], 3)
    torch.manual_seed(5)
    with torch.no_grad():
        ref = model.nll_bound(xb, k=20)
    assert r["value"] == pytest.approx(float(ref.mean()), rel=1e-6)
    assert r["stderr"] == pytest.approx(float(ref.double().std()) / math.sqrt(32), rel=1e-5)
    # binary data: bits/dim is the same NLL over D ln 2
    b = run_metric("bpd", ctx, k=20)
    assert b["value"] == pytest.approx(r["value"] / (16 * math.log(2)), rel=1e-6) and b["protocol"]["k"] == 20
    gan = genzoo.build("gan", data.info, latent_dim=2)
    with pytest.raises(NotApplicable):
        run_metric("nll", EvalContext(gan, data))


def test_a_flows_exact_nll_answers_the_nll_metric_and_recon() -> None:
    data = mixture_2d(n_train=64, n_test=40)
    torch.manual_seed(0)
    model = genzoo.build("realnvp", data.info, flow={"n_layers": 2, "hidden": (8,)}).eval()
    ctx = EvalContext(model, data, n=40, batch_size=16)
    r = run_metric("nll", ctx)
    assert r["protocol"]["kind"] == "exact" and "k" not in r["protocol"]
    with torch.no_grad():
        assert r["value"] == pytest.approx(float(-model.log_prob(data.x_test).double().mean()), rel=1e-6)
    rec = run_metric("recon", ctx)  # a bijection reconstructs exactly
    assert rec["value"] < 1e-8 and rec["protocol"]["n_test"] == 40


def test_recon_metric_on_a_vae() -> None:
    data = mixture_2d(n_train=64, n_test=30)
    model = _tiny_vae(data)
    r = run_metric("recon", EvalContext(model, data, n=30, batch_size=7))
    with torch.no_grad():
        err = (model.decode(model.encode(data.x_test)) - data.x_test).pow(2).sum(1).double()
    assert r["value"] == pytest.approx(float(err.mean()), rel=1e-5)
    assert r["mse_per_dim"] == pytest.approx(float(err.mean()) / 2, rel=1e-5)


def test_ais_nll_matches_the_exact_nll_of_a_tiny_rbm() -> None:
    g = torch.Generator().manual_seed(10)
    info = DataInfo("bits12", (1, 3, 4), levels=2)
    x = (torch.rand(200, 1, 3, 4, generator=g) < 0.3).float()
    torch.manual_seed(0)
    model = RBM(info, 6)
    with torch.no_grad():
        model.W.normal_(0.0, 1.0, generator=g)
        model.b.normal_(-0.5, 0.5, generator=g)
        model.c.normal_(0.0, 0.5, generator=g)
    ctx = EvalContext(model, Data(x, x[:100], info), n=100, seed=0)
    r = ais_nll(ctx, x[:100], {}, scale=0.2, n_runs=100)
    with torch.no_grad():
        exact_log_z = float(model.log_partition_exact())
        exact = float(model.free_energy(x[:100]).double().mean()) + exact_log_z
    assert r["protocol"]["ais_temperatures"] == 2900 and r["protocol"]["ais_runs"] == 100
    assert 0 < r["log_z_width"] < 0.15  # 3 standard errors: the comparison below is not vacuous
    assert abs(r["log_z"] - exact_log_z) < r["log_z_width"] + 0.01
    assert r["value"] == pytest.approx(exact, abs=r["log_z_width"] + 0.01)
    assert r["protocol"]["kind"] == "estimate"
    exact_r = run_metric("nll", ctx)  # H <= 20: exact log Z, so the nll metric is exact
    assert exact_r["protocol"]["kind"] == "exact" and exact_r["value"] == pytest.approx(exact, abs=1e-4)


def test_a_large_rbms_nll_is_the_ais_estimate_and_bpd_is_not_applicable() -> None:
    info = DataInfo("bits25", (1, 5, 5), levels=2)
    x = (torch.rand(20, 1, 5, 5) < 0.3).float()
    model = RBM(info, 21)  # H > 20: log Z only by AIS
    ctx = EvalContext(model, Data(x, x, info), n=10, seed=0)
    r = run_metric("nll", ctx, ais_scale=0.01, ais_runs=4)
    assert r["protocol"]["kind"] == "estimate" and r["protocol"]["ais_runs"] == 4 and math.isfinite(r["value"])
    with pytest.raises(NotApplicable, match="use nll"):
        run_metric("bpd", ctx)
    with pytest.raises(genzoo.GenzooError, match="metric 'exact_nll' is now part of 'nll'"):
        genzoo.evaluate(model, ["exact_nll"], data=Data(x, x, info))


def test_ais_reports_progress_over_every_temperature() -> None:
    info = DataInfo("bits6", (6,), kind="points", levels=2)
    model = RBM(info, 3)
    seen: list[int] = []

    def bar(r: range):
        for k in r:
            seen.append(k)
            yield k

    betas = torch.linspace(0, 1, 11)
    model.log_partition_ais(n_runs=4, betas=betas, progress=bar)
    assert seen == list(range(1, 11))
    ctx = EvalContext(model, Data(torch.zeros(8, 6), torch.zeros(4, 6), info), n=4, progress=True)
    assert ais_nll(ctx, torch.zeros(4, 6), {}, scale=0.01, n_runs=4)["protocol"]["ais_runs"] == 4


def test_wasserstein_without_pot_is_not_applicable(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ot", None)  # import ot -> ImportError
    data = mixture_2d(n_train=64, n_test=20)
    with pytest.raises(NotApplicable, match=r"genzoo\[ot\]"):
        run_metric("wasserstein", EvalContext(MixtureSampler(data.info), data, n=20))


def test_bernoulli_nll_of_intensities_carries_a_caveat() -> None:
    info = DataInfo("gray", (1, 4, 4), levels=256)
    x = torch.rand(40, 1, 4, 4)
    model = genzoo.build("vae", info, latent_dim=2, encoder={"type": "mlp", "hidden": (8,)}, likelihood="bernoulli")
    r = run_metric("nll", EvalContext(model, Data(x, x[:10], info), n=10), k=4)
    assert "not a normalised likelihood" in r["protocol"]["caveat"]
    binary = DataInfo("bits", (1, 4, 4), levels=2)
    xb = (x > 0.5).float()
    r = run_metric("nll", EvalContext(model, Data(xb, xb[:10], binary), n=10), k=4)
    assert "caveat" not in r["protocol"]
