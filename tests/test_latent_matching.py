"""Latent matching: the MMD and TC estimators against closed forms, the latent critic's optimum,
the split-code models (semi-supervised AAE, disentangled WAE) and their bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats

import genzoo
from genzoo.data.base import Batch
from genzoo.distributions import PRIORS, Prior
from genzoo.divergences import aggregate_posterior_terms, log_normal_diag, mmd2
from genzoo.errors import GenzooError
from genzoo.nets.mlp import MLP
from genzoo.train import TrainConfig, Trainer
from genzoo.models.latent_matching import AdversarialMatch, MMDMatch, permute_dims, wae_bandwidths
from genzoo.models.split_code import select_labelled

from helpers import mixture_2d, mlp, one_thread, tiny_images  # noqa: F401  (one_thread: autouse fixture)


# -- the MMD estimator -------------------------------------------------------------------------


def _gaussian_kernel_mean(dmu2: float, var: float, d: int, s: float) -> float:
    """E exp(-‖u‖²/(2s²)) for u ~ N(m, var·I_d) with ‖m‖² = dmu2 (a Gaussian integral)."""
    return (1 + var / s**2) ** (-d / 2) * math.exp(-dmu2 / (2 * (s**2 + var)))


def _imq_mean(var: float, d: int, c: float) -> float:
    """E C/(C + ‖u‖²) for u ~ N(0, var·I_d): a 1-D integral over ‖u‖²/var ~ χ²_d."""
    return integrate.quad(lambda t: c / (c + var * t) * stats.chi2.pdf(t, d), 0, math.inf)[0]


def test_unbiased_mmd_matches_its_closed_form_on_gaussians() -> None:
    """E[MMD²_u] equals the population MMD² of two Gaussians (Gaussian kernels: closed form;
    the WAE's IMQ kernel: a 1-D quadrature), and the statistic is ~0 for equal distributions."""
    torch.manual_seed(0)
    d, n, reps = 3, 100, 400
    a, b, shift = 1.0, 1.5, 0.6
    bw = (0.5, 1.0, 2.0)
    exact_rbf = sum(_gaussian_kernel_mean(0, 2 * a, d, s) + _gaussian_kernel_mean(0, 2 * b, d, s)
                    - 2 * _gaussian_kernel_mean(d * shift**2, a + b, d, s) for s in bw)
    cs = (0.5, 2.0, 8.0)
    exact_imq = sum(_imq_mean(2 * a, d, c) + _imq_mean(2 * b, d, c) - 2 * _imq_mean(a + b, d, c) for c in cs)
    rbf, imq = [], []
    for _ in range(reps):
        x = math.sqrt(a) * torch.randn(n, d, dtype=torch.float64)
        y = math.sqrt(b) * torch.randn(n, d, dtype=torch.float64)
        rbf.append(float(mmd2(x, y + shift, bw, unbiased=True)))
        imq.append(float(mmd2(x, y, tuple(math.sqrt(c) for c in cs), unbiased=True, kernel="wae_imq")))
    for est, exact in ((torch.tensor(rbf), exact_rbf), (torch.tensor(imq), exact_imq)):
        se = float(est.std()) / math.sqrt(reps)
        assert abs(float(est.mean()) - exact) < 4 * se + 1e-4, (float(est.mean()), exact, se)
        assert exact > 10 * se  # the test can tell the distributions apart
    same = torch.tensor([float(mmd2(torch.randn(n, d), torch.randn(n, d), bw, unbiased=True)) for _ in range(100)])
    assert abs(float(same.mean())) < 4 * float(same.std()) / 10


def test_wae_bandwidths_follow_the_paper_and_reject_bad_scales() -> None:
    assert wae_bandwidths(8, (1.0,), "wae_imq") == (4.0,)  # C = 2 * 8 * 1 = 16 -> sqrt
    assert wae_bandwidths(8, (2.0,), "gaussian") == (4.0,)  # exp(-d²/C) = exp(-d²/(2 s²)) with s² = C/2
    for bad in ((0.0, 1.0), (-1.0,), ()):
        with pytest.raises(GenzooError, match="scales must be positive"):
            wae_bandwidths(8, bad, "wae_imq")
    with pytest.raises(GenzooError, match=r"model.scales must be a list of float, each > 0, got \(0.5, -1.0\)"):
        genzoo.build("wae_mmd", mixture_2d().info, scales=(0.5, -1.0))  # refused by its declared range


# -- the total-correlation estimator ---------------------------------------------------------------


def test_tc_estimator_matches_the_exact_total_correlation_of_a_gaussian() -> None:
    """Posteriors N(x_n, s²I) with x_n ~ N(0, Σ₀) make q(z) = N(0, Σ₀ + s²I), whose total
    correlation is ½(Σ_j log Σ_jj − log det Σ); minibatch weighted sampling over the whole
    set recovers it, and the three terms add up to log q(z|x) − log p(z) exactly."""
    torch.manual_seed(0)
    cov0 = torch.tensor([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]], dtype=torch.float64)
    s2 = 0.25
    cov = cov0 + s2 * torch.eye(3, dtype=torch.float64)
    exact = 0.5 * (cov.diagonal().log().sum() - torch.logdet(cov))
    N = 3000
    x = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), cov0).sample((N,))
    mu, logvar = x, torch.full_like(x, math.log(s2))
    z = mu + math.sqrt(s2) * torch.randn_like(mu)
    log_pz = log_normal_diag(z, torch.zeros_like(z), torch.zeros_like(z))
    t = aggregate_posterior_terms(z, mu, logvar, log_pz)
    assert abs(float(t["tc"].mean()) - float(exact)) < 0.03, (float(t["tc"].mean()), float(exact))
    assert torch.allclose(t["mi"] + t["tc"] + t["dim_kl"], log_normal_diag(z, mu, logvar) - log_pz)
    # the MWS weights of a dataset of size D shift log q(z) by -log D and Σ_j log q(z_j) by -d log D
    t2 = aggregate_posterior_terms(z, mu, logvar, log_pz, dataset_size=10 * N)
    assert torch.allclose(t2["tc"] - t["tc"], torch.full_like(t["tc"], 2 * math.log(10 * N)))
    # independent coordinates: no total correlation
    mu_ind = torch.randn(N, 3, dtype=torch.float64)
    t3 = aggregate_posterior_terms(mu_ind + math.sqrt(s2) * torch.randn_like(mu_ind), mu_ind, logvar, log_pz)
    assert abs(float(t3["tc"].mean())) < 0.03


# -- the latent critic ----------------------------------------------------------------------------


def test_latent_critic_learns_the_log_density_ratio_and_the_kl() -> None:
    """A logistic critic between prior draws N(0, 1) ("real") and codes N(1, 0.5²) ("fake")
    converges to D*(z) = log p(z) − log q(z); with the density-ratio loss the encoder's term
    −E_q D(z) then estimates KL(q ‖ p) = log 2 + 1.25/2 − 1/2."""
    torch.manual_seed(0)
    prior = PRIORS.get("normal")(1)
    match = AdversarialMatch(MLP(1, 1, (64, 64), "leaky_relu"), prior, "density_ratio")
    (player,) = match.players(lambda batch: batch.x)
    opt = torch.optim.Adam(player.params, lr=3e-3)
    for _ in range(1500):
        z = 1.0 + 0.5 * torch.randn(512, 1)
        loss = player.loss(Batch(z))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    grid = torch.linspace(0.0, 2.0, 21).unsqueeze(1)
    with torch.no_grad():
        learned = match.score(grid)
        exact = log_normal_diag(grid, torch.zeros(1), torch.zeros(1)) - log_normal_diag(grid, torch.ones(1), torch.full((1,), math.log(0.25)))
        assert (learned - exact).abs().max() < 0.35, (learned - exact)
        kl = float(match.penalty(1.0 + 0.5 * torch.randn(20000, 1))["adversarial"])
    assert abs(kl - (math.log(2) + 0.625 - 0.5)) < 0.1, kl


def test_permuted_codes_have_the_marginals_but_not_the_dependence() -> None:
    torch.manual_seed(0)
    z = torch.randn(4000, 1) @ torch.ones(1, 3) + 0.1 * torch.randn(4000, 3)  # strongly correlated
    p = permute_dims(z)
    for j in range(3):
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    assert abs(float(torch.corrcoef(p.T)[0, 1])) < 0.05 < 0.9 < float(torch.corrcoef(z.T)[0, 1])


# -- models ------------------------------------------------------------------------------------


class DensityOnly(Prior):
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * z.pow(2).sum(-1)


def test_a_prior_without_a_sampler_is_refused() -> None:
    with pytest.raises(GenzooError, match="has no sampler"):
        AdversarialMatch(MLP(2, 1, (8,)), DensityOnly(2))
    with pytest.raises(GenzooError, match="has no sampler"):
        MMDMatch(DensityOnly(2), (1.0,))


def test_labels_asked_for_on_unlabelled_data_are_refused() -> None:
    info = genzoo.load_data("swissroll", n_train=200, n_test=50).info
    for name, opts in (("aae_semi", {}), ("aae", {"supervised": True}), ("dwae", {})):
        with pytest.raises(GenzooError, match="no labels"):
            genzoo.build(name, info, **opts)


def test_select_labelled_is_balanced_and_seeded() -> None:
    y = torch.arange(1000) % 10
    idx = select_labelled(y, 100, 10, seed=3)
    assert len(set(idx.tolist())) == 100 and torch.bincount(y[idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(idx, select_labelled(y, 100, 10, seed=3)) and not torch.equal(idx, select_labelled(y, 100, 10, seed=4))


def test_semi_supervised_aae_trains_its_classifier_on_the_labelled_few(tmp_path) -> None:
    data = mixture_2d()  # four labelled clusters; two labels each are kept
    torch.manual_seed(0)
    model = genzoo.build("aae_semi", data.info, labels=8, encoder=mlp(32), critic=mlp(16), style_dim=2)
    names = [p.name for p in model.players()]
    assert names == ["autoencoder", "latent_critic_y", "latent_critic_z", "encoder", "classifier"]
    t = genzoo.train(model, data, tmp_path / "run", steps=60, lr=3e-3, progress=False, log_every=20)
    y = t.model.labelled_y
    assert len(y) == 8 and torch.bincount(y, minlength=4).tolist() == [2, 2, 2, 2]
    # the labelled examples travel with the weights, and the categories are read from q(y|x)
    loaded = genzoo.load(tmp_path / "run")
    assert torch.equal(loaded.labelled_y, y)
    acc = float((loaded.classify(data.x_test).argmax(1) == data.y_test).float().mean())
    assert acc > 0.9, acc
    x = loaded.sample(6, torch.tensor([0, 1, 2, 3, 0, 1]))
    assert x.shape == (6, *data.info.shape)


# -- MMD GAN: the critic's autoencoder learns the kernel's features -----------------------------


def _mmd_gan(ae_weight: float = 8.0, clip: float = 0.01):  # noqa: ANN202
    data = tiny_images()
    model = genzoo.build("mmd_gan", data.info, latent_dim=3, code_dim=4, generator={"hidden": (16,)},
                         critic_encoder={"hidden": (32,)}, ae_weight=ae_weight, clip=clip)
    return model, Batch(data.x_train[:32])


def test_mmd_gan_critic_carries_the_autoencoder_regulariser_and_clips_only_its_features() -> None:
    torch.manual_seed(0)
    model, batch = _mmd_gan()
    critic, generator = model.players()
    assert [p.name for p in model.players()] == ["critic", "generator"] and critic.repeat == model.n_critic
    assert {id(p) for p in critic.params} == {id(p) for p in model.critic.parameters()}
    out = critic.loss(batch)
    out["loss"].backward()
    # the decoder only enters the critic's loss through the reconstruction terms (lambda_AE)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.critic.decoder.parameters())
    assert float(out["mmd2"]) >= 0 and float(out["ae"]) > 0
    plain, batch = _mmd_gan(ae_weight=0.0)
    plain.critic_loss(batch)["loss"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in plain.critic.decoder.parameters())
    # generator: the square root of the biased MMD² on the critic's features; its gradient reaches every weight
    model.zero_grad()
    g = generator.loss(batch)
    assert torch.allclose(g["loss"], g["mmd2"].clamp_min(1e-12).sqrt())
    g["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.params)
    # weight clipping after each critic update: the feature map (encoder) only, as in the authors' code
    with torch.no_grad():
        for p in model.critic.parameters():
            p.fill_(0.5)
    critic.after_step()
    assert all(float(p.detach().abs().max()) <= model.clip for p in model.critic.encoder.parameters())
    assert all(torch.all(p == 0.5) for p in model.critic.decoder.parameters())


def test_mmd_gan_critic_raises_the_discrepancy_it_sees() -> None:
    """With the generator fixed, the critic's updates (the max over kernels) raise MMD² on its features."""
    torch.manual_seed(0)
    model, batch = _mmd_gan(clip=0.5)
    critic = model.players()[0]
    opt = torch.optim.Adam(critic.params, lr=3e-3)

    def mmd_now() -> float:
        torch.manual_seed(1)  # the same generated batch each time
        with torch.no_grad():
            return float(model.critic_loss(batch)["mmd2"])

    before = mmd_now()
    for _ in range(60):
        opt.zero_grad()
        critic.loss(batch)["loss"].backward()
        opt.step()
        critic.after_step()
    after = mmd_now()
    assert after > 2 * before, (before, after)


def test_disentangled_wae_swaps_the_label_code() -> None:
    data = tiny_images(n_train=256)
    torch.manual_seed(0)
    model = genzoo.build("dwae", data.info, func_dim=2, struct_dim=4, encoder=mlp(64))
    Trainer(model, data, TrainConfig(steps=200, lr=3e-3, progress=False, log_every=50), run=None, callbacks=[]).fit()
    model.eval()
    x0 = data.x_test[data.y_test == 0][:8]
    x1 = data.x_test[data.y_test == 1][:8]
    edited = model.swap(x0, x1)  # horizontal bars given vertical-bar label codes
    assert edited.shape == x0.shape
    assert float((model.classify(x0).argmax(1) == 0).float().mean()) > 0.9
    assert float((model.classify(edited).argmax(1) == 1).float().mean()) > 0.7


@pytest.mark.parametrize("args, message", [
    (["aae", "--data", "8gaussians", "--set", "model.prior=vamp"], "cannot use the VampPrior"),
    (["wae_mmd", "--data", "8gaussians", "--set", "model.scales=0,1"], "model.scales must be a list of float, each > 0"),
    (["aae_semi", "--data", "swissroll"], "has no labels"),
    (["dwae", "--data", "digits", "--set", "model.label=shape"], "digits has no factors"),
])
def test_bad_input_is_one_sentence_and_exit_2(args, message, tmp_path, capsys) -> None:
    from genzoo.cli import main

    out = tmp_path / "run"
    assert main(["train", *args, "--set", "data.n_train=200", "--out", str(out), "--steps", "2"]
                if args[2] != "digits" else ["train", *args, "--out", str(out), "--steps", "2"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and err.count("error:") == 1 and not out.exists()
