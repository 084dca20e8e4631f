"""Closed-form divergences and the log-density / log-mean-exp helpers the bounds share.

Everything here is maths used by several families; it lives once and is imported.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def log_normal_diag(x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(x; mu, diag(exp(logvar))), summed over the last dimension -> ``(...)``."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_standard_normal(x: Tensor) -> Tensor:
    """log N(x; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + x.pow(2)).sum(-1)


def kl_normal_normal(
    mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None, logvar_p: Tensor | None = None
) -> Tensor:
    r"""KL(N(mu_q, var_q) || N(mu_p, var_p)) for diagonal Gaussians, summed over the last dim.

    .. math::
        \tfrac12 \sum_j \big[\log\sigma_{p,j}^2 - \log\sigma_{q,j}^2
        + (\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2)/\sigma_{p,j}^2 - 1\big]

    With ``mu_p``/``logvar_p`` omitted the prior is N(0, I) (Kingma & Welling 2014, App. B).
    """
    if mu_p is None and logvar_p is None:
        return 0.5 * (mu_q.pow(2) + logvar_q.exp() - 1.0 - logvar_q).sum(-1)
    mu_p = torch.zeros_like(mu_q) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar_q) if logvar_p is None else logvar_p
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0).sum(-1)


def log_mean_exp(a: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(a))) along ``dim``, computed stably."""
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


# -- f-divergences and their variational (Fenchel) form, Nowozin et al. 2016 -------------------
#
# D_f(P || Q) = ∫ q(x) f(p(x)/q(x)) dx >= sup_T E_P[T(x)] - E_Q[f*(T(x))], with equality at
# T* = f'(p/q). An f-GAN critic outputs an unconstrained v and reaches the domain of f* through
# the output activation T = g_f(v) (Nowozin et al. 2016, Table 2 / Table 6).


from dataclasses import dataclass as _dataclass  # noqa: E402
from typing import Callable as _Callable  # noqa: E402

import torch.nn.functional as _F  # noqa: E402


@_dataclass(frozen=True)
class FDivergence:
    """One row of the f-divergence table.

    Attributes:
        name: table key.
        f: the convex generator f(u), u > 0, with f(1) = 0 (-log 4 for the ``gan`` row, whose
            divergence is 2 JS - log 4).
        activation: g_f, mapping a raw critic output v in R into the domain of f*.
        conjugate: the Fenchel conjugate f*(t) = sup_u u t - f(u), for t in ``domain``.
        conjugate_at: f*(g_f(v)) in a numerically stable closed form of v.
        domain: the open interval of t where f* is finite.
    """

    name: str
    f: _Callable[[Tensor], Tensor]
    activation: _Callable[[Tensor], Tensor]
    conjugate: _Callable[[Tensor], Tensor]
    conjugate_at: _Callable[[Tensor], Tensor]
    domain: tuple[float, float]


_LOG2 = math.log(2.0)

F_DIVERGENCES: dict[str, FDivergence] = {
    # KL(P||Q): f(u) = u log u, g_f(v) = v, f*(t) = exp(t - 1)
    "kl": FDivergence("kl", lambda u: u * torch.log(u), lambda v: v, lambda t: torch.exp(t - 1), lambda v: torch.exp(v - 1),
                      (-math.inf, math.inf)),
    # KL(Q||P): f(u) = -log u, g_f(v) = -exp(-v), f*(t) = -1 - log(-t)  => f*(g_f(v)) = v - 1
    "reverse_kl": FDivergence("reverse_kl", lambda u: -torch.log(u), lambda v: -torch.exp(-v), lambda t: -1 - torch.log(-t),
                              lambda v: v - 1, (-math.inf, 0.0)),
    # Pearson χ²: f(u) = (u - 1)², g_f(v) = v, f*(t) = t²/4 + t
    "pearson": FDivergence("pearson", lambda u: (u - 1) ** 2, lambda v: v, lambda t: t * t / 4 + t, lambda v: v * v / 4 + v,
                           (-math.inf, math.inf)),
    # squared Hellinger: f(u) = (√u - 1)², g_f(v) = 1 - exp(-v), f*(t) = t / (1 - t)  => exp(v) - 1
    "hellinger": FDivergence("hellinger", lambda u: (torch.sqrt(u) - 1) ** 2, lambda v: 1 - torch.exp(-v),
                             lambda t: t / (1 - t), lambda v: torch.expm1(v), (-math.inf, 1.0)),
    # Jensen-Shannon: f(u) = -(u + 1) log((1 + u)/2) + u log u, g_f(v) = log 2 - log(1 + e^{-v}),
    # f*(t) = -log(2 - e^t)  => f*(g_f(v)) = softplus(v) - log 2
    "jensen_shannon": FDivergence("jensen_shannon", lambda u: -(u + 1) * torch.log((1 + u) / 2) + u * torch.log(u),
                                  lambda v: _LOG2 - _F.softplus(-v), lambda t: -torch.log(2 - torch.exp(t)),
                                  lambda v: _F.softplus(v) - _LOG2, (-math.inf, _LOG2)),
    # GAN (2 JS - log 4): f(u) = u log u - (u + 1) log(u + 1), g_f(v) = -log(1 + e^{-v}),
    # f*(t) = -log(1 - e^t)  => f*(g_f(v)) = softplus(v)
    "gan": FDivergence("gan", lambda u: u * torch.log(u) - (u + 1) * torch.log(u + 1), lambda v: -_F.softplus(-v),
                       lambda t: -torch.log(-torch.expm1(t)), lambda v: _F.softplus(v), (-math.inf, 0.0)),
}


def f_divergence_bound(div: FDivergence, v_p: Tensor, v_q: Tensor) -> Tensor:
    """The variational lower bound E_P[g_f(v)] - E_Q[f*(g_f(v))] of D_f(P||Q) from raw critic outputs.

    Args:
        div: a row of :data:`F_DIVERGENCES`.
        v_p: raw critic outputs on samples of P, ``(B,)``.
        v_q: raw critic outputs on samples of Q, ``(B',)``.

    References:
        Nowozin, Cseke & Tomioka, "f-GAN: Training Generative Neural Samplers using
        Variational Divergence Minimization", NeurIPS 2016 (eq. 6, Table 2).
    """
    return div.activation(v_p).mean() - div.conjugate_at(v_q).mean()


# -- maximum mean discrepancy (MMD) ------------------------------------------------------------


def gaussian_kernel_mixture(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float]) -> Tensor:
    r"""Sum of Gaussian kernels :math:`\sum_s \exp(-\|x_i - y_j\|^2 / (2 s^2))` -> ``(N, M)``.

    Squared distances come from ``‖x‖² + ‖y‖² - 2 x·y`` (clamped at 0) rather than ``cdist``,
    so the gradient stays finite where x_i = y_j.
    """
    x, y = x.flatten(1), y.flatten(1)
    d2 = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp_min(0.0)
    return sum(torch.exp(-d2 / (2.0 * s * s)) for s in bandwidths)  # type: ignore[return-value]


def mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float], unbiased: bool = False) -> Tensor:
    r"""Squared maximum mean discrepancy between samples ``x (N, ...)`` and ``y (M, ...)``.

    Biased (V-statistic): :math:`\overline{K_{xx}} + \overline{K_{yy}} - 2\,\overline{K_{xy}}`,
    always >= 0 and exactly 0 when the two sets are equal. Unbiased (U-statistic): the
    within-set means leave out the diagonal, :math:`\sum_{i\ne j} k(x_i,x_j)/(N(N-1))`, so its
    expectation is the population MMD² (0 for equal distributions; it can be negative).

    References:
        Gretton et al., "A kernel two-sample test", JMLR 2012, eqs. 3-5.
        Li, Swersky & Zemel, "Generative moment matching networks", ICML 2015.
    """
    kxx = gaussian_kernel_mixture(x, x, bandwidths)
    kyy = gaussian_kernel_mixture(y, y, bandwidths)
    kxy = gaussian_kernel_mixture(x, y, bandwidths)
    if not unbiased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    n, m = kxx.shape[0], kyy.shape[0]
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean()


def kernel_mixture(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float], kind: str = "gaussian") -> Tensor:
    r"""Sum over bandwidths s of a radial kernel k_s(x_i, y_j) -> ``(N, M)``.

    ``gaussian``: :math:`\exp(-d^2/(2s^2))` (:func:`gaussian_kernel_mixture`);
    ``laplacian``: :math:`\exp(-d/s)`; ``imq`` (inverse multiquadric, β = -1/2):
    :math:`(1 + d^2/s^2)^{-1/2}`, whose heavy tails keep a signal between far-apart sets
    (Gorham & Mackey, "Measuring sample quality with kernels", ICML 2017). All three are
    characteristic, so MMD with any of them is 0 only for equal distributions.
    """
    if kind == "gaussian":
        return gaussian_kernel_mixture(x, y, bandwidths)
    if kind not in ("laplacian", "imq"):
        raise ValueError(f"unknown kernel {kind!r}; choose gaussian, laplacian or imq")
    x, y = x.flatten(1), y.flatten(1)
    d2 = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp_min(0.0)
    if kind == "laplacian":
        d = d2.sqrt()
        return sum(torch.exp(-d / s) for s in bandwidths)  # type: ignore[return-value]
    return sum(torch.rsqrt(1.0 + d2 / (s * s)) for s in bandwidths)  # type: ignore[return-value]
