"""Diffusion: schedule identities, sampler identities with an exact denoiser, the variational bound, guidance."""

from __future__ import annotations

import math

import numpy as np

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.data.base import Batch, Data, DataInfo
from genzoo.errors import GenzooError
from genzoo.metrics.two_sample import mmd_permutation_test
from genzoo.models.base import CanDenoise, Denoised
from genzoo.models.diffusion import DDPM
from genzoo.samplers import SAMPLERS, make_sampler
from genzoo.samplers.diffusion import DDIM, Ancestral, ddim_decode, ddim_invert
from genzoo.schedules import NoiseSchedule

from helpers import mixture_2d, one_thread  # noqa: F401


# -- schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid"])
def test_q_sample_moments_match_the_schedule(kind: str) -> None:
    s = NoiseSchedule(kind, 200)
    assert bool((s.betas > 0).all() and (s.betas < 1).all())
    assert bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all()), "alpha_bar must fall with t"
    torch.manual_seed(0)
    x0 = torch.tensor([[1.5, -0.5]]).expand(100_000, 2)
    for i in (0, 20, 100, 199):
        t = torch.full((len(x0),), i)
        xt = s.q_sample(x0, t)
        ab = float(s.alpha_bar[i])
        assert torch.allclose(xt.mean(0), math.sqrt(ab) * x0[0], atol=0.02), (i, xt.mean(0))
        assert torch.allclose(xt.var(0), torch.full((2,), 1 - ab), rtol=0.03, atol=2e-5), (i, xt.var(0))


def test_posterior_and_parameterisations_are_consistent() -> None:
    s = NoiseSchedule("cosine", 100)
    t = torch.arange(1, 100)
    a, ab_prev = s.alphas[t].double(), s.alpha_bar_prev[t].double()
    # q(x_{t-1}|x_t,x_0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x_0): precisions add
    var = 1 / (a / s.betas[t].double() + 1 / (1 - ab_prev))
    assert torch.allclose(s.posterior_var[t].double(), var, rtol=1e-4)
    torch.manual_seed(0)
    x0, eps = torch.randn(8, 3), torch.randn(8, 3)
    tt = torch.randint(0, 100, (8,))
    xt = s.q_sample(x0, tt, eps)
    for pred in ("eps", "x0", "v"):
        x0_hat, eps_hat = s.split(pred, xt, tt, s.target(pred, x0, tt, eps))
        assert torch.allclose(x0_hat, x0, atol=2e-3) and torch.allclose(eps_hat, eps, atol=2e-3), pred
    # the posterior mean with the true x0 is the mean of x_{t-1} given both ends
    mean, _, _ = s.posterior(x0, xt, tt)
    c0, ct = s.posterior_coef_x0[tt, None], s.posterior_coef_xt[tt, None]
    assert torch.allclose(mean, c0 * x0 + ct * xt)
    assert s.snr(torch.tensor([0])) > s.snr(torch.tensor([99]))
    with pytest.raises(GenzooError, match="exceeds the model's T = 100"):
        s.ddim_timesteps(101)
    assert s.ddim_timesteps(10).tolist()[0] == 99 and s.ddim_timesteps(10).tolist()[-1] == 0


# -- an exact denoiser for Gaussian-mixture data ------------------------------------------------------


class MixtureDenoiser(nn.Module):
    """E[x_0 | x_t] of isotropic Gaussian-mixture data in closed form: the Bayes-optimal denoiser."""

    conditional = False
    num_classes = 0

    def __init__(self, centres: Tensor, std: float, schedule: NoiseSchedule, info: DataInfo) -> None:
        super().__init__()
        self.centres, self.std, self.schedule, self.info = centres.double(), std, schedule, info
        self._p = nn.Parameter(torch.zeros(()))

    @property
    def device(self) -> torch.device:
        return self._p.device

    def to_data(self, x: Tensor) -> Tensor:
        return x

    def clip_x0(self, x0: Tensor) -> Tensor:
        return x0

    def draw_condition(self, n: int) -> None:
        return None

    def denoise(self, x: Tensor, t: Tensor, c: Tensor | None = None, clip: bool = True) -> Denoised:
        s = self.schedule
        ab = s.alpha_bar.double()[t][:, None]  # (B, 1)
        xd = x.double()
        var = ab * self.std**2 + (1 - ab)  # (B, 1) variance of x_t given the component
        d2 = (xd[:, None, :] - ab.sqrt()[:, None] * self.centres[None]).pow(2).sum(-1)  # (B, K)
        r = torch.softmax(-0.5 * d2 / var, 1)
        gain = ab.sqrt() * self.std**2 / var  # (B, 1)
        x0_k = self.centres[None] + gain[:, None] * (xd[:, None, :] - ab.sqrt()[:, None] * self.centres[None])
        x0 = (r[..., None] * x0_k).sum(1)
        eps = (xd - ab.sqrt() * x0) / (1 - ab).sqrt()
        return Denoised(x0.float(), eps.float(), s.posterior_log_var[t][:, None])


def _mixture_model(T: int = 200, std: float = 0.3) -> MixtureDenoiser:
    centres = torch.tensor([[0.6, 0.0], [-0.6, 0.0], [0.0, 0.6]])
    info = DataInfo("mix3", (2,), kind="points", value_range=(-1.0, 1.0))
    return MixtureDenoiser(centres, std, NoiseSchedule("linear", T), info)


def _mixture_data(model: MixtureDenoiser, n: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, len(model.centres), (n,), generator=g)
    return model.centres.float()[k] + model.std * torch.randn(n, 2, generator=g)


def test_exact_denoiser_satisfies_the_protocol() -> None:
    assert isinstance(_mixture_model(), CanDenoise)


def test_ddim_eta1_over_all_steps_is_the_ancestral_chain() -> None:
    """With η = 1 and every step, DDIM's variance is β̃_t and its mean the posterior mean: same path, same noise."""
    m = _mixture_model(T=100)
    torch.manual_seed(3)
    a = Ancestral()(m, 64)
    torch.manual_seed(3)
    b = DDIM(steps=100, eta=1.0)(m, 64)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def test_ddim_eta1_reproduces_ancestral_marginals_mmd() -> None:
    """DDIM with η = 1 on 50 of 200 steps draws the same 2-D mixture as the 200-step ancestral chain (MMD test)."""
    m = _mixture_model(T=200)
    torch.manual_seed(0)
    anc = Ancestral()(m, 600)
    ddim = DDIM(steps=50, eta=1.0)(m, 600)
    real = _mixture_data(m, 600, seed=1)
    g = torch.Generator().manual_seed(0)
    _, p_same = mmd_permutation_test(anc, ddim, permutations=200, generator=g)
    _, p_real = mmd_permutation_test(anc, real, permutations=200, generator=g)
    assert float(p_same) > 0.01 and float(p_real) > 0.01, (float(p_same), float(p_real))
    # and the test has power: a sampler that skips the noise (η = 1 but 5 steps) is told apart
    coarse = DDIM(steps=3, eta=0.0)(m, 600)
    _, p_bad = mmd_permutation_test(anc, coarse, permutations=200, generator=g)
    assert float(p_bad) < 0.01, float(p_bad)


def test_ddim_inversion_round_trip() -> None:
    """x -> x_T -> x with 100 steps: plain inversion within 1e-3 mean squared; with fixed-point refinement every point within 1e-3."""
    m = _mixture_model(T=1000, std=0.3)
    x = _mixture_data(m, 256, seed=2)
    plain = ddim_decode(m, ddim_invert(m, x, steps=100), steps=100)
    assert (plain - x).pow(2).mean() <= 1e-3
    x_T = ddim_invert(m, x, steps=100, refine=2)
    back = ddim_decode(m, x_T, steps=100)
    err = (back - x).abs().max()
    assert err <= 1e-3, float(err)
    assert (back - x).pow(2).mean() < 0.01 * (plain - x).pow(2).mean()  # refinement is what closes the gap
    assert x_T.std() > 0.8  # it did travel to noise


# -- the variational bound ------------------------------------------------------------------------


class ExactGaussianNet(nn.Module):
    """For 1-D data N(m, s²): the exact ε̂ = E[ε | x_t] and the exact reverse variance, as a learned_range output."""

    def __init__(self, m: float, s: float, sched: NoiseSchedule) -> None:
        super().__init__()
        self.m, self.s, self.sched = m, s, sched

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        sc = self.sched
        ab, a, b = sc.alpha_bar.double()[t][:, None], sc.alphas.double()[t][:, None], sc.betas.double()[t][:, None]
        ab_prev = sc.alpha_bar_prev.double()[t][:, None]
        xd = x.double()
        v_t = ab * self.s**2 + 1 - ab
        x0 = self.m + ab.sqrt() * self.s**2 / v_t * (xd - ab.sqrt() * self.m)  # E[x0 | x_t]
        eps = (xd - ab.sqrt() * x0) / (1 - ab).sqrt()
        v_prev = ab_prev * self.s**2 + 1 - ab_prev  # Var x_{t-1} (= s² at the clean end)
        true_var = v_prev * b / (a * v_prev + b)  # Var[x_{t-1} | x_t] of the Gaussian chain
        lo, hi = sc.posterior_log_var.double()[t][:, None], sc.log_betas.double()[t][:, None]
        frac = (true_var.log() - lo) / (hi - lo)
        return torch.cat([eps, 2 * frac - 1], 1).float()


def test_variational_bound_of_a_gaussian_with_its_exact_denoiser_is_the_nll() -> None:
    m, s = 0.3, 0.5
    info = DataInfo("gauss1d", (1,), kind="points", value_range=(-1.0, 1.0))
    sched = NoiseSchedule("linear", 100)
    model = DDPM(ExactGaussianNet(m, s, sched), info, sched, variance="learned_range", ema=None).double()
    model.schedule = sched
    x = torch.tensor([[-0.4], [0.3], [1.1]])
    torch.manual_seed(0)
    reps = 3000
    xr = x.repeat(reps, 1)  # (3 * reps, 1): one draw of every x_t per copy
    vlb = model.nll_bound(xr, k=100).view(reps, 3)  # every term, T = 100
    est, se = vlb.mean(0), vlb.std(0) / math.sqrt(reps)
    true = 0.5 * math.log(2 * math.pi * s**2) + (x[:, 0] - m).pow(2) / (2 * s**2)
    assert torch.all((est - true).abs() < 4 * se + 2e-3), (est, true, se)
    # a fixed variance is a strictly looser bound
    fixed = DDPM(_EpsOnly(model.net), info, sched, variance="fixed_large", ema=None)
    torch.manual_seed(0)
    loose = fixed.nll_bound(xr, k=100).view(reps, 3).mean(0)
    assert torch.all(loose > true + 0.01), (loose, true)


class _EpsOnly(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(x, t, c)[:, :1]


def test_nll_bound_with_fewer_timesteps_is_unbiased() -> None:
    torch.manual_seed(0)
    data = mixture_2d()
    model = genzoo.build("ddpm", data.info, T=50, denoiser={"hidden": 32, "depth": 1}, variance="learned_range")
    x = data.x_test[:4].repeat(400, 1)
    full = model.nll_bound(x, k=50).view(400, 4)
    sub = model.nll_bound(x, k=5).view(400, 4)
    se = (full.var(0) / 400 + sub.var(0) / 400).sqrt()
    assert torch.all((full.mean(0) - sub.mean(0)).abs() < 4 * se), (full.mean(0), sub.mean(0), se)


def test_bound_of_discrete_images_is_a_probability_of_the_grid() -> None:
    """With the discretized decoder every term is a KL or -log of a probability <= 1, so bits/dim >= 0."""
    from helpers import tiny_images

    data = tiny_images()
    torch.manual_seed(0)
    model = genzoo.build("ddpm", data.info, T=20, denoiser={"width": 8, "mults": (1, 2)})
    bpd = model.bits_per_dim(data.x_test[:8], k=20)
    assert bpd.shape == (8,) and bool(torch.isfinite(bpd).all()) and bool((bpd >= 0).all()), bpd
    torch.manual_seed(1)
    nll = model.nll_bound(data.x_test[:8], k=20)
    torch.manual_seed(1)
    assert torch.allclose(model.bits_per_dim(data.x_test[:8], k=20), nll / (64 * math.log(2)))


# -- models, conditions, samplers ----------------------------------------------------------------------


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_ddpm_variants_train_and_sample(prediction: str, variance: str) -> None:
    torch.manual_seed(0)
    data = mixture_2d()
    model = genzoo.build("ddpm", data.info, T=20, denoiser={"hidden": 32, "depth": 1}, prediction=prediction, variance=variance,
                         weighting="min_snr", conditional=True)
    out = model.loss(Batch(data.x_train[:16], data.y_train[:16]))
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    for name in ("ancestral", "ddim"):
        assert model.sample(5, torch.arange(5) % 4, sampler=name).shape == (5, 2)
    assert model.nll_bound(data.x_test[:3], k=20).shape == (3,)


def test_float_conditions_and_the_null_condition() -> None:
    from genzoo.nets.unet import ConditionEmbedding

    emb = ConditionEmbedding(8, cond_dim=3)
    ref = torch.zeros(1)
    c = torch.randn(4, 3)
    c[1] = float("nan")
    e = emb(c, 4, ref)
    assert torch.allclose(e[1], emb(None, 1, ref)[0]) and not torch.allclose(e[0], e[1])
    lab = ConditionEmbedding(8, num_classes=5)
    e = lab(torch.tensor([0, -1, 4]), 3, ref)
    assert torch.allclose(e[1], lab(None, 1, ref)[0])
    with pytest.raises(GenzooError, match="labels must lie in 0..4"):
        lab(torch.tensor([5]), 1, ref)
    info = DataInfo("pts", (2,), kind="points", value_range=(-1.0, 1.0))
    net = genzoo.nets.unet.TimeMLP(2, 2, 16, 1, cond_dim=3)
    assert net(torch.zeros(4, 2), torch.zeros(4), torch.randn(4, 3)).shape == (4, 2)
    model = DDPM(net, info, "linear", T=10, cond_dim=3, cond_drop=0.5)
    assert model.sample(4, torch.randn(4, 3), sampler="cfg").shape == (4, 2)


def test_unet_shapes_conditions_and_gradients() -> None:
    from genzoo.nets.unet import UNet, UNetEncoder

    net = UNet(1, 2, width=8, mults=(1, 2), blocks=1, num_classes=3, image_size=(8, 8))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 50])
    out = net(x, t, torch.tensor([0, 2]))
    assert out.shape == (2, 2, 8, 8)
    out.pow(2).sum().backward()
    enc = UNetEncoder(1, 10, width=8, mults=(1, 2), image_size=(8, 8))
    assert enc(x, t).shape == (2, 10)
    with pytest.raises(GenzooError, match="divisible by 4"):
        UNet(1, 1, mults=(1, 2, 2), image_size=(10, 10))
    # the registered entries take NETS's shapes; a network without t cannot be a denoiser
    info = DataInfo("img", (1, 8, 8))
    m = genzoo.build("ddpm", info, denoiser={"type": "unet", "width": 8, "mults": (1, 2)}, variance="learned_range", T=10)
    assert m.net(x, t).shape == (2, 2, 8, 8) and m.sample(2).shape == (2, 1, 8, 8)
    with pytest.raises(GenzooError, match="denoiser.type: network 'mlp' cannot fill this role; choose one of: time_mlp, unet"):
        genzoo.build("ddpm", info, denoiser="mlp")
    with pytest.raises(GenzooError, match="encoder.type: network 'unet' cannot fill this role; choose one of: conv, "):
        genzoo.build("vae", info, encoder="unet")


def test_sampler_registry_and_bad_options() -> None:
    assert {"ancestral", "ddim", "cfg", "classifier", "gibbs", "codes"} <= set(SAMPLERS.names())
    data = mixture_2d()
    model = genzoo.build("ddpm", data.info, T=20, denoiser={"hidden": 16, "depth": 1})
    with pytest.raises(GenzooError, match="unknown sampler 'dddim'.*did you mean 'ddim'"):
        make_sampler("dddim")
    with pytest.raises(GenzooError, match="exceeds the model's T = 20"):
        make_sampler("ddim", {"steps": 50}, model)
    with pytest.raises(GenzooError, match="sampler.eta must be float >= 0"):
        make_sampler("ddim", {"eta": -0.1})
    with pytest.raises(GenzooError, match="unknown option sampler.stps"):
        make_sampler("ddim", {"stps": 3})
    with pytest.raises(GenzooError, match="needs a conditional diffusion model"):
        make_sampler("cfg", {"scale": 2}, model)
    vae = genzoo.build("vae", data.info)
    with pytest.raises(GenzooError, match="needs a diffusion model"):
        make_sampler("ddim", {}, vae)
    # the other families' samplers live in the same registry
    assert vae.sample(3, sampler="codes").shape == (3, 2)
    rbm = genzoo.build("rbm", genzoo.DataInfo("b", (1, 4, 4), num_classes=0), n_hidden=8)
    assert rbm.sample(3, sampler=SAMPLERS.get("gibbs")(steps=5)).shape == (3, 1, 4, 4)
    with pytest.raises(GenzooError, match="needs a model sampled by Gibbs"):
        vae.sample(2, sampler="gibbs")


def test_classifier_guidance_checks_its_classifier_and_steers() -> None:
    torch.manual_seed(0)
    data = mixture_2d()
    model = genzoo.build("ddpm", data.info, T=50, denoiser={"hidden": 32, "depth": 1})
    clf = genzoo.build("noisy_classifier", data.info, T=50, classifier={"hidden": 64, "depth": 2})
    opt = torch.optim.Adam(clf.parameters(), 3e-3)
    for _ in range(300):
        i = torch.randint(0, len(data.x_train), (128,))
        loss = clf.loss(Batch(data.x_train[i], data.y_train[i]))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    # steering: with the exact-enough classifier, strong guidance lands most samples in the asked class
    s = make_sampler("classifier", {"classifier": clf, "scale": 20.0, "steps": 25}, model)
    c = torch.full((200,), 2)
    x = s(model, 200, c)
    centres = torch.tensor(data.info.extras["centers"])
    hit = (torch.cdist(x, centres).argmin(1) == 2).float().mean()
    assert hit > 0.6, float(hit)  # the untrained diffusion model alone spreads over all four
    other = genzoo.build("noisy_classifier", DataInfo("other", (2,), kind="points", num_classes=4), T=50)
    with pytest.raises(GenzooError, match="trained on other .* but the model on mixture4"):
        make_sampler("classifier", {"classifier": other}, model)
    wrong_t = genzoo.build("noisy_classifier", data.info, T=40)
    with pytest.raises(GenzooError, match="another noise schedule"):
        make_sampler("classifier", {"classifier": wrong_t}, model)


# -- command line ----------------------------------------------------------------------------------


def _cli(*args: object) -> int:
    from genzoo.cli import main

    return main([str(a) for a in args])


def _snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


TINY = ["--set", "model.T=20", "--set", "model.denoiser.hidden=32", "--set", "model.denoiser.depth=1", "--set", "train.progress=false",
        "--set", "train.log_every=5", "--set", "data.n_train=600", "--set", "data.n_test=200"]


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    assert _cli("train", "ddpm", "--data", "8gaussians", "--steps", 10, "--out", root / "ddpm", *TINY) == 0
    assert _cli("train", "noisy_classifier", "--data", "25gaussians", "--steps", 5, "--out", root / "clf25",
                "--set", "model.T=20", "--set", "model.classifier.hidden=16", "--set", "train.progress=false",
                "--set", "data.n_train=600", "--set", "data.n_test=200") == 0
    return root


def test_cli_sample_with_samplers_and_trajectory(toy_runs, tmp_path) -> None:
    run = toy_runs / "ddpm"
    assert (run / "ema.safetensors").is_file() and (run / "samples" / "trajectory.png").is_file()  # EMA on by default
    assert _cli("sample", run, "-n", 50, "-o", tmp_path / "a.npz", "--sampler", "ddim", "--set", "sampler.steps=10",
                "--set", "sampler.eta=0", "--frames", 4) == 0
    assert (tmp_path / "a-trajectory.png").is_file()
    x = np.load(tmp_path / "a.npz")["x"]
    assert x.shape == (50, 2) and np.isfinite(x).all()
    # deterministic DDIM: the same seed gives the same samples, the raw weights other ones
    assert _cli("sample", run, "-n", 50, "-o", tmp_path / "b.npz", "--sampler", "ddim", "--set", "sampler.steps=10") == 0
    assert np.allclose(np.load(tmp_path / "b.npz")["x"], x)
    assert _cli("sample", run, "-n", 50, "-o", tmp_path / "c.npz", "--sampler", "ddim", "--set", "sampler.steps=10", "--no-ema") == 0
    assert not np.allclose(np.load(tmp_path / "c.npz")["x"], x)
    assert _cli("sample", run, "-n", 20, "-o", tmp_path / "d.png", "--sampler", "ancestral") == 0


@pytest.mark.parametrize("bad, message", [
    (["--sampler", "dddim"], "unknown sampler 'dddim'"),
    (["--sampler", "ddim", "--set", "sampler.steps=21"], "exceeds the model's T = 20"),
    (["--sampler", "cfg", "--set", "sampler.scale=3"], "needs a conditional diffusion model"),
    (["--sampler", "ddim", "--set", "sampler.eta=-0.5"], "sampler.eta must be float >= 0"),
    (["--sampler", "classifier", "--set", "sampler.classifier=CLF"], "trained on 25gaussians"),
    (["--sampler", "gibbs"], "needs a model sampled by Gibbs"),
    (["--set", "sampler.steps=5"], "without a sampler"),
])
def test_cli_bad_sampler_input_is_one_sentence_exit_2_run_untouched(toy_runs, tmp_path, capsys, bad, message) -> None:
    run = toy_runs / "ddpm"
    bad = [b.replace("CLF", str(toy_runs / "clf25")) for b in bad]
    before = _snapshot(run)
    for cmd in (["sample", run, "-n", 5, "-o", tmp_path / "x.png"], ["eval", run, "--metrics", "modes", "-n", 50]):
        assert _cli(*cmd, *bad) == 2
        err = capsys.readouterr().err
        assert message in " ".join(err.split()), err
    assert _snapshot(run) == before and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["ddpm", "--set", "model.T=1"], "model.T must be"),
    (["ddpm", "--set", "model.T=20", "--set", "model.sampler_steps=30"], "model.sampler_steps = 30 exceeds model.T = 20"),
    (["ddpm", "--set", "model.cond_drop=1"], "model.cond_drop must be"),
    (["ddpm", "--set", "model.ema=-0.1"], "model.ema must be"),
    (["ddpm", "--set", "model.denoiser.depth=0"], "model.denoiser.depth must be"),
    (["noisy_classifier", "--set", "model.T=0"], "model.T must be"),
])
def test_bad_model_options_are_refused_by_their_declared_ranges(args, message, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert _cli("train", args[0], "--data", "8gaussians", "--steps", 2, "--out", out, *args[1:]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and err.count("error:") == 1 and not out.exists(), err


def test_unet_and_diffae_options_are_range_checked() -> None:
    info = DataInfo("img", (1, 8, 8), kind="image", num_classes=0)
    with pytest.raises(GenzooError, match=r"model.denoiser.mults must be .*each in \[1, 64\]"):
        genzoo.build("ddpm", info, T=10, denoiser={"type": "unet", "width": 8, "mults": (1, 0)})
    with pytest.raises(GenzooError, match="attention levels \\[3\\] must index the UNet's 2 levels"):
        genzoo.build("ddpm", info, T=10, denoiser={"type": "unet", "width": 8, "mults": (1, 2), "attention": (3,)})
    with pytest.raises(GenzooError, match="needs channels divisible by 3"):
        genzoo.build("ddpm", info, T=10, denoiser={"type": "unet", "width": 8, "mults": (1, 2), "heads": 3})
    with pytest.raises(GenzooError, match="model.inversion_steps = 20 exceeds model.T = 10"):
        genzoo.build("diffae", info, T=10, latent_T=10, inversion_steps=20, decode_steps=5)
    with pytest.raises(GenzooError, match="model.inversion_refine must be"):
        genzoo.build("diffae", info, T=10, inversion_refine=-1)
    with pytest.raises(GenzooError, match="sampler.scale must be"):
        make_sampler("cfg", {"scale": -1})
    with pytest.raises(GenzooError, match="sampler.steps must be"):
        SAMPLERS.get("ddim")(steps=0)  # built in Python: the same check as --set sampler.steps


def test_eval_and_bench_take_a_sampler(toy_runs, tmp_path) -> None:
    import json

    from genzoo.bench import bench

    run = toy_runs / "ddpm"
    assert _cli("eval", run, "--metrics", "modes,nll", "-n", 100, "--sampler", "ddim", "--set", "sampler.steps=5",
                "--set", "nll.k=5") == 0
    got = json.loads((run / "eval.json").read_text())
    res = got["metrics"]
    assert res["modes"]["settings"]["sampler"] == {"type": "ddim", "steps": 5, "eta": 0.0}
    assert got["weights"] == "ema"  # diffusion runs are scored with their EMA weights by default
    assert "diffusion variational bound" in res["nll"]["protocol"]["estimator"]
    board = bench("8gaussians", "ddpm,gan", budget=3, metrics="modes", n=100, out=tmp_path / "b", progress=False,
                  data_options={"n_train": 600, "n_test": 200}, model_options={"ddpm": {"T": 20}},
                  sampler="ddim", sampler_opts={"steps": 4})
    rows = {r["model"]: r for r in board["rows"]}
    assert rows["ddpm"]["sampler"] == "ddim(steps=4, eta=0.0)" and rows["gan"]["sampler"] is None
    assert "ddpm: ddim(steps=4, eta=0.0)" in (tmp_path / "b" / "leaderboard.md").read_text()
    with pytest.raises(GenzooError, match="unknown option sampler.stepz"):
        bench("8gaussians", "ddpm", budget=3, out=tmp_path / "c", sampler="ddim", sampler_opts={"stepz": 4})
    assert not (tmp_path / "c").exists()
