"""Autoencoders and variational autoencoders as one objective over injected networks.

``AE`` reconstructs through a deterministic code; ``VAE`` extends it with a Gaussian
posterior q(z|x), a prior p(z) and the (β-weighted) KL term. Variants are arguments:
a denoising AE is ``AE(noise="gaussian")``, a β-VAE is ``VAE(beta=4)``.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Higgins et al., "β-VAE", ICLR 2017.
    Vincent et al., "Extracting and composing robust features with denoising autoencoders", ICML 2008.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from ..data.base import Batch, Data, DataInfo
from ..distributions import LIKELIHOODS, PRIORS, Bernoulli, Gaussian, Likelihood, Prior
from ..divergences import log_mean_exp, log_normal_diag
from ..errors import GenzooError
from ..nets.mlp import MLP
from ..registry import MODELS
from .base import GenerativeModel


class AE(GenerativeModel):
    """Autoencoder: minimise -log p(x | z = encoder(x̃)), x̃ optionally corrupted.

    Sampling draws codes from a full-covariance Gaussian fitted to the training codes after
    training (:meth:`fit_code_sampler`), then decodes them.

    Args:
        encoder: ``(B, *shape) -> (B, latent_dim)``.
        decoder: ``(B, latent_dim) -> (B, likelihood.n_params * ...)``.
        likelihood: the reconstruction distribution.
        info: the data's metadata.
        noise: input corruption for a denoising AE: ``"none"``, ``"gaussian"`` (std
            ``noise_level``) or ``"mask"`` (each value zeroed with probability ``noise_level``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        info: DataInfo,
        latent_dim: int,
        noise: str = "none",
        noise_level: float = 0.0,
    ) -> None:
        super().__init__()
        if noise not in ("none", "gaussian", "mask"):
            raise GenzooError(f"noise must be none, gaussian or mask, got {noise!r}")
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.info, self.latent_dim = info, latent_dim
        self.noise, self.noise_level = noise, noise_level
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_scale_tril", torch.eye(latent_dim))

    # -- networks -------------------------------------------------------------------------
    def corrupt(self, x: Tensor) -> Tensor:
        if not self.training or self.noise == "none" or self.noise_level <= 0:
            return x
        if self.noise == "gaussian":
            return x + self.noise_level * torch.randn_like(x)
        return x * (torch.rand_like(x) >= self.noise_level).to(x.dtype)

    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decoder_params(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.decoder(z)  # (B, P*D) or (B, P*C, H, W)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """The mean of p(x | z), shaped like the data."""
        return self.likelihood.mean(self.decoder_params(z, c)).reshape(z.shape[0], *self.info.shape)

    def reconstruct(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, c), c)

    # -- objective ------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, Tensor]:
        z = self.encode(self.corrupt(batch.x), batch.c)
        rec = -self.likelihood.log_prob(self.decoder_params(z, batch.c), batch.x).mean()
        return {"loss": rec, "rec": rec}

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def fit_code_sampler(self, x: Tensor, chunk: int = 2048) -> None:
        """Fit N(mean, cov) to the codes of ``x``; :meth:`sample` then decodes draws from it."""
        was = self.training
        self.eval()
        codes = torch.cat([self.encode(x[i : i + chunk].to(self.device)) for i in range(0, len(x), chunk)])
        self.train(was)
        mean = codes.mean(0)
        cov = torch.cov(codes.T.double()).reshape(self.latent_dim, self.latent_dim)
        cov = cov + 1e-6 * cov.diagonal().mean().clamp_min(1e-8) * torch.eye(self.latent_dim, dtype=cov.dtype, device=cov.device)
        self.code_mean.copy_(mean)
        self.code_scale_tril.copy_(torch.linalg.cholesky(cov).to(self.code_scale_tril.dtype))

    def on_fit_end(self, data: Data) -> None:
        self.fit_code_sampler(data.x_train)

    def sample_latent(self, n: int) -> Tensor:
        eps = torch.randn(n, self.latent_dim, device=self.code_mean.device, dtype=self.code_mean.dtype)
        return self.code_mean + eps @ self.code_scale_tril.T

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.decode(self.sample_latent(n), c)


class VAE(AE):
    """Variational autoencoder: maximise E_q[log p(x|z)] - β KL(q(z|x) || p(z)).

    The encoder outputs ``2 * latent_dim`` values: the posterior mean and log-variance. The
    KL is closed form when the prior provides ``kl_from_normal`` (standard normal), and a
    single-sample Monte Carlo estimate log q(z|x) - log p(z) otherwise (learned priors).

    Args:
        prior: p(z); defaults to N(0, I).
        beta: weight of the KL term (β-VAE when != 1).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        info: DataInfo,
        latent_dim: int,
        prior: Prior | None = None,
        beta: float = 1.0,
        noise: str = "none",
        noise_level: float = 0.0,
    ) -> None:
        super().__init__(encoder, decoder, likelihood, info, latent_dim, noise, noise_level)
        self.prior = prior if prior is not None else PRIORS.get("normal")(latent_dim)
        self.beta = beta

    def posterior(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x), each ``(B, latent_dim)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.posterior(x, c)[0]

    def kl(self, mu: Tensor, logvar: Tensor, z: Tensor) -> Tensor:
        """KL(q(z|x) || p(z)) per example: closed form when the prior has it, else 1-sample MC."""
        closed = getattr(self.prior, "kl_from_normal", None)
        if closed is not None:
            return closed(mu, logvar, z)
        return log_normal_diag(z, mu, logvar) - self.prior.log_prob(z)

    def elbo_terms(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(log p(x|z), KL)`` per example with one reparameterised sample z ~ q(z|x)."""
        mu, logvar = self.posterior(self.corrupt(x), c)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        log_px = self.likelihood.log_prob(self.decoder_params(z, c), x)
        return log_px, self.kl(mu, logvar, z)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        log_px, kl = self.elbo_terms(batch.x, batch.c)
        rec, kl = -log_px.mean(), kl.mean()
        return {"loss": rec + self.beta * kl, "rec": rec, "kl": kl, "elbo": -(rec + kl)}

    def sample_latent(self, n: int) -> Tensor:
        return self.prior.sample(n)

    @torch.no_grad()
    def log_weights(self, x: Tensor, k: int, c: Tensor | None = None) -> Tensor:
        """Importance log-weights log p(x,z_i) - log q(z_i|x), z_i ~ q(z|x): ``(k, B)``."""
        mu, logvar = self.posterior(x, c)
        B = x.shape[0]
        z = mu + torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype) * (0.5 * logvar).exp()  # (k, B, d)
        zf = z.reshape(k * B, -1)
        xk = x.unsqueeze(0).expand(k, *x.shape).reshape(k * B, *x.shape[1:])
        ck = None if c is None else c.unsqueeze(0).expand(k, *c.shape).reshape(k * B, *c.shape[1:])
        log_px = self.likelihood.log_prob(self.decoder_params(zf, ck), xk).view(k, B)
        log_pz = self.prior.log_prob(zf).view(k, B)
        log_qz = log_normal_diag(z, mu, logvar)  # (k, B)
        return log_px + log_pz - log_qz

    @torch.no_grad()
    def nll_bound(self, x: Tensor, k: int = 1000, c: Tensor | None = None, max_rows: int = 20000) -> Tensor:
        """Importance-sampled estimate of -log p(x) in nats, ``(B,)`` (Burda et al. 2016, eq. 8).

        -log (1/k) Σ_i p(x, z_i) / q(z_i|x), computed in chunks of samples so that
        ``k * B`` never exceeds ``max_rows`` decoder evaluations at once.
        """
        was = self.training
        self.eval()
        chunk = max(1, max_rows // max(1, x.shape[0]))
        parts = [torch.logsumexp(self.log_weights(x, min(chunk, k - i), c), 0) for i in range(0, k, chunk)]
        self.train(was)
        return -(torch.logsumexp(torch.stack(parts), 0) - math.log(k))


# -- factories: the registry's configurable entry points ---------------------------------------


def default_likelihood(info: DataInfo, likelihood: str) -> Likelihood:
    """``auto``: Bernoulli for images in [0, 1], Gaussian with a learned sigma otherwise."""
    if likelihood == "auto":
        likelihood = "bernoulli" if info.kind == "image" and tuple(info.value_range) == (0.0, 1.0) else "gaussian"
    if likelihood == "gaussian" and info.kind == "image":
        return Gaussian("learned", sigma=0.1)
    return LIKELIHOODS.get(likelihood)()


def mlp_pair(info: DataInfo, code_out: int, latent_dim: int, hidden: tuple[int, ...], act: str, n_params: int) -> tuple[MLP, MLP]:
    """Encoder ``data -> code_out`` and decoder ``latent_dim -> n_params x data`` MLPs (mirrored)."""
    enc = MLP(info.dim, code_out, hidden, act)
    dec = MLP(latent_dim, n_params * info.dim, tuple(reversed(hidden)), act)
    return enc, dec


@MODELS.register("ae", help="autoencoder (denoising with noise=gaussian|mask); samples via a Gaussian fitted to its codes")
def ae(
    info: DataInfo,
    latent_dim: int = 16,
    hidden: tuple[int, ...] = (512,),
    act: str = "relu",
    likelihood: Literal["auto", "bernoulli", "gaussian"] = "auto",
    noise: Literal["none", "gaussian", "mask"] = "none",
    noise_level: float = 0.0,
) -> AE:
    lik = default_likelihood(info, likelihood)
    enc, dec = mlp_pair(info, latent_dim, latent_dim, hidden, act, lik.n_params)
    return AE(enc, dec, lik, info, latent_dim, noise, noise_level)


@MODELS.register("vae", help="variational autoencoder (Kingma & Welling 2014); beta != 1 gives a β-VAE")
def vae(
    info: DataInfo,
    latent_dim: int = 16,
    hidden: tuple[int, ...] = (512,),
    act: str = "relu",
    likelihood: Literal["auto", "bernoulli", "gaussian"] = "auto",
    beta: float = 1.0,
) -> VAE:
    lik = default_likelihood(info, likelihood)
    enc, dec = mlp_pair(info, 2 * latent_dim, latent_dim, hidden, act, lik.n_params)
    return VAE(enc, dec, lik, info, latent_dim, beta=beta)
