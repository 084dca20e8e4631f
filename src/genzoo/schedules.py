r"""Noise schedules of discrete-time diffusion and their Gaussian maths, once.

A schedule is a sequence :math:`\beta_1, \dots, \beta_T`; with :math:`\alpha_t = 1 - \beta_t`
and :math:`\bar\alpha_t = \prod_{s \le t} \alpha_s` the forward process has the closed forms

.. math::
    q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \qquad
    q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),

    \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
                + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t, \qquad
    \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\,\beta_t,

and the signal-to-noise ratio :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)`. A
denoiser may predict the noise ε, the clean data x_0, or the velocity
:math:`v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0`; the conversions
between the three live here too.

Indices: timesteps are integers ``t`` in ``0 .. T-1`` (array positions); position ``t`` holds
the paper's step t + 1, so ``alpha_bar[0] = 1 - beta_1`` and ``alpha_bar_prev[0] = 1``.

All tables are computed in float64 and kept as float32 buffers (non-persistent: a schedule is
rebuilt from its name and ``T``, never loaded from weights).

References:
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (linear).
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021 (cosine).
    Jabri, Fleet & Chen, "Scalable Adaptive Computation for Iterative Generation", 2022 (sigmoid).
    Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models", ICLR 2022 (v).
"""

from __future__ import annotations

import math
from typing import Annotated, Callable, Literal

import torch
from torch import Tensor, nn

from .config import Range
from .errors import GenzooError

Prediction = Literal["eps", "x0", "v"]


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02, max_beta: float = 0.999) -> Tensor:
    """β linear from ``beta_start`` to ``beta_end`` at T = 1000, rescaled by 1000/T (Ho et al. 2020;
    the rescaling is Nichol & Dhariwal's), clipped at ``max_beta`` (below T = 50 the end would reach 1)."""
    scale = 1000.0 / T
    return torch.linspace(scale * beta_start, scale * beta_end, T, dtype=torch.float64).clamp(max=max_beta)


def _betas_from_alpha_bar(f: Callable[[Tensor], Tensor], T: int, max_beta: float = 0.999) -> Tensor:
    """β_t = 1 - f(t/T) / f((t-1)/T), clipped at ``max_beta`` (the last steps of cosine blow up)."""
    s = torch.arange(T + 1, dtype=torch.float64) / T
    ab = f(s) / f(torch.zeros((), dtype=torch.float64))
    return (1 - ab[1:] / ab[:-1]).clamp(0.0, max_beta)


def cosine_betas(T: int, s: float = 0.008) -> Tensor:
    """ᾱ(τ) = cos²((τ + s)/(1 + s) · π/2) (Nichol & Dhariwal 2021, eq. 17)."""
    return _betas_from_alpha_bar(lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2, T)


def sigmoid_betas(T: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> Tensor:
    """ᾱ(τ) ∝ σ((end - τ(end - start))/tau) rescaled to run from 1 to 0 (Jabri et al. 2022, Alg. 1)."""
    v_start, v_end = torch.sigmoid(torch.tensor(start / tau)), torch.sigmoid(torch.tensor(end / tau))

    def f(u: Tensor) -> Tensor:
        return (v_end - torch.sigmoid((u * (end - start) + start) / tau)) / (v_end - v_start)

    return _betas_from_alpha_bar(lambda u: f(u).clamp_min(1e-9), T)


BETAS: dict[str, Callable[[int], Tensor]] = {"linear": linear_betas, "cosine": cosine_betas, "sigmoid": sigmoid_betas}
ScheduleName = Literal["linear", "cosine", "sigmoid"]
#: The number of diffusion steps T of a model option.
DiffusionSteps = Annotated[int, Range(2, 100_000)]
#: Steps a sampler or an inversion visits (at most the model's T, checked against the model).
SamplerSteps = Annotated[int, Range(1, 100_000)]


def _gather(table: Tensor, t: Tensor, ndim: int) -> Tensor:
    """``table[t]`` shaped ``(B, 1, ..., 1)`` to broadcast against a ``(B, ...)`` tensor of ``ndim`` dims."""
    return table[t.long()].reshape(-1, *([1] * (ndim - 1)))


class NoiseSchedule(nn.Module):
    """The forward process of a discrete diffusion with T steps.

    Args:
        kind: ``"linear"``, ``"cosine"`` or ``"sigmoid"``, or ``"custom"`` with ``betas``.
        T: number of diffusion steps.
        betas: explicit β_1..β_T (``kind="custom"``).

    Example:
        >>> s = NoiseSchedule("linear", 1000)
        >>> x0 = torch.zeros(4, 2); t = torch.tensor([0, 10, 500, 999])
        >>> s.q_sample(x0, t, torch.ones(4, 2))[:, 0].round(decimals=3)
        tensor([0.0100, 0.0353, 0.9604, 1.0000])
    """

    def __init__(self, kind: str = "linear", T: int = 1000, betas: Tensor | None = None) -> None:
        super().__init__()
        if betas is None:
            if kind not in BETAS:
                raise GenzooError(f"unknown noise schedule '{kind}'; choose one of: {', '.join(BETAS)}")
            if not isinstance(T, int) or T < 2:
                raise GenzooError(f"a diffusion needs at least T = 2 steps, got T = {T}")
            betas = BETAS[kind](T)
        else:
            kind = "custom"
            betas = betas.double()
            if betas.dim() != 1 or len(betas) < 2 or not bool(((betas > 0) & (betas < 1)).all()):
                raise GenzooError("custom betas must be a 1-D tensor of at least 2 values in (0, 1)")
        self.kind, self.T = kind, len(betas)
        alphas = 1 - betas
        ab = torch.cumprod(alphas, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        post_var = betas * (1 - ab_prev) / (1 - ab)  # β̃_t; exactly 0 at the first step
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bar": ab,
            "alpha_bar_prev": ab_prev,
            "sqrt_alpha_bar": ab.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - ab).sqrt(),
            "posterior_var": post_var,
            # log β̃ with the t = 1 entry (0) replaced by β̃_2, as in Nichol & Dhariwal's code: finite everywhere
            "posterior_log_var": torch.log(torch.cat([post_var[1:2], post_var[1:]])),
            "posterior_coef_x0": ab_prev.sqrt() * betas / (1 - ab),
            "posterior_coef_xt": alphas.sqrt() * (1 - ab_prev) / (1 - ab),
            "log_betas": torch.log(betas),
        }
        for name, v in tables.items():
            self.register_buffer(name, v.float(), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.kind}, T={self.T}"

    def config(self) -> dict[str, object]:
        return {"kind": self.kind, "T": self.T}

    def same_as(self, other: "NoiseSchedule") -> bool:
        """Whether ``other`` defines the same forward process (same T and β within float32 precision)."""
        return self.T == other.T and torch.allclose(self.betas.cpu(), other.betas.cpu(), rtol=1e-5, atol=1e-8)

    # -- the forward process ------------------------------------------------------------------------
    def q_mean_std(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean √ᾱ_t x_0 and std √(1-ᾱ_t) of q(x_t | x_0) (the std broadcasts like x_0)."""
        return _gather(self.sqrt_alpha_bar, t, x0.dim()) * x0, _gather(self.sqrt_one_minus_alpha_bar, t, x0.dim())

    def q_sample(self, x0: Tensor, t: Tensor, eps: Tensor | None = None) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, ``(B, ...)``."""
        eps = torch.randn_like(x0) if eps is None else eps
        mean, std = self.q_mean_std(x0, t)
        return mean + std * eps

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0) (see the module docstring)."""
        n = xt.dim()
        mean = _gather(self.posterior_coef_x0, t, n) * x0 + _gather(self.posterior_coef_xt, t, n) * xt
        return mean, _gather(self.posterior_var, t, n), _gather(self.posterior_log_var, t, n)

    def snr(self, t: Tensor) -> Tensor:
        """SNR(t) = ᾱ_t / (1 - ᾱ_t), ``(B,)``."""
        ab = self.alpha_bar[t.long()]
        return ab / (1 - ab)

    # -- what a denoiser predicts ---------------------------------------------------------------------
    def x0_from_eps(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t."""
        n = xt.dim()
        return (xt - _gather(self.sqrt_one_minus_alpha_bar, t, n) * eps) / _gather(self.sqrt_alpha_bar, t, n)

    def eps_from_x0(self, xt: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """ε = (x_t - √ᾱ_t x_0) / √(1-ᾱ_t)."""
        n = xt.dim()
        return (xt - _gather(self.sqrt_alpha_bar, t, n) * x0) / _gather(self.sqrt_one_minus_alpha_bar, t, n)

    def v_target(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """v = √ᾱ_t ε - √(1-ᾱ_t) x_0 (Salimans & Ho 2022)."""
        n = x0.dim()
        return _gather(self.sqrt_alpha_bar, t, n) * eps - _gather(self.sqrt_one_minus_alpha_bar, t, n) * x0

    def x0_eps_from_v(self, xt: Tensor, t: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """x_0 = √ᾱ x_t - √(1-ᾱ) v and ε = √(1-ᾱ) x_t + √ᾱ v."""
        n = xt.dim()
        a, s = _gather(self.sqrt_alpha_bar, t, n), _gather(self.sqrt_one_minus_alpha_bar, t, n)
        return a * xt - s * v, s * xt + a * v

    def target(self, prediction: str, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """What a ``prediction``-parameterised network should output for (x_0, t, ε)."""
        if prediction == "eps":
            return eps
        if prediction == "x0":
            return x0
        if prediction == "v":
            return self.v_target(x0, t, eps)
        raise GenzooError(f"unknown prediction '{prediction}'; choose eps, x0 or v")

    def split(self, prediction: str, xt: Tensor, t: Tensor, out: Tensor) -> tuple[Tensor, Tensor]:
        """``(x̂_0, ε̂)`` from a network output under parameterisation ``prediction``."""
        if prediction == "eps":
            return self.x0_from_eps(xt, t, out), out
        if prediction == "x0":
            return out, self.eps_from_x0(xt, t, out)
        if prediction == "v":
            return self.x0_eps_from_v(xt, t, out)
        raise GenzooError(f"unknown prediction '{prediction}'; choose eps, x0 or v")

    # -- the reverse process --------------------------------------------------------------------------
    def reverse_log_var(self, t: Tensor, ndim: int, frac: Tensor | None = None, kind: str = "fixed_small") -> Tensor:
        """log σ_t² of p(x_{t-1} | x_t).

        ``fixed_small``: log β̃_t (clipped); ``fixed_large``: log β_t, with β̃_2 at the first step as
        in Ho et al.'s code; ``learned_range``: frac · log β_t + (1 - frac) · log β̃_t, with
        ``frac`` ∈ [0, 1] the network's output (Nichol & Dhariwal 2021, eq. 15).
        """
        if kind == "fixed_small":
            return _gather(self.posterior_log_var, t, ndim)
        if kind == "fixed_large":
            log_large = torch.cat([self.posterior_log_var[:1], self.log_betas[1:]])
            return _gather(log_large, t, ndim)
        if kind == "learned_range":
            if frac is None:
                raise GenzooError("variance learned_range needs the network's interpolation output")
            return frac * _gather(self.log_betas, t, ndim) + (1 - frac) * _gather(self.posterior_log_var, t, ndim)
        raise GenzooError(f"unknown variance '{kind}'; choose fixed_small, fixed_large or learned_range")

    def ddim_timesteps(self, steps: int) -> Tensor:
        """``steps`` evenly spaced positions in ``0 .. T-1``, descending, ending at 0 (Song et al. 2021, §4.2)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise GenzooError(f"sampler steps must be a whole number of at least 1, got {steps!r}")
        if steps > self.T:
            raise GenzooError(f"sampler steps = {steps} exceeds the model's T = {self.T} diffusion steps; use at most {self.T}")
        ts = torch.linspace(0, self.T - 1, steps, dtype=torch.float64).round().long()
        return ts.flip(0)


def mean_flat(x: Tensor) -> Tensor:
    """Mean over every dimension but the first: ``(B, ...) -> (B,)``."""
    return x.flatten(1).mean(1)


def sum_flat(x: Tensor) -> Tensor:
    """Sum over every dimension but the first: ``(B, ...) -> (B,)``."""
    return x.flatten(1).sum(1)


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats (broadcasting)."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2).pow(2) * torch.exp(-logvar2) - 1.0)


def _approx_std_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """Elementwise log P(x) of data on ``levels`` evenly spaced values in [-1, 1] under N(mean, e^{2 log_scale}).

    Each value owns the bin of width 2/(levels-1) around it; the edge bins extend to ±∞
    (Ho et al. 2020, eq. 13).
    """
    half = 1.0 / (levels - 1)
    centred = x - mean
    inv = torch.exp(-log_scale)
    cdf_plus = _approx_std_normal_cdf(inv * (centred + half))
    cdf_min = _approx_std_normal_cdf(inv * (centred - half))
    log_cdf_plus = cdf_plus.clamp_min(1e-12).log()
    log_one_minus_cdf_min = (1 - cdf_min).clamp_min(1e-12).log()
    log_delta = (cdf_plus - cdf_min).clamp_min(1e-12).log()
    return torch.where(x < -1 + 1e-3, log_cdf_plus, torch.where(x > 1 - 1e-3, log_one_minus_cdf_min, log_delta))
