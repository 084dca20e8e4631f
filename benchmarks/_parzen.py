"""Parzen-window (Gaussian KDE) log-likelihood, the protocol of the GAN and GMMN papers.

log p(x) = log (1/N) Σ_i N(x; s_i, σ² I) for N model samples s_i; σ is chosen on a
validation split and the test log-likelihood reported with it (Breuleux et al. 2011;
Goodfellow et al. 2014; Li et al. 2015). The estimate is known to be poor in high dimension
(Theis et al. 2016); it is kept for comparison with those papers only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


@torch.no_grad()
def parzen_log_likelihood(samples: Tensor, x: Tensor, sigma: float, batch: int = 100) -> Tensor:
    """log p(x) per row of ``x`` ``(M,)`` under a Gaussian KDE on ``samples`` ``(N, D)``."""
    s = samples.flatten(1).double()
    s2 = s.pow(2).sum(1)
    D, N = s.shape[1], s.shape[0]
    const = -math.log(N) - 0.5 * D * math.log(2 * math.pi * sigma**2)
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].flatten(1).double().to(s.device)
        d2 = (xb.pow(2).sum(1, keepdim=True) + s2 - 2 * xb @ s.T).clamp_min(0)  # (b, N)
        out.append(torch.logsumexp(-d2 / (2 * sigma**2), 1) + const)
    return torch.cat(out)


def select_sigma(samples: Tensor, x_val: Tensor, sigmas: Tensor | None = None) -> tuple[float, float]:
    """The σ of a log-spaced grid (0.05 .. 1 by default) with the best mean validation log-likelihood."""
    sigmas = torch.logspace(math.log10(0.05), 0.0, 20) if sigmas is None else sigmas
    scores = [float(parzen_log_likelihood(samples, x_val, float(s)).mean()) for s in sigmas]
    best = max(range(len(scores)), key=scores.__getitem__)
    return float(sigmas[best]), scores[best]
