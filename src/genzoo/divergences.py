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
