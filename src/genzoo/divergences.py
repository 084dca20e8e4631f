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


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared distances ``(N, M)`` from ``‖x‖² + ‖y‖² - 2 x·y`` (clamped at 0) rather than
    ``cdist``, so the gradient stays finite where x_i = y_j."""
    return (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp_min(0.0)


def _gaussian(d2: Tensor, s: float) -> Tensor:
    return torch.exp(-d2 / (2.0 * s * s))


def _laplacian(d2: Tensor, s: float) -> Tensor:
    return torch.exp(-d2.sqrt() / s)


def _imq(d2: Tensor, s: float) -> Tensor:
    return torch.rsqrt(1.0 + d2 / (s * s))


def _wae_imq(d2: Tensor, s: float) -> Tensor:
    return s * s / (s * s + d2)


#: radial kernels k_s(d²) by name: each maps squared distances and a scale s to kernel values.
#: A new kernel is one entry here; :func:`kernel_mixture`, :func:`mmd2` and the MMD metric read it.
KERNELS: dict[str, _Callable[[Tensor, float], Tensor]] = {"gaussian": _gaussian, "laplacian": _laplacian, "imq": _imq,
                                                         "wae_imq": _wae_imq}


def kernel_mixture(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float], kind: str = "gaussian") -> Tensor:
    r"""Sum over scales s of a radial kernel k_s(x_i, y_j) -> ``(N, M)``; inputs are flattened.

    ``gaussian``: :math:`\exp(-d^2/(2s^2))`; ``laplacian``: :math:`\exp(-d/s)`; ``imq``
    (inverse multiquadric, β = -1/2): :math:`(1 + d^2/s^2)^{-1/2}`, whose heavy tails keep a
    signal between far-apart sets (Gorham & Mackey, "Measuring sample quality with kernels",
    ICML 2017); ``wae_imq``: the Wasserstein autoencoder's inverse multiquadratic kernel
    :math:`C/(C + d^2)` with :math:`C = s^2` (Tolstikhin et al. 2018, §4, who sum it over
    C = 2 d_z σ² times a range of scales). All of :data:`KERNELS` are characteristic, so MMD
    with any of them is 0 only for equal distributions.

    Example:
        >>> x = torch.zeros(2, 3)
        >>> kernel_mixture(x, x, [1.0, 2.0]).tolist()  # k_s(0) = 1 for each of the 2 scales
        [[2.0, 2.0], [2.0, 2.0]]
    """
    if kind not in KERNELS:
        raise ValueError(f"unknown kernel {kind!r}; choose one of: {', '.join(KERNELS)}")
    k = KERNELS[kind]
    d2 = _sq_dists(x.flatten(1), y.flatten(1))
    return sum(k(d2, float(s)) for s in bandwidths)  # type: ignore[return-value]


def gaussian_kernel_mixture(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float]) -> Tensor:
    r"""Sum of Gaussian kernels :math:`\sum_s \exp(-\|x_i - y_j\|^2 / (2 s^2))` -> ``(N, M)``."""
    return kernel_mixture(x, y, bandwidths, "gaussian")


def mmd2_from_kernels(kxx: Tensor, kyy: Tensor, kxy: Tensor, unbiased: bool = False, y_weight: Tensor | None = None) -> Tensor:
    r"""Squared MMD from the three kernel matrices ``kxx (N, N)``, ``kyy (M, M)``, ``kxy (N, M)``.

    Biased (V-statistic): :math:`\overline{K_{xx}} + \overline{K_{yy}} - 2\,\overline{K_{xy}}`,
    always >= 0 and exactly 0 when the two sets are equal. Unbiased (U-statistic): the
    within-set means leave out the diagonal, :math:`\sum_{i\ne j} k(x_i,x_j)/(N(N-1))`, so its
    expectation is the population MMD² (0 for equal distributions; it can be negative).

    With ``y_weight (M,)`` the y sample is the weighted empirical measure Σ_j v_j δ_{y_j},
    v = w / Σ w: the means over y become v-weighted, and the U-statistic's within-y term is
    Σ_{i≠j} v_i v_j k_ij / Σ_{i≠j} v_i v_j (the uniform case gives back the formulas above).

    References:
        Gretton et al., "A kernel two-sample test", JMLR 2012, eqs. 3-5.
    """
    n = kxx.shape[0]
    if y_weight is None:
        m = kyy.shape[0]
        if not unbiased:
            return kxx.mean() + kyy.mean() - 2 * kxy.mean()
        xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        return xx + yy - 2 * kxy.mean()
    v = y_weight.to(kyy.dtype) / y_weight.to(kyy.dtype).sum()  # (M,)
    yy = v @ kyy @ v
    xy = (kxy @ v).mean()
    if not unbiased:
        return kxx.mean() + yy - 2 * xy
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    v2 = v.pow(2)
    return xx + (yy - (v2 * kyy.diagonal()).sum()) / (1 - v2.sum()) - 2 * xy


def mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | list[float], unbiased: bool = False,
         kernel: str = "gaussian", y_weight: Tensor | None = None) -> Tensor:
    r"""Squared maximum mean discrepancy between samples ``x (N, ...)`` and ``y (M, ...)``.

    The kernel is ``kernel`` of :data:`KERNELS` summed over the scales ``bandwidths``
    (:func:`kernel_mixture`); the estimate and the optional weights of y are those of
    :func:`mmd2_from_kernels`.

    Example:
        >>> x = torch.randn(64, 2)
        >>> float(mmd2(x, x, [1.0]))  # the V-statistic of a set against itself
        0.0

    References:
        Gretton et al., "A kernel two-sample test", JMLR 2012, eqs. 3-5.
        Li, Swersky & Zemel, "Generative moment matching networks", ICML 2015.
    """
    kxx = kernel_mixture(x, x, bandwidths, kernel)
    kyy = kernel_mixture(y, y, bandwidths, kernel)
    kxy = kernel_mixture(x, y, bandwidths, kernel)
    return mmd2_from_kernels(kxx, kyy, kxy, unbiased, y_weight)


# -- the aggregate posterior of a VAE (β-TCVAE) --------------------------------------------------


def aggregate_posterior_terms(z: Tensor, mu: Tensor, logvar: Tensor, log_pz: Tensor, dataset_size: int = 0) -> dict[str, Tensor]:
    r"""Per-example estimates of the three parts of the average KL (Chen et al. 2018, eq. 2).

    For a batch of M codes z_i ~ q(z|x_i) from diagonal Gaussian posteriors, the aggregate
    posterior q(z) = (1/N) Σ_n q(z|x_n) over a dataset of N examples is estimated by
    minibatch weighted sampling (MWS, Chen et al. §4.1 and App. C.1):

    .. math::
        \log q(z_i) \approx \operatorname{logsumexp}_k \log q(z_i|x_k) - \log(NM),\qquad
        \log q(z_{ij}) \approx \operatorname{logsumexp}_k \log q(z_{ij}|x_k) - \log(NM)

    (the second per dimension j), which splits log q(z|x) − log p(z) into

    .. math::
        \underbrace{\log q(z|x) - \log q(z)}_{\text{index-code MI}}
        + \underbrace{\log q(z) - \textstyle\sum_j \log q(z_j)}_{\text{total correlation}}
        + \underbrace{\textstyle\sum_j \log q(z_j) - \log p(z)}_{\text{dimension-wise KL}}.

    The constants do not change gradients, but they shift the logged terms: the TC by
    (d − 1) log N. With ``dataset_size`` 0 the batch is taken as the whole dataset and its
    mixture (1/M) Σ_k q(z|x_k) as q(z) (−log M in place of −log(NM)): the estimates are then
    those of that exact mixture at each z_i, and the TC tends to the aggregate posterior's
    true total correlation as M grows.

    Args:
        z: codes ``(M, d)``, one per example; ``mu``, ``logvar``: their posteriors ``(M, d)``.
        log_pz: log p(z_i), ``(M,)``.
        dataset_size: N for the MWS weights (0: the batch mixture).

    Returns:
        ``mi``, ``tc``, ``dim_kl``, each ``(M,)``.

    References:
        Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
        Autoencoders", NeurIPS 2018.
    """
    M = z.shape[0]
    log_nm = math.log(M * dataset_size) if dataset_size > 0 else math.log(M)
    # log q(z_ij | x_k) for every code i, posterior k and dimension j: (M, M, d)
    cross = -0.5 * (LOG_2PI + logvar.unsqueeze(0) + (z.unsqueeze(1) - mu.unsqueeze(0)).pow(2) * torch.exp(-logvar).unsqueeze(0))
    log_qz = torch.logsumexp(cross.sum(2), 1) - log_nm  # (M,)
    log_qz_dims = (torch.logsumexp(cross, 1) - log_nm).sum(1)  # (M,): Σ_j log q(z_ij)
    log_qz_x = log_normal_diag(z, mu, logvar)  # (M,)
    return {"mi": log_qz_x - log_qz, "tc": log_qz - log_qz_dims, "dim_kl": log_qz_dims - log_pz}
