"""Maths of the autoencoder family: likelihoods, priors, bounds, relaxations, quantisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genzoo
from genzoo.data.base import Batch, DataInfo
from genzoo.distributions import DiscretizedLogistic, FlowPrior, Gaussian, MixturePrior, VampPrior, gumbel_softmax
from genzoo.errors import GenzooError
from genzoo.models.autoencoders import VAE

from helpers import mixture_2d, mlp, tiny_images


def _normal_logpdf(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Independent reference: torch.distributions, summed over the last dim."""
    return torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)


def test_mixture_and_vamp_priors_match_brute_force() -> None:
    torch.manual_seed(0)
    prior = MixturePrior(3, n_components=5)
    with torch.no_grad():
        prior.logvars.normal_(0, 0.5)
        prior.logits.normal_()
    z = torch.randn(7, 3)
    w = torch.softmax(prior.logits, 0)
    brute = torch.stack([
        torch.log(sum(w[k] * _normal_logpdf(z[i], prior.means[k], prior.logvars[k]).exp() for k in range(5))) for i in range(7)
    ])
    assert torch.allclose(prior.log_prob(z), brute, atol=1e-5)
    assert prior.sample(11).shape == (11, 3)

    enc = nn.Linear(4, 6)
    vamp = VampPrior(3, (4,), n_pseudo=8)
    vamp.bind(lambda u: enc(u).chunk(2, -1))
    mu, lv = enc(vamp.pseudo).chunk(2, -1)
    brute = torch.stack([
        torch.log(sum(_normal_logpdf(z[i], mu[k], lv[k]).exp() for k in range(8)) / 8) for i in range(7)
    ])
    assert torch.allclose(vamp.log_prob(z), brute, atol=1e-5)
    assert vamp.sample(5).shape == (5, 3)


def test_flow_prior_is_a_normalised_density() -> None:
    torch.manual_seed(0)
    prior = FlowPrior(2, n_layers=3, hidden=(16,))
    with torch.no_grad():  # move away from the identity initialisation
        for p in prior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    prior.eval()
    g = torch.linspace(-8, 8, 401)
    zz = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        mass = prior.log_prob(zz).exp().sum() * (g[1] - g[0]) ** 2
    assert abs(float(mass) - 1.0) < 0.02, mass
    assert prior.sample(9).shape == (9, 2)


@pytest.mark.parametrize("prior", ["normal", "mog", "vamp"])
def test_vae_kl_term_matches_monte_carlo(prior: str) -> None:
    """The KL the loss uses (closed form or 1-sample) averages to E_q[log q - log p]."""
    torch.manual_seed(0)
    data = tiny_images()
    model = genzoo.build("vae", data.info, latent_dim=3, encoder=mlp(16), prior={"type": prior, **({"n_pseudo": 4} if prior == "vamp" else {})})
    x = data.x_test[:4]
    with torch.no_grad():
        post = model.posterior(x)
        z = model.rsample(post, 40000)  # (k, B, d)
        mc = (_normal_logpdf(z, *post) - model.prior.log_prob(z)).mean(0)
        used = torch.stack([model.kl(post, model.rsample(post)) for _ in range(4000)]).mean(0)
    assert torch.allclose(used, mc, atol=0.05, rtol=0.02), (used, mc)


def test_discrete_kl_and_gumbel_softmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 6)
    for tau in (5.0, 1.0, 0.1, 0.01):
        y = gumbel_softmax(logits.expand(2000, 4, 6), tau)
        assert (y >= 0).all() and torch.allclose(y.sum(-1), torch.ones(2000, 4), atol=1e-5)
    hard = [float(gumbel_softmax(logits.expand(2000, 4, 6), t).max(-1).values.mean()) for t in (5.0, 1.0, 0.1, 0.01)]
    assert hard == sorted(hard) and hard[-1] > 0.99, hard
    # relaxed samples at low temperature follow the categorical probabilities
    freq = torch.nn.functional.one_hot(gumbel_softmax(logits.expand(20000, 4, 6), 0.01).argmax(-1), 6).float().mean(0)
    assert torch.allclose(freq, torch.softmax(logits, -1), atol=0.02)
    # closed-form KL to the uniform prior vs Monte Carlo over exact one-hot samples
    data = tiny_images()
    model = genzoo.build("discrete_vae", data.info, n_latents=3, n_categories=4, encoder=mlp(16)).eval()
    with torch.no_grad():
        post = model.posterior(data.x_test[:5])
        z = model.rsample(post, 50000)
        mc = (model.log_q(z, post) - model.prior.log_prob(z)).mean(0)
        assert torch.allclose(model.kl(post, z[0]), mc, atol=0.03)
    model.train()
    t0 = model.tau()
    for _ in range(1000):
        model._tick()
    assert model.tau() < t0 and model.tau() >= model.min_temperature


def test_discretized_logistic_sums_to_one() -> None:
    torch.manual_seed(0)
    for levels in (2, 5, 256):
        lik = DiscretizedLogistic(levels)
        params = torch.cat([torch.rand(1, 3) * 1.4 - 0.2, torch.randn(1, 3) - 2.0], 1)  # (1, 2*D), D = 3 pixels
        grid = torch.arange(levels) / (levels - 1)
        for d in range(3):  # each pixel separately: other pixels fixed at 0
            xs = torch.zeros(levels, 3)
            xs[:, d] = grid
            base = torch.zeros(1, 3)
            others = lik.log_prob(params, base) - lik.log_prob(params[:, [d, 3 + d]], base[:, [d]])
            total = torch.logsumexp(lik.log_prob(params.expand(levels, -1), xs) - others, 0)
            assert abs(float(total)) < 1e-4, (levels, d, float(total))


def _linear_gaussian_vae(sigma: float = 0.5) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    D, d = 3, 2
    info = DataInfo("linear", (D,), kind="points", value_range=(-5.0, 5.0))
    enc, dec = nn.Linear(D, 2 * d), nn.Linear(d, D)
    with torch.no_grad():
        enc.weight.mul_(0.3)
        enc.bias[d:] = 0.0  # a deliberately imperfect posterior leaves a gap for k to close
    model = VAE(enc, dec, Gaussian("fixed", sigma), info, d)
    W, b = dec.weight.detach(), dec.bias.detach()
    cov = W @ W.T + sigma**2 * torch.eye(D)
    x = torch.distributions.MultivariateNormal(b, cov).sample((32,))
    exact = -torch.distributions.MultivariateNormal(b, cov).log_prob(x)
    return model, x, exact


def test_iwae_bound_rises_with_k_towards_exact_log_likelihood() -> None:
    model, x, exact = _linear_gaussian_vae()
    torch.manual_seed(1)
    nll = {k: torch.stack([model.nll_bound(x, k=k) for _ in range(reps)]).mean(0).mean()
           for k, reps in ((1, 400), (5, 200), (50, 40), (2000, 4))}
    vals = [float(nll[k]) for k in (1, 5, 50, 2000)]
    assert all(a >= b - 0.01 for a, b in zip(vals, vals[1:])), vals  # -bound non-increasing in k
    assert vals[0] > float(exact.mean()) + 0.2, (vals, exact.mean())  # a real gap at k=1
    assert all(v >= float(exact.mean()) - 0.02 for v in vals)  # never below -log p(x)
    assert abs(vals[-1] - float(exact.mean())) < 0.05, (vals, exact.mean())
    # the IWAE training loss is the same bound, with gradients
    model.iw_k = 50
    out = model.loss(Batch(x))
    out["loss"].backward()
    assert model.encoder.weight.grad is not None and abs(float(out["loss"].detach()) - float(nll[50])) < 0.2


def test_elbo_surgery_splits_kl() -> None:
    torch.manual_seed(0)
    data = mixture_2d()
    model = genzoo.build("vae", data.info, latent_dim=2, encoder=mlp(16))
    parts = model.elbo_surgery(data.x_test)
    assert 0.0 <= parts["mutual_info"] <= math.log(len(data.x_test)) + 1e-5
    with torch.no_grad():  # an encoder that ignores x carries no information about it
        model.encoder[-1].weight.zero_()
    parts = model.elbo_surgery(data.x_test)
    assert abs(parts["mutual_info"]) < 1e-5
    assert abs(parts["marginal_kl"] - parts["kl"]) < 0.3  # the whole KL is then marginal (1-sample MC)


def test_capacity_annealing_and_conditional_sampling() -> None:
    data = tiny_images()
    m = genzoo.build("beta_vae", data.info, latent_dim=2, encoder=mlp(16), capacity=10.0, capacity_steps=4)
    p = m.players()[0]
    assert m.capacity_now() == 0.0
    for _ in range(2):
        p.after_step()
    assert m.capacity_now() == 5.0
    for _ in range(5):
        p.after_step()
    assert m.capacity_now() == 10.0 and "capacity" in m.loss(Batch(data.x_train[:8]))
    # Sohn et al.'s learned conditional prior p(z|y): closed-form KL vs Monte Carlo, per label
    cp = genzoo.build("cvae", data.info, latent_dim=2, encoder=mlp(16), prior="class")
    with torch.no_grad():
        cp.prior.means.normal_()
        cp.prior.logvars.normal_(0, 0.3)
        y = data.y_test[:4]
        post = cp.posterior(data.x_test[:4], y)
        z = cp.rsample(post, 40000)
        mc = (_normal_logpdf(z, *post) - _normal_logpdf(z, cp.prior.means[y], cp.prior.logvars[y])).mean(0)
        assert torch.allclose(cp.kl(post, z[0], y), mc, atol=0.05)
        mix = torch.logsumexp(torch.stack([_normal_logpdf(z[0], cp.prior.means[k], cp.prior.logvars[k]) for k in range(2)]), 0) - math.log(2)
        assert torch.allclose(cp.prior_log_prob(z[0]), mix, atol=1e-5)
        assert cp.eval().sample(4, torch.tensor([0, 0, 1, 1])).shape == (4, 1, 8, 8)
    c = genzoo.build("cvae", data.info, latent_dim=2, encoder=mlp(16)).eval()
    assert c.conditional and c.sample(6, torch.tensor([0, 1] * 3)).shape == (6, 1, 8, 8)
    assert c.decode(c.encode(data.x_test[:2])).shape == (2, 1, 8, 8)  # unknown labels: uniform soft label
    with pytest.raises(GenzooError, match="cvae needs labelled data"):
        genzoo.build("cvae", DataInfo("u", (1, 8, 8)))


def test_vq_straight_through_reaches_encoder_and_ema_moves_codebook() -> None:
    torch.manual_seed(0)
    data = tiny_images()
    m = genzoo.build("vqvae", data.info, n_latents=4, n_codes=8, emb_dim=3, encoder=mlp(16))
    ze = m.encode_continuous(data.x_train[:16])
    idx, e = m.quantize(ze)
    assert torch.equal(idx, torch.cdist(ze, m.codebook.expand(16, -1, -1)).argmin(-1))
    rec = m.loss(Batch(data.x_train[:16]))["rec"]  # reconstruction alone: only straight-through links it to the encoder
    grads = torch.autograd.grad(rec, list(m.encoder.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)
    m2 = genzoo.build("vqvae", data.info, n_latents=4, n_codes=8, emb_dim=3, encoder=mlp(16), ema=True)
    before = m2.codebook.clone()
    m2.loss(Batch(data.x_train[:16]))
    assert not torch.equal(before, m2.codebook)
    assert m2.sample(3).shape == (3, 1, 8, 8)


def test_cgm_quadrants_split_join_and_conditional_prior_kl() -> None:
    from genzoo.models.cgm import quadrant_mask

    torch.manual_seed(0)
    m1, m2, m3 = (quadrant_mask(8, 8, g) for g in (1, 2, 3))
    assert (int(m1.sum()), int(m2.sum()), int(m3.sum())) == (16, 32, 48)
    assert bool(m1[7, 0]) and not bool(m1[0, 7]) and bool((m1 <= m2).all() and (m2 <= m3).all())
    info = DataInfo("bars", (1, 8, 8))
    model = genzoo.build("cgm", info, given=2, latent_dim=3, encoder=mlp(16))
    x = torch.rand(5, 1, 8, 8)
    xo, y = model.split(x)
    assert xo.shape == (5, 32) and y.shape == (5, 32)
    assert torch.equal(model.join(xo, y), x)
    # KL(q(z|x,y) || p(z|x)) closed form against Monte Carlo log q - log p
    post = model.vae.posterior(y, xo)
    z = model.vae.rsample(post, 20000)  # (k, B, d)
    mc = (model.vae.log_q(z, post) - model.vae.prior.log_prob(z.reshape(-1, 3), xo.repeat(20000, 1)).view(20000, 5)).mean(0)
    closed = model.vae.kl(post, z[0], xo)
    assert torch.allclose(mc, closed, atol=0.05)
    # the completion keeps the observed pixels and the conditional NLL is a positive bound
    done = model.sample(5, x)
    assert done.shape == x.shape and torch.equal(model.split(done)[0], xo)
    assert (model.cond_nll(x, k=8) > 0).all()


def test_cgm_gsnn_term_trains_the_prior_network_and_fit_lowers_completion_error() -> None:
    torch.manual_seed(0)
    x = tiny_images(256).x_train
    info = DataInfo("bars", tuple(x.shape[1:]))
    model = genzoo.build("cgm", info, given=2, latent_dim=4, encoder=mlp(64), alpha=0.0)
    model.loss(Batch(x[:32]))["loss"].backward()
    assert model.vae.prior.net[0].weight.grad.abs().sum() > 0  # GSNN: gradient through z ~ p(z|x)
    assert model.vae.encoder[0].weight.grad is None  # alpha = 0 never uses q(z|x,y)
    model = genzoo.build("cgm", info, given=2, latent_dim=4, encoder=mlp(64), alpha=0.5)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    err = lambda: float((model.complete(x) - x).pow(2).mean())  # noqa: E731
    before = err()
    for i in range(300):
        opt.zero_grad()
        model.loss(Batch(x[(i * 32) % 256 :][:32]))["loss"].backward()
        opt.step()
    assert err() < 0.6 * before


def test_kl_warmup_ramps_the_kl_weight_for_the_elbo_and_the_iwae_bound() -> None:
    data = tiny_images()
    x = data.x_train[:8]
    for name, opts in (("vae", {}), ("iwae", {"k": 4})):
        torch.manual_seed(0)
        m = genzoo.build(name, data.info, latent_dim=2, encoder=mlp(16), kl_warmup=4, **opts)
        p = m.players()[0]
        assert float(m.kl_weight()) == 0.0
        torch.manual_seed(1)
        start = m.loss(Batch(x))["loss"]
        torch.manual_seed(1)
        if name == "vae":  # weight 0: the loss is the reconstruction term alone
            log_px, _ = m.elbo_terms(x)
        else:  # weight 0: the importance weights are the likelihoods alone
            log_px = log_mean_exp_ref(m.log_weights(x, 4, split=True)[0])
        assert torch.allclose(start, -log_px.mean(), atol=1e-5)
        for _ in range(2):
            p.after_step()
        assert float(m.kl_weight()) == 0.5
        for _ in range(5):
            p.after_step()
        assert float(m.kl_weight()) == 1.0  # then the plain objective
        torch.manual_seed(1)
        full = m.loss(Batch(x))["loss"]
        plain = genzoo.build(name, data.info, latent_dim=2, encoder=mlp(16), **opts)
        plain.load_state_dict({k: v for k, v in m.state_dict().items() if k != "num_steps"})
        torch.manual_seed(1)
        assert torch.allclose(full, plain.loss(Batch(x))["loss"], atol=1e-5)
        assert int(m.state_dict()["num_steps"]) == 7  # a buffer: saved with the model, so resume keeps the ramp
    with pytest.raises(GenzooError, match="kl_warmup"):
        genzoo.build("vae", data.info, kl_warmup=-1)


def log_mean_exp_ref(w: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(w, 0) - math.log(w.shape[0])
