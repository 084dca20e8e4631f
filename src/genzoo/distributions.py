"""Likelihood heads p(x | decoder output) and latent priors p(z).

A likelihood head turns a decoder's raw output into a distribution over data. The decoder
outputs ``n_params`` groups along dimension 1 (``(B, P*D)`` for MLPs, ``(B, P*C, H, W)`` for
conv nets); ``log_prob`` sums over every non-batch dimension and returns ``(B,)``.
Priors expose ``log_prob(z) -> (B,)`` and ``sample(n)``; the standard normal also has the
closed-form KL to a diagonal Gaussian posterior, which the VAE uses when it exists.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .divergences import kl_normal_normal, log_normal_diag, log_standard_normal
from .registry import Registry

LIKELIHOODS = Registry("likelihood")
PRIORS = Registry("prior")


class Likelihood(nn.Module):
    """Base class: ``n_params`` decoder outputs per data value."""

    n_params: int = 1

    def split(self, params: Tensor) -> tuple[Tensor, ...]:
        return params.chunk(self.n_params, dim=1) if self.n_params > 1 else (params,)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:  # (B,)
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, params: Tensor) -> Tensor:
        raise NotImplementedError


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Independent Bernoulli per value; the decoder outputs logits. Data in [0, 1]."""

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        x = x.reshape(params.shape)
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params))


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Independent Gaussian per value with mean from the decoder.

    Args:
        variance: ``"fixed"`` (sigma = ``sigma``), ``"learned"`` (one learned sigma shared by all
            values) or ``"decoder"`` (the decoder outputs a log-sigma per value too).
        sigma: the fixed (or initial learned) standard deviation.
    """

    def __init__(self, variance: str = "learned", sigma: float = 1.0) -> None:
        super().__init__()
        if variance not in ("fixed", "learned", "decoder"):
            raise ValueError(f"variance must be fixed, learned or decoder, got {variance!r}")
        self.variance = variance
        self.n_params = 2 if variance == "decoder" else 1
        log_sigma = torch.tensor(math.log(sigma))
        if variance == "learned":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def _mean_logvar(self, params: Tensor) -> tuple[Tensor, Tensor]:
        if self.variance == "decoder":
            mu, log_sigma = params.chunk(2, dim=1)
            return mu, 2 * log_sigma.clamp(-7.0, 5.0)
        return params, (2 * self.log_sigma).expand_as(params)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        mu, logvar = self._mean_logvar(params)
        x = x.reshape(mu.shape)
        return log_normal_diag(x.flatten(1), mu.flatten(1), logvar.flatten(1))

    def mean(self, params: Tensor) -> Tensor:
        return self._mean_logvar(params)[0]

    def sample(self, params: Tensor) -> Tensor:
        mu, logvar = self._mean_logvar(params)
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


class Prior(nn.Module):
    """A density over latent vectors ``z`` of shape ``(B, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def log_prob(self, z: Tensor) -> Tensor:  # (B,)
        raise NotImplementedError

    def sample(self, n: int) -> Tensor:  # (n, dim)
        raise NotImplementedError

    def _ref(self) -> Tensor:
        """A tensor on the prior's device/dtype (buffers or parameters)."""
        for t in self.buffers():
            return t
        for t in self.parameters():
            return t
        raise RuntimeError("prior has no tensors")


@PRIORS.register("normal")
class StandardNormal(Prior):
    """N(0, I); the KL to a diagonal Gaussian posterior is closed form."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.register_buffer("_device_marker", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return log_standard_normal(z)

    def sample(self, n: int) -> Tensor:
        ref = self._device_marker
        return torch.randn(n, self.dim, device=ref.device, dtype=ref.dtype)

    def kl_from_normal(self, mu: Tensor, logvar: Tensor, z: Tensor | None = None) -> Tensor:
        return kl_normal_normal(mu, logvar)
