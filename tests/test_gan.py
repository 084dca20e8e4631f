"""The adversarial family: f-divergence table, optimal critics, Lipschitz devices, BEGAN's controller."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genzoo
from genzoo.data.base import Batch, DataInfo
from genzoo.divergences import F_DIVERGENCES, f_divergence_bound
from genzoo.errors import GenzooError
from genzoo.models.gan import GAN, adversarial_loss, gradient_penalty
from genzoo.models.gan_variants import critic_split
from genzoo.nets.conv import DCGANDiscriminator, DCGANGenerator
from genzoo.nets.mlp import MLP
from genzoo.train import TrainConfig, Trainer

from helpers import mixture_2d, tiny_images

torch.set_num_threads(1)

GAN_MODELS = ["gan", "dcgan", "cgan", "fgan", "wgan", "wgan_gp", "lsgan", "hinge_gan", "ebgan", "began", "infogan"]


def small(name: str, **net) -> dict:
    """Small networks for model ``name``: its generator and critic (or critic autoencoder) with options ``net``."""
    critic = "encoder" if name in ("ebgan", "began") else "critic"
    return {"generator": dict(net), critic: dict(net)}
POINTS = DataInfo("gauss1d", (1,), kind="points")


def _normal_pdf(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


# -- nets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (2, 8, 8)])
def test_dcgan_nets_shapes(shape) -> None:
    g, d = DCGANGenerator(5, shape, width=4), DCGANDiscriminator(shape, out_dim=3, width=4)
    x = g(torch.randn(2, 5))
    assert x.shape == (2, *shape)
    assert d(x).shape == (2, 3) and d.features(x).shape == (2, d.feature_dim)
    assert DCGANGenerator(5, shape, width=4, out_channels=7)(torch.randn(2, 5)).shape == (2, 7, *shape[1:])
    no_pool = [m for m in [*g.modules(), *d.modules()] if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert not no_pool
    with pytest.raises(GenzooError, match="square"):
        DCGANGenerator(5, (1, 8, 16))


# -- the f-divergence table ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_f_conjugate_matches_its_definition(name: str) -> None:
    """f*(t) = sup_{u>0} u t - f(u), by brute force over a dense grid of u."""
    div = F_DIVERGENCES[name]
    u = torch.logspace(-5, 4, 100_001, dtype=torch.float64)
    f1 = -math.log(4.0) if name == "gan" else 0.0  # the GAN row is 2 JS - log 4 (Nowozin et al. Table 1)
    assert abs(float(div.f(torch.ones(1, dtype=torch.float64))) - f1) < 1e-12
    v = torch.linspace(-2.5, 2.5, 41, dtype=torch.float64)
    t = div.activation(v)  # exactly the values an f-GAN critic produces
    lo, hi = div.domain
    assert bool(((t > lo) & (t < hi)).all())
    vals = u[None, :] * t[:, None] - div.f(u)[None, :]  # (T, U)
    best, arg = vals.max(1)
    interior = (arg > 0) & (arg < len(u) - 1)  # where the sup is attained at some u > 0 (Pearson: t > -2)
    assert interior.sum() >= 20
    assert torch.allclose(best[interior], div.conjugate(t)[interior], atol=1e-4, rtol=1e-4)
    # the stable closed form of f*(g_f(v)) is the composition
    assert torch.allclose(div.conjugate_at(v), div.conjugate(t), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_f_variational_bound_reaches_the_true_divergence(name: str) -> None:
    """sup_T E_P[T] - E_Q[f*(T)] = D_f(P||Q) for P = N(0,1), Q = N(0.7, 1.1²); any T stays below it."""
    div = F_DIVERGENCES[name]
    x = torch.linspace(-7.0, 8.0, 601, dtype=torch.float64)[:, None]
    w = (x[1] - x[0]).item()
    p, q = _normal_pdf(x[:, 0], 0.0, 1.0), _normal_pdf(x[:, 0], 0.7, 1.1)
    true = float((q * div.f(p / q)).sum() * w)  # D_f(P||Q) = ∫ q f(p/q)
    torch.manual_seed(0)
    critic = MLP(1, 1, (16, 16), "tanh").double()
    opt = torch.optim.Adam(critic.parameters(), lr=2e-2)

    def bound() -> torch.Tensor:  # quadrature of E_P[g_f(V)] - E_Q[f*(g_f(V))]
        v = critic(x)[:, 0]
        return ((p * div.activation(v) - q * div.conjugate_at(v)) * w).sum()

    first = float(bound().detach())
    for _ in range(300):
        opt.zero_grad()
        (-bound()).backward()
        opt.step()
    est = float(bound().detach())
    assert first <= true + 1e-6 and est <= true + 1e-6  # Fenchel-Young: a lower bound for every T
    assert est >= true - 0.03 * abs(true) - 1e-3, (name, est, true)
    # the Monte Carlo form used in training agrees with the quadrature
    g = torch.Generator().manual_seed(1)
    xp, xq = torch.randn(100_000, 1, generator=g, dtype=torch.float64), 0.7 + 1.1 * torch.randn(100_000, 1, generator=g, dtype=torch.float64)
    with torch.no_grad():
        mc = float(f_divergence_bound(div, critic(xp)[:, 0], critic(xq)[:, 0]))
    assert abs(mc - est) < 0.05 * max(1.0, abs(est))


# -- optimal discriminator, Lipschitz devices --------------------------------------------------


class _Affine(nn.Module):
    """A fixed 'generator' z -> mu + sigma z, so the critic faces a known Q."""

    def __init__(self, mu: float, sigma: float) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)
        with torch.no_grad():
            self.lin.weight.fill_(sigma)
            self.lin.bias.fill_(mu)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.lin(z)


@pytest.mark.parametrize("loss", ["non_saturating", "least_squares"])
def test_critic_reaches_the_optimal_discriminator(loss: str) -> None:
    """Trained on P = N(0,1) vs Q = N(1, 0.7²), D(x) -> p/(p+q) (Goodfellow et al. Prop. 1; Mao et al. Prop. 1)."""
    torch.manual_seed(0)
    model = GAN(_Affine(1.0, 0.7), MLP(1, 1, (16, 16), "tanh"), adversarial_loss(loss), POINTS, latent_dim=1)
    opt = torch.optim.Adam(model.critic.parameters(), lr=1e-2)
    for _ in range(300):
        out = model.critic_loss(Batch(torch.randn(512, 1)))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    x = torch.linspace(-1.5, 2.0, 36)[:, None]
    p, q = _normal_pdf(x[:, 0], 0.0, 1.0), _normal_pdf(x[:, 0], 1.0, 0.7)
    with torch.no_grad():
        s = model.score(x)
    d = torch.sigmoid(s) if loss == "non_saturating" else s
    assert (d - p / (p + q)).abs().max() < 0.07, (d, p / (p + q))


def test_weight_clipping_keeps_critic_in_the_box() -> None:
    data = mixture_2d(n_train=128)
    torch.manual_seed(0)
    model = genzoo.build("wgan", data.info, **small("wgan", hidden=(16,)), clip=0.05)
    before = [p.detach().clone() for p in model.critic.parameters()]
    Trainer(model, data, TrainConfig(steps=4, batch_size=32, lr=0.1, progress=False, threads=1), callbacks=[]).fit()
    params = list(model.critic.parameters())
    assert all(float(p.detach().abs().max()) <= 0.05 + 1e-7 for p in params)
    assert any(bool((p.abs() == 0.05).any()) for p in params)  # the clamp did act
    assert any(not torch.equal(a, b) for a, b in zip(before, params))


def test_gradient_penalty_of_a_linear_critic_is_closed_form() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight.mul_(4.0)
    real, fake = torch.randn(64, 3), torch.randn(64, 3) + 2
    gp = gradient_penalty(lambda v: lin(v)[:, 0], real, fake)
    closed = (lin.weight.norm() - 1) ** 2
    assert torch.allclose(gp, closed, atol=1e-5)
    # and through the objective: λ·GP is in the critic loss
    model = GAN(MLP(2, 3, (4,)), lin, adversarial_loss("wasserstein"), DataInfo("x", (3,), kind="points"), 2, gp_weight=10.0)
    out = model.critic_loss(Batch(real))
    assert torch.allclose(out["gp"], closed, atol=1e-5)
    assert torch.allclose(out["loss"], -out["wdist"] + 10.0 * closed, atol=1e-4)


# -- BEGAN's controller ----------------------------------------------------------------------------


def test_began_k_stays_in_unit_interval() -> None:
    data = mixture_2d(n_train=128)
    torch.manual_seed(0)
    model = genzoo.build("began", data.info, **small("began", hidden=(16,)), lambda_k=0.5, gamma=1.0)
    ks: list[float] = []
    orig = model.after_critic_step

    def record() -> None:
        orig()
        ks.append(float(model.k))

    model.after_critic_step = record  # type: ignore[method-assign]
    Trainer(model, data, TrainConfig(steps=30, batch_size=32, lr=1e-2, progress=False, threads=1), callbacks=[]).fit()
    assert len(ks) == 30 and all(0.0 <= k <= 1.0 for k in ks)
    # the clamp is what keeps it there: push the balance far either way
    model._balance = torch.tensor(100.0)
    model.after_critic_step()
    assert float(model.k) == 1.0
    model._balance = torch.tensor(-100.0)
    model.after_critic_step()
    assert float(model.k) == 0.0
    out = model.critic_loss(Batch(data.x_train[:32]))
    assert {"k", "m_global"} <= set(out) and float(out["m_global"]) >= 0
    assert "k" in dict(model.named_buffers())  # saved with the model


# -- every model: both players learn ---------------------------------------------------------------


@pytest.mark.parametrize("name", GAN_MODELS)
def test_every_player_updates(name: str) -> None:
    image = name == "dcgan"
    data = tiny_images(n_train=64) if image else mixture_2d(n_train=128)
    opts = small(name, width=4) if image else small(name, hidden=(16,))
    torch.manual_seed(0)
    model = genzoo.build(name, data.info, **opts)
    players = model.players()
    assert [p.name for p in players] == ["critic", "generator"]
    before = {p.name: [t.detach().clone() for t in p.params] for p in players}
    t = Trainer(model, data, TrainConfig(steps=2, batch_size=32, lr=1e-2, progress=False, threads=1), callbacks=[])
    t.fit()
    for p in players:
        # every weight matrix moves; biases may not: a critic's output bias cancels exactly in the
        # Wasserstein loss and in a hinge loss whose margins are all active
        stale = [i for i, (a, b) in enumerate(zip(before[p.name], p.params)) if a.dim() > 1 and torch.equal(a, b)]
        assert not stale, f"{name}: player {p.name} did not update params {stale}"
    assert model.sample(5).shape == (5, *data.info.shape)


def test_wgan_logs_wasserstein_estimate_and_suggests_paper_optimizers() -> None:
    info = mixture_2d(n_train=64).info
    wgan, gp = genzoo.build("wgan", info), genzoo.build("wgan_gp", info)
    critic = wgan.players()[0]
    assert critic.repeat == 5 and critic.optim == {"name": "rmsprop", "lr": 5e-5} and wgan.clip == 0.01
    assert gp.players()[0].optim == {"name": "adam", "lr": 1e-4, "betas": (0.0, 0.9)} and gp.gp_weight == 10.0
    out = wgan.critic_loss(Batch(torch.randn(16, 2)))
    assert torch.allclose(out["loss"], -out["wdist"])


def test_cgan_samples_follow_the_requested_label() -> None:
    data = mixture_2d()
    torch.manual_seed(0)
    model = genzoo.build("cgan", data.info, **small("cgan", hidden=(64, 64)))
    Trainer(model, data, TrainConfig(steps=150, batch_size=128, lr=3e-3, progress=False, threads=1), callbacks=[]).fit()
    model.eval()
    centres = torch.tensor(data.info.extras["centers"])
    for k in range(4):
        x = model.sample(200, torch.full((200,), k))
        nearest = torch.cdist(x, centres).argmin(1)
        assert float((nearest == k).float().mean()) > 0.8
    with pytest.raises(GenzooError, match="labelled data"):
        genzoo.build("cgan", DataInfo("x", (2,), kind="points"))


def test_infogan_reads_back_the_codes_it_was_given() -> None:
    torch.manual_seed(0)
    model = genzoo.build("infogan", genzoo.DataInfo("pts", (2,), kind="points"), latent_dim=4, n_cont=2)
    z = model.noise(64)
    fake = model.generate(z)
    cat, cont = model.infer_codes(fake)
    assert cat.shape == (64, 1) and cont.shape == (64, 2)
    _, _, acc = model.codes_nll(critic_split(model.critic, fake)[0], z)
    target = z[:, model.noise_dim : model.noise_dim + model.cat_dim].argmax(-1)
    assert float((cat[:, 0] == target).float().mean()) == pytest.approx(float(acc))


def test_infogan_information_term_trains_the_shared_critic_body() -> None:
    """Q is the critic's player: the information term reaches the body in the critic step."""
    model = genzoo.build("infogan", genzoo.DataInfo("pts", (2,), kind="points"), latent_dim=4, n_cont=2)
    critic_ids = {id(p) for p in model.players()[0].params}
    generator_ids = {id(p) for p in model.players()[1].params}
    assert all(id(p) in critic_ids for p in model.q_head.parameters())
    assert not any(id(p) in generator_ids for p in model.q_head.parameters())
    x = torch.randn(32, 2)
    grads = []
    for weight in (1.0, 0.0):
        model.info_weight = model.cont_weight = weight
        torch.manual_seed(0)  # the same fakes both times
        model.zero_grad()
        model.critic_loss(Batch(x))["loss"].backward()
        grads.append(next(model.critic.parameters()).grad.clone())
    assert not torch.allclose(grads[0], grads[1])


# -- PacGAN packing --------------------------------------------------------------------------------


def test_packing_scores_groups_of_m_examples() -> None:
    torch.manual_seed(0)
    info = DataInfo("x", (3,), kind="points")
    lin = nn.Linear(3 * 4, 1)
    model = GAN(MLP(2, 3, (4,)), lin, adversarial_loss("wasserstein"), info, 2, pack=4, gp_weight=10.0)
    x = torch.randn(8, 3)
    s = model.score(x)
    assert s.shape == (2,)
    assert torch.allclose(s, lin(torch.cat([x[0:4].reshape(1, -1), x[4:8].reshape(1, -1)]))[:, 0])
    # the penalty's gradient norm is over each packed input: ‖w‖ for a linear critic
    closed = (lin.weight.norm() - 1) ** 2
    assert torch.allclose(model.critic_loss(Batch(x))["gp"], closed, atol=1e-5)
    with pytest.raises(GenzooError, match="divisible by 4"):
        model.score(torch.randn(6, 3))


@pytest.mark.parametrize("name", ["gan", "dcgan", "cgan", "fgan", "wgan", "wgan_gp", "lsgan", "hinge_gan"])
def test_packed_models_train(name: str) -> None:
    image = name == "dcgan"
    data = tiny_images(n_train=64) if image else mixture_2d(n_train=128)
    torch.manual_seed(0)
    model = genzoo.build(name, data.info, pack=2, **(small(name, width=4) if image else small(name, hidden=(16,))))
    first = next(model.critic.parameters())
    before = first.detach().clone()
    Trainer(model, data, TrainConfig(steps=2, batch_size=32, lr=1e-2, progress=False, threads=1), callbacks=[]).fit()
    assert not torch.equal(before, first)
    assert model.sample(5).shape == (5, *data.info.shape)


def test_sample_strip_follows_fixed_latents_across_training(tmp_path) -> None:
    from PIL import Image

    from genzoo.train.callbacks import Pictures
    from genzoo.train.checkpoint import RunDir

    data = tiny_images(n_train=64)
    torch.manual_seed(0)
    model = genzoo.build("dcgan", data.info, **small("dcgan", width=4))
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    pics = Pictures(n=16, strip=8)
    cfg = TrainConfig(steps=6, batch_size=16, sample_every=2, progress=False, threads=1, log_every=2)
    Trainer(model, data, cfg, run=run, callbacks=[pics]).fit()
    assert len(pics._strip) == 3  # snapshots at rounds 2 and 4, then the final one
    strip = Image.open(run.samples / "progress.png")
    grid = Image.open(run.samples / "final.png")
    assert strip.size[0] == grid.size[0] and strip.size[1] > grid.size[1]  # 8 per row: 3 snapshot rows vs 16 samples in 2
    # the seed is reset for every snapshot: the final row is the final grid's first 8 samples
    torch.manual_seed(1234)
    model.eval()
    with torch.no_grad():
        again = model.sample(16)[:8]
    assert torch.allclose(pics._strip[-1], again.float())
