"""Autoencoders and variational autoencoders as one objective over injected networks.

``AE`` reconstructs through a deterministic code; ``VAE`` extends it with a posterior
q(z|x), a prior p(z) and the (β-weighted) KL term. Every variant is an argument of these two
classes:

* denoising AE: ``AE(noise="mask", noise_level=0.25)`` (Vincent et al. 2008);
* β-VAE: ``VAE(beta=4)``; its capacity-annealed form γ|KL − C|, C rising linearly to
  ``capacity`` over ``capacity_steps`` updates: ``VAE(capacity=25, gamma=1000)``;
* conditional VAE: ``VAE(num_classes=10)``: q(z|x,y) and p(x|z,y), labels one-hot
  concatenated to the encoder input (extra constant planes for conv encoders) and to z;
* IWAE: ``VAE(iw_k=50)``: the k-sample importance-weighted bound is the training objective;
* learnable priors: any :class:`~genzoo.distributions.Prior` (``mog``, ``vamp``, ``flow``);
* latent matching: ``AE(match=...)`` / ``VAE(match=...)`` add a divergence between the
  aggregate code distribution q(z) and a target, estimated by a kernel or by a latent critic
  that trains as its own player (adversarial and Wasserstein autoencoders, FactorVAE:
  :mod:`genzoo.models.latent_matching`); ``VAE(tc_weights=(α, β, γ))`` is β-TCVAE.

A discrete-latent (Gumbel-softmax) VAE overrides the three posterior methods
(:mod:`genzoo.models.vae_variants`); VQ-VAE lives in :mod:`genzoo.models.vqvae`.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Higgins et al., "β-VAE", ICLR 2017.
    Burgess et al., "Understanding disentangling in β-VAE", 2018.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
    Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
    Generative Models", NeurIPS 2015.
    Hoffman & Johnson, "ELBO surgery", NeurIPS 2016 workshop.
    Vincent et al., "Extracting and composing robust features with denoising autoencoders", ICML 2008.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
from torch import Tensor, nn

from ..config import NonNegInt, Range, Size, Spec, Weight
from ..data.base import Batch, Data, DataInfo
from ..distributions import Likelihood, Prior, StandardNormal, likelihood, prior
from ..divergences import aggregate_posterior_terms, log_mean_exp, log_normal_diag
from ..errors import GenzooError
from ..nets.base import append_condition, condition_shape, net, one_hot, takes_flat
from ..nets.sequence import Autoregressive
from ..registry import MODELS
from .base import GenerativeModel, Player

if TYPE_CHECKING:
    from .latent_matching import LatentMatch


#: Bytes (as float32) of repeated data per chunk of :meth:`VAE.nll_bound` (8 MiB: 2674 rows of MNIST). Chunks
#: this size keep every temporary (decoder output, log-probabilities) a few MiB, reused from one
#: chunk to the next; 20 000-row chunks spent about a third of the evaluation in the kernel,
#: mapping and zeroing fresh pages.
NLL_CHUNK_BYTES = 8 << 20


def _repeat(t: Tensor, k: int) -> Tensor:
    """``t (B, ...)`` repeated ``k`` times along a new leading axis, flattened: ``(k * B, ...)``."""
    return t.unsqueeze(0).expand(k, *t.shape).reshape(k * t.shape[0], *t.shape[1:])


class AE(GenerativeModel):
    """Autoencoder: minimise -log p(x | z = encoder(x̃)), x̃ optionally corrupted.

    Sampling draws codes from a distribution fitted to the training codes after training
    (:meth:`fit_code_sampler`), then decodes them: a full-covariance Gaussian, or with
    ``code_sampler="mog"`` a mixture of ``code_components`` diagonal Gaussians fitted by EM
    (the post-hoc mixture sampler suits codes that form clusters).

    Args:
        encoder: ``(B, *shape) -> (B, latent_dim)``.
        decoder: ``(B, latent_dim) -> (B, likelihood.n_params * ...)``.
        likelihood: the reconstruction distribution.
        info: the data's metadata.
        noise: input corruption for a denoising AE: ``"none"``, ``"gaussian"`` (std
            ``noise_level``) or ``"mask"`` (each value zeroed with probability ``noise_level``).
        num_classes: > 0 conditions encoder and decoder on one-hot labels ``c`` (or on
            condition vectors ``c (B, num_classes)``), appended to the encoder's flattened
            input for networks that flatten it, as constant planes for conv networks.
        code_sampler: ``"gaussian"`` or ``"mog"``; code_components: mixture size.
        code_act: ``"sigmoid"`` squashes the codes into [0, 1] (GMMN+AE's codes).
        match: a :class:`~genzoo.models.latent_matching.LatentMatch` whose penalty between
            q(z) and its target is added to the loss (its critics train as extra players); with
            a prior, samples decode prior draws and no code sampler is fitted.
        posterior: ``"deterministic"`` (z = encoder(x)) or ``"gaussian"`` (the encoder
            outputs a mean and log-variance, training codes are draws z ~ N(μ, σ²) and
            :meth:`encode` returns μ: the random encoder of Tolstikhin et al. 2018).
        condition_encoder: with labels, give them to the encoder as well as the decoder
            (``False``: the decoder only, so the code is pushed to hold what the label does not:
            the supervised adversarial autoencoder's "style").
        phases: ``"joint"`` adds the matching penalty to the autoencoder's loss (WAE); with
            ``"separate"`` the encoder minimises it in its own update after the critics', as the
            adversarial autoencoder's regularisation phase (players ``autoencoder``, the
            critics, ``encoder``).
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
        num_classes: int = 0,
        code_sampler: str = "gaussian",
        code_components: int = 10,
        code_act: str = "none",
        *,
        match: LatentMatch | None = None,
        posterior: str = "deterministic",
        condition_encoder: bool = True,
        phases: str = "joint",
    ) -> None:
        super().__init__()
        if posterior not in ("deterministic", "gaussian"):
            raise GenzooError(f"posterior must be deterministic or gaussian, got {posterior!r}")
        if phases not in ("joint", "separate"):
            raise GenzooError(f"phases must be joint or separate, got {phases!r}")
        self.match, self.posterior_kind, self.phases = match, posterior, phases
        self.condition_encoder = condition_encoder
        if code_act not in ("none", "sigmoid"):
            raise GenzooError(f"code_act must be none or sigmoid, got {code_act!r}")
        if code_sampler not in ("gaussian", "mog"):
            raise GenzooError(f"code_sampler must be gaussian or mog, got {code_sampler!r}")
        if noise not in ("none", "gaussian", "mask"):
            raise GenzooError(f"noise must be none, gaussian or mask, got {noise!r}")
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.info, self.latent_dim = info, latent_dim
        self.noise, self.noise_level = noise, noise_level
        self.num_classes = num_classes
        self.conditional = num_classes > 0  # the picture callback then draws samples per class
        self.flat_condition = takes_flat(encoder)
        self.code_act = code_act
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_scale_tril", torch.eye(latent_dim))
        self.code_sampler = code_sampler
        if isinstance(decoder, Autoregressive):
            self.sample_temperature = 1.0  # softmax temperature when sampling tokens (HasTemperature)
        if code_sampler == "mog":
            self.register_buffer("code_means", torch.zeros(code_components, latent_dim))
            self.register_buffer("code_logvars", torch.zeros(code_components, latent_dim))
            self.register_buffer("code_logits", torch.zeros(code_components))

    # -- conditioning -----------------------------------------------------------------------
    def _onehot(self, c: Tensor | None, n: int, ref: Tensor) -> Tensor:
        if c is None:  # label unknown: the uniform soft label (1/K each), the same in encode and decode
            return torch.full((n, self.num_classes), 1.0 / self.num_classes, device=ref.device, dtype=ref.dtype)
        return one_hot(c, self.num_classes, ref)  # (B, K)

    def enc_input(self, x: Tensor, c: Tensor | None) -> Tensor:
        """x, with one-hot labels appended (flat for MLPs, as constant planes for conv nets)."""
        if not self.conditional or not self.condition_encoder:
            return x
        return append_condition(x, self._onehot(c, x.shape[0], x), self.flat_condition)  # (B, D + K) or (B, C + K, H, W)

    def dec_input(self, z: Tensor, c: Tensor | None) -> Tensor:
        return z if not self.conditional else append_condition(z, self._onehot(c, z.shape[0], z), True)  # (B, d + K)

    def _default_labels(self, n: int, c: Tensor | None) -> Tensor | None:
        if c is None and self.conditional:  # unconditional draw: labels uniform over classes
            c = torch.randint(0, self.num_classes, (n,), device=self.device)
        return c

    # -- networks -------------------------------------------------------------------------
    def corrupt(self, x: Tensor) -> Tensor:
        if not self.training or self.noise == "none" or self.noise_level <= 0:
            return x
        if self.noise == "gaussian":
            return x + self.noise_level * torch.randn_like(x)
        return x * (torch.rand_like(x) >= self.noise_level).to(x.dtype)

    def encoder_out(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The encoder's output; a sequence encoder also gets the mask of real tokens."""
        h = self.enc_input(x, c)
        return self.encoder(h) if mask is None else self.encoder(h, mask)

    def encode(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        z = self.encoder_out(x, c, mask)  # (B, latent_dim), or (B, 2 * latent_dim) for a Gaussian posterior
        if self.posterior_kind == "gaussian":
            z = z.chunk(2, dim=-1)[0]
        return torch.sigmoid(z) if self.code_act == "sigmoid" else z

    def code(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The code the objective uses: :meth:`encode`, or a draw z ~ N(μ, σ²) of a Gaussian posterior."""
        if self.posterior_kind == "deterministic":
            return self.encode(x, c, mask)
        mu, logvar = self.encoder_out(x, c, mask).chunk(2, dim=-1)
        return mu + torch.randn_like(mu) * (0.5 * logvar.clamp(-12.0, 6.0)).exp()  # (B, latent_dim)

    def decoder_params(self, z: Tensor, c: Tensor | None = None, x: Tensor | None = None) -> Tensor:
        """The decoder's output; an autoregressive decoder is teacher-forced on the target ``x``."""
        h = self.dec_input(z, c)
        if isinstance(self.decoder, Autoregressive):
            return self.decoder(h, x)  # (B, L-1, V) logits of x[:, 1:]
        return self.decoder(h)  # (B, P*D) or (B, P*C, H, W)

    def log_px(self, z: Tensor, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """log p(x | z) per example ``(B,)``; positions where ``mask`` is False (padding) do not count."""
        params = self.decoder_params(z, c, x)
        return self.likelihood.log_prob(params, x) if mask is None else self.likelihood.log_prob(params, x, mask=mask)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """The mean of p(x | z), shaped like the data; tokens sampled at ``sample_temperature`` for sequence decoders."""
        if isinstance(self.decoder, Autoregressive):
            return self.decoder.generate(self.dec_input(z, c), z.shape[0], self.info.shape[0], self.sample_temperature)
        return self.likelihood.mean(self.decoder_params(z, c)).reshape(z.shape[0], *self.info.shape)

    def reconstruct(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, c), c)

    # -- objective ------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, Tensor]:
        z = self.code(self.corrupt(batch.x), batch.c, batch.mask)
        rec = batch.mean(-self.log_px(z, batch.x, batch.c, batch.mask))
        return self.regularised({"loss": rec, "rec": rec}, z, batch)

    # -- latent matching --------------------------------------------------------------------
    def regularised(self, out: dict[str, Tensor], z: Tensor, batch: Batch) -> dict[str, Tensor]:
        """``out`` plus the matching penalty on the batch's codes ``z`` (joint phases), logged by name."""
        if self.match is None or self.phases == "separate":
            return out
        pen = self.match.penalty(z, batch.weight)
        return {**out, **{k: v for k, v in pen.items() if k != "loss"}, "loss": out["loss"] + pen["loss"]}

    def regularisation_loss(self, batch: Batch) -> dict[str, Tensor]:
        """The encoder's own update in the separate phases: the matching penalty alone."""
        assert self.match is not None
        return self.match.penalty(self.code(batch.x, batch.c, batch.mask), batch.weight)

    @torch.no_grad()
    def critic_codes(self, batch: Batch) -> Tensor:
        """Codes of a batch for the latent critics to learn from (no gradient to the encoder)."""
        return self.code(batch.x, batch.c, batch.mask)

    def autoencoder_params(self) -> list[nn.Parameter]:
        """Every trainable parameter but the matching critics'."""
        return [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("match.")]

    def players(self) -> list[Player]:
        if self.match is None:
            return super().players()
        players = [Player("autoencoder", self.autoencoder_params(), self.loss)]
        players += self.match.players(self.critic_codes)
        if self.phases == "separate":
            encoder = [p for p in self.encoder.parameters() if p.requires_grad]
            players.append(Player("encoder", encoder, self.regularisation_loss, optim=dict(self.match.generator_optim)))
        return players

    def target_prior(self) -> Prior | None:
        """The prior the codes are matched to (samples decode its draws), if any."""
        return None if self.match is None else self.match.prior

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def fit_code_sampler(self, x: Tensor, chunk: int = 2048, c: Tensor | None = None) -> None:
        """Fit N(mean, cov) to the codes of ``x``; :meth:`sample` then decodes draws from it."""
        was = self.training
        self.eval()
        codes = torch.cat([
            self.encode(x[i : i + chunk].to(self.device), None if c is None else c[i : i + chunk].to(self.device))
            for i in range(0, len(x), chunk)
        ])
        self.train(was)
        mean = codes.mean(0)
        cov = torch.cov(codes.T.double()).reshape(self.latent_dim, self.latent_dim)
        cov = cov + 1e-6 * cov.diagonal().mean().clamp_min(1e-8) * torch.eye(self.latent_dim, dtype=cov.dtype, device=cov.device)
        self.code_mean.copy_(mean)
        self.code_scale_tril.copy_(torch.linalg.cholesky(cov).to(self.code_scale_tril.dtype))
        if self.code_sampler == "mog":
            self._fit_code_mixture(codes)

    def _fit_code_mixture(self, codes: Tensor, iters: int = 100) -> None:
        """EM for a diagonal Gaussian mixture on ``codes (N, d)``, started from random codes."""
        K = self.code_means.shape[0]
        g = torch.Generator(device="cpu").manual_seed(0)
        means = codes[torch.randperm(len(codes), generator=g)[:K].to(codes.device)].clone()
        logvars = codes.var(0).clamp_min(1e-6).log().expand(K, -1).clone()
        logw = torch.full((K,), -math.log(K), device=codes.device, dtype=codes.dtype)
        floor = 1e-4 * codes.var(0).mean().clamp_min(1e-8)
        for _ in range(iters):
            resp = torch.softmax(log_normal_diag(codes[:, None], means, logvars) + logw, 1)  # (N, K) E-step
            nk = resp.sum(0) + 1e-8
            means = resp.T @ codes / nk[:, None]
            var = resp.T @ codes.pow(2) / nk[:, None] - means.pow(2)
            logvars, logw = (var.clamp_min(0) + floor).log(), (nk / nk.sum()).log()
        self.code_means.copy_(means)
        self.code_logvars.copy_(logvars)
        self.code_logits.copy_(logw)

    def on_fit_end(self, data: Data) -> None:
        if self.target_prior() is None:  # matched codes are sampled from their prior
            self.fit_code_sampler(data.x_train, c=data.y_train if self.conditional else None)

    def sample_latent(self, n: int, c: Tensor | None = None) -> Tensor:
        prior = self.target_prior()
        if prior is not None:
            return prior.sample(n)
        eps = torch.randn(n, self.latent_dim, device=self.code_mean.device, dtype=self.code_mean.dtype)
        if self.code_sampler == "mog":
            k = torch.multinomial(self.code_logits.exp(), n, replacement=True)
            return self.code_means[k] + eps * (0.5 * self.code_logvars[k]).exp()
        return self.code_mean + eps @ self.code_scale_tril.T

    default_sampler = "codes"

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None, sampler: object = None) -> Tensor:
        """Decode codes from the post-hoc code distribution (VAEs: the prior); the ``codes`` sampler."""
        return self.sampler(sampler)(self, n, self._default_labels(n, c))


class VAE(AE):
    r"""Variational autoencoder: maximise E_q[log p(x|z)] − β KL(q(z|x) || p(z)).

    The encoder outputs ``2 * latent_dim`` values: the posterior mean and log-variance. The
    KL is closed form when the prior provides ``kl_from_normal`` (standard normal), and a
    single-sample Monte Carlo estimate log q(z|x) − log p(z) otherwise (learned priors).
    The posterior family is three methods (:meth:`posterior`, :meth:`rsample`,
    :meth:`log_q`) that a variant may override; the bounds below only use those.

    With ``iw_k > 1`` the training objective is the importance-weighted bound

    .. math::
        \mathcal L_k = \mathbb E_{z_{1..k} \sim q}\Big[\log \frac1k \sum_i
        \frac{p(x, z_i)}{q(z_i|x)}\Big] \le \log p(x),

    which equals the ELBO at k = 1 and rises with k (Burda et al. 2016, Thm. 1).

    Args:
        prior: p(z); defaults to N(0, I).
        beta: weight of the KL term (β-VAE when != 1).
        capacity: C_max > 0 switches to the loss rec + γ |KL − C| with C rising linearly from
            0 to C_max over ``capacity_steps`` updates (Burgess et al. 2018); the update count
            is the buffer ``num_steps`` so it survives save/resume.
        capacity_steps: updates over which C reaches C_max.
        gamma: γ of the capacity loss.
        iw_k: importance samples of the training bound (1: the ELBO; > 1: IWAE).
        kl_warmup: updates over which the KL weight rises linearly from 0 to ``beta``
            (deterministic warm-up, Sønderby et al. 2016; Tomczak & Welling 2018 use it for the
            VampPrior). For IWAE the weight multiplies log p(z) − log q(z|x) inside each
            importance weight. 0 (default) switches it off.
        tc_weights: ``(α, β, γ)`` replaces the KL term by α·MI + β·TC + γ·dimension-wise KL of
            the aggregate posterior, estimated by minibatch weighted sampling
            (:func:`~genzoo.divergences.aggregate_posterior_terms`): β-TCVAE is (1, β, 1)
            (Chen et al. 2018). ``None`` (default): off.
        dataset_size: N of the estimator above (0: the batch mixture estimates q(z); N shifts
            the logged terms by constants, not the gradients).
        match: a latent match on the sampled codes (FactorVAE's permuted-code critic:
            :func:`~genzoo.models.vae_variants.factor_vae`).
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
        num_classes: int = 0,
        capacity: float = 0.0,
        capacity_steps: int = 10000,
        gamma: float = 1000.0,
        iw_k: int = 1,
        kl_warmup: int = 0,
        *,
        tc_weights: tuple[float, float, float] | None = None,
        dataset_size: int = 0,
        match: LatentMatch | None = None,
    ) -> None:
        super().__init__(encoder, decoder, likelihood, info, latent_dim, noise, noise_level, num_classes, match=match)
        self.prior = prior if prior is not None else StandardNormal(latent_dim)
        if self.prior.uses_posterior:  # VampPrior: its components are this encoder's posteriors
            if self.conditional:
                raise GenzooError("the vamp prior needs an unconditional encoder; use prior=normal, mog or flow with labels")
            self.prior.bind(self.posterior)
        if iw_k < 1:
            raise GenzooError(f"the number of importance samples must be at least 1, got k={iw_k}")
        if kl_warmup < 0:
            raise GenzooError(f"kl_warmup counts updates and must be >= 0, got {kl_warmup}")
        if (tc_weights is not None or match is not None) and iw_k > 1:
            raise GenzooError("tc_weights and latent matching act on one code per example; use iw_k=1 with them")
        if tc_weights is not None and (len(tc_weights) != 3 or min(tc_weights) < 0):
            raise GenzooError(f"tc_weights are three non-negative weights (α, β, γ), got {tc_weights}")
        if dataset_size < 0:
            raise GenzooError(f"dataset_size must be >= 0 (0: the batch), got {dataset_size}")
        self.tc_weights = None if tc_weights is None else tuple(float(w) for w in tc_weights)
        self.dataset_size = dataset_size
        self.beta, self.capacity, self.capacity_steps, self.gamma, self.iw_k = beta, capacity, capacity_steps, gamma, iw_k
        self.kl_warmup = kl_warmup
        self.counts_updates = capacity > 0 or kl_warmup > 0  # schedules (capacity, warm-up, temperature) read num_steps
        if self.counts_updates:
            self.register_buffer("num_steps", torch.zeros((), dtype=torch.long))

    # -- the posterior family (Gaussian) ------------------------------------------------------
    def posterior(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, ...]:
        """Mean and log-variance of q(z|x), each ``(B, latent_dim)``."""
        mu, logvar = self.encoder_out(x, c, mask).chunk(2, dim=-1)
        return mu, logvar

    def rsample(self, post: tuple[Tensor, ...], k: int | None = None) -> Tensor:
        """Reparameterised z ~ q: ``(B, d)``, or ``(k, B, d)`` when ``k`` is given."""
        mu, logvar = post
        eps = torch.randn(mu.shape if k is None else (k, *mu.shape), device=mu.device, dtype=mu.dtype)
        return mu + eps * (0.5 * logvar).exp()

    def log_q(self, z: Tensor, post: tuple[Tensor, ...]) -> Tensor:
        """log q(z|x), broadcasting ``z (..., d)`` against the posterior parameters."""
        return log_normal_diag(z, *post)

    def encode(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.posterior(x, c, mask)[0]

    def code(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.rsample(self.posterior(x, c, mask))

    def prior_log_prob(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """log p(z), or log p(z | c) for a class-conditional prior."""
        return self.prior.log_prob(z, c) if self.prior.conditional else self.prior.log_prob(z)

    def kl(self, post: tuple[Tensor, ...], z: Tensor, c: Tensor | None = None) -> Tensor:
        """KL(q(z|x) || p(z)) per example: closed form when the prior has it, else 1-sample MC."""
        closed = self.prior.kl_from_normal(*post, z, c if self.prior.conditional else None)
        return closed if closed is not None else self.log_q(z, post) - self.prior_log_prob(z, c)

    # -- objective ------------------------------------------------------------------------
    def _elbo_parts(self, x: Tensor, c: Tensor | None, mask: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, ...], Tensor]:
        """``(log p(x|z) (B,), posterior, z (B, d))`` with one reparameterised z ~ q(z|x)."""
        post = self.posterior(self.corrupt(x), c, mask)
        z = self.rsample(post)
        return self.log_px(z, x, c, mask), post, z

    def elbo_terms(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(log p(x|z), KL)`` per example with one reparameterised sample z ~ q(z|x)."""
        log_px, post, z = self._elbo_parts(x, c, mask)
        return log_px, self.kl(post, z, c)

    def _ramp(self, updates: int) -> Tensor:
        """Linear schedule 0 -> 1 over ``updates`` updates, then 1 (capacity and KL warm-up)."""
        return (self.num_steps.float() / max(1, updates)).clamp(max=1.0)

    def capacity_now(self) -> float:
        """C of the capacity-annealed β-VAE at the current update count."""
        return float(self.capacity * self._ramp(self.capacity_steps))

    def kl_weight(self) -> Tensor | float:
        """The KL weight now: ``beta``, ramped up from 0 over ``kl_warmup`` updates."""
        return self.beta * self._ramp(self.kl_warmup) if self.kl_warmup > 0 else self.beta

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        if self.iw_k > 1:
            if self.kl_warmup > 0:
                log_px, log_pz_q = self.log_weights(batch.x, self.iw_k, batch.c, split=True)
                lw = log_px + self.kl_weight() * log_pz_q
            else:
                lw = self.log_weights(batch.x, self.iw_k, batch.c)
            bound = batch.mean(log_mean_exp(lw, 0))
            return {"loss": -bound, "iwae_bound": bound}
        log_px, post, z = self._elbo_parts(batch.x, batch.c, batch.mask)
        rec, kl = batch.mean(-log_px), batch.mean(self.kl(post, z, batch.c))
        out = {"rec": rec, "kl": kl, "elbo": -(rec + kl)}
        if self.tc_weights is not None:
            terms = aggregate_posterior_terms(z, *post, self.prior_log_prob(z, batch.c), self.dataset_size)
            mi, tc, dim_kl = (batch.mean(terms[k]) for k in ("mi", "tc", "dim_kl"))
            a, b, g = self.tc_weights
            out.update(loss=rec + a * mi + b * tc + g * dim_kl, mi=mi, tc=tc, dim_kl=dim_kl)
        elif self.capacity > 0:
            cap = self.capacity * self._ramp(self.capacity_steps).to(kl.dtype)
            out.update(loss=rec + self.gamma * (kl - cap).abs(), capacity=cap)
        else:
            out["loss"] = rec + self.kl_weight() * kl
        return self.regularised(out, z, batch)

    def _tick(self) -> None:
        self.num_steps += 1

    def players(self) -> list[Player]:
        players = super().players()
        if self.counts_updates:  # schedules (capacity, temperature) count updates
            players[0].after_step = self._tick
        return players

    def sample_latent(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.prior.sample(n, c) if self.prior.conditional else self.prior.sample(n)

    def target_prior(self) -> Prior | None:
        return self.prior

    def on_fit_end(self, data: Data) -> None:
        pass  # samples come from the prior, nothing to fit

    # -- evaluation -----------------------------------------------------------------------
    def log_weights(self, x: Tensor, k: int, c: Tensor | None = None, split: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Importance log-weights log p(x,z_i) − log q(z_i|x), z_i ~ q(z|x): ``(k, B)``.

        Differentiable (the IWAE loss); :meth:`nll_bound` calls it under ``no_grad``. With
        ``split`` it returns the two parts ``(log p(x|z_i), log p(z_i) − log q(z_i|x))``.
        """
        post = self.posterior(x, c)
        return self._log_weights(post, _repeat(x, k), None if c is None else _repeat(c, k), k, split)

    def _log_weights(self, post: tuple[Tensor, ...], xk: Tensor, ck: Tensor | None, k: int,
                     split: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Log-weights of ``k`` fresh samples of the posterior ``post`` against ``xk``, the data
        repeated ``k`` times ``(k * B, ...)`` (and ``ck``, the conditions): ``(k, B)``."""
        z = self.rsample(post, k)  # (k, B, d)
        B = z.shape[1]
        zf = z.reshape(k * B, -1)
        log_px = self.log_px(zf, xk, ck).view(k, B)
        log_pz_q = self.prior_log_prob(zf, ck).view(k, B) - self.log_q(z, post)
        return (log_px, log_pz_q) if split else log_px + log_pz_q  # (k, B)

    @torch.no_grad()
    def nll_bound(self, x: Tensor, k: int = 1000, c: Tensor | None = None, max_rows: int | None = None) -> Tensor:
        """Importance-sampled estimate of -log p(x) in nats, ``(B,)`` (Burda et al. 2016, eq. 8).

        -log (1/k) Σ_i p(x, z_i) / q(z_i|x). The posterior is computed once; the k samples go
        through the decoder in chunks of at most ``max_rows`` rows (default: as many rows as
        :data:`NLL_CHUNK_BYTES` of data hold, 2674 for MNIST), so every chunk's temporaries
        have one bounded size and the allocator reuses them instead of mapping fresh pages;
        the data repeated for a chunk is built once and reused by every chunk.
        """
        was = self.training
        self.eval()
        B = x.shape[0]
        rows = max_rows or max(1, NLL_CHUNK_BYTES // (4 * x[0].numel()))  # float32 values per example
        chunk = max(1, min(k, rows // max(1, B)))
        post = self.posterior(x, c)
        xk = _repeat(x, chunk)  # (chunk * B, ...), reused by every chunk
        ck = None if c is None else _repeat(c, chunk)
        total: Tensor | None = None  # running log Σ_i w_i, (B,)
        for i in range(0, k, chunk):
            m = min(chunk, k - i)  # the last chunk may be smaller: a prefix of the repeats
            part = torch.logsumexp(self._log_weights(post, xk[: m * B], None if ck is None else ck[: m * B], m), 0)
            total = part if total is None else torch.logaddexp(total, part)
        self.train(was)
        return -(total - math.log(k))  # type: ignore[operator]

    @torch.no_grad()
    def elbo_surgery(self, x: Tensor, c: Tensor | None = None) -> dict[str, float]:
        r"""Split the mean KL into mutual information and marginal KL (Hoffman & Johnson 2016).

        .. math::
            \frac1N \sum_n KL(q(z|x_n) \| p(z)) = I_q[x, z] + KL(q(z) \| p(z)),
            \qquad q(z) = \frac1N \sum_n q(z|x_n)

        estimated on the batch ``x`` (N = B): one z_n ~ q(z|x_n) per example, and
        log q(z_n) = logsumexp_m log q(z_n|x_m) − log B. The batch estimate of I_q is at most
        log B, so use large batches (a few thousand) for a faithful split.

        Returns:
            ``kl`` (mean KL as the loss computes it), ``mutual_info``, ``marginal_kl``.
        """
        was = self.training
        self.eval()
        post = self.posterior(x, c)
        z = self.rsample(post)  # (B, d)
        B = z.shape[0]
        cross = self.log_q(z.unsqueeze(1), tuple(p.unsqueeze(0) for p in post))  # (B, B): log q(z_n | x_m)
        log_q_own = cross.diagonal()
        log_q_agg = torch.logsumexp(cross, 1) - math.log(B)
        out = {
            "kl": float(self.kl(post, z, c).mean()),
            "mutual_info": float((log_q_own - log_q_agg).mean()),
            "marginal_kl": float((log_q_agg - self.prior_log_prob(z, c)).mean()),
        }
        self.train(was)
        return out


# -- factories: the registry's configurable entry points ---------------------------------------
#
# Networks, the likelihood and the prior are nested components (genzoo.config): each factory
# names its roles and their defaults; ``build_vae`` / ``build_ae`` turn the resolved specs into
# modules with the sizes only the model knows.

ENCODER = net(conv={"width": 32}, help="q(z|x) / code network: data -> code (auto: conv for images, mlp otherwise)")
DECODER = net(follow="encoder", mirror=True, conv={"width": 32},
              help="p(x|z) network: code -> likelihood parameters; without a type it mirrors the encoder")
LIKELIHOOD = likelihood()
PRIOR = prior()


def build_nets(info: DataInfo, encoder: Spec, decoder: Spec, lik: Likelihood, code_out: int, dec_in: int,
               num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """Encoder ``data (+ labels) -> code_out`` and decoder ``dec_in -> n_params x data`` from their specs.

    The decoder's output holds the likelihood's ``n_params`` groups along dim 1:
    ``(B, P*C, H, W)`` for images, ``(B, P*D)`` for vectors.
    """
    shape = tuple(info.shape)
    enc = encoder.build(in_shape=condition_shape(shape, num_classes, encoder.meta.get("flat", False)), out_shape=(code_out,))
    dec = decoder.build(in_shape=(dec_in,), out_shape=(lik.n_params * shape[0], *shape[1:]))
    return enc, dec


def build_vae(info: DataInfo, *, latent_dim: int, encoder: Spec, decoder: Spec, likelihood: Spec, prior: Spec,
              num_classes: int = 0, **kwargs: Any) -> VAE:
    """One place that turns factory options into networks, a likelihood, a prior and a :class:`VAE`."""
    lik = likelihood.build(info=info)
    enc, dec = build_nets(info, encoder, decoder, lik, 2 * latent_dim, latent_dim + num_classes, num_classes)
    p = prior.build(dim=latent_dim, data_shape=tuple(info.shape), num_classes=info.num_classes)
    return VAE(enc, dec, lik, info, latent_dim, prior=p, num_classes=num_classes, **kwargs)


# tiny_fit: one Gaussian fitted to the codes of four separated clusters puts most of its mass between
# them, which decodes between the modes; the mixture code sampler is the setting for clustered data.
@MODELS.register("ae", help="autoencoder (denoising with noise=gaussian|mask); samples via a Gaussian (or code_sampler=mog) fitted to its codes", tiny_fit={"model": {"code_sampler": "mog"}})
def ae(
    info: DataInfo,
    latent_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    noise: Literal["none", "gaussian", "mask"] = "none",
    noise_level: Annotated[float, Range(0, 1e6)] = 0.0,
    code_sampler: Literal["gaussian", "mog"] = "gaussian",
    code_components: Annotated[int, Range(1, 10_000)] = 10,
    code_act: Literal["none", "sigmoid"] = "none",
) -> AE:
    """Args:
        latent_dim: size of the code.
        noise, noise_level: input corruption (``gaussian``: std; ``mask``: drop probability).
        code_sampler, code_components: the distribution fitted to the codes after training.
        code_act: ``sigmoid`` squashes the codes into [0, 1].
    """
    lik = likelihood.build(info=info)
    enc, dec = build_nets(info, encoder, decoder, lik, latent_dim, latent_dim)
    return AE(enc, dec, lik, info, latent_dim, noise, noise_level, code_sampler=code_sampler, code_components=code_components,
              code_act=code_act)


@MODELS.register("dae", help="denoising autoencoder (Vincent et al. 2008): reconstruct x from a masked or noisy copy", tiny_fit={"model": {"code_sampler": "mog"}})
def dae(
    info: DataInfo,
    latent_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    noise: Literal["gaussian", "mask"] = "mask",
    noise_level: Annotated[float, Range(0, 1e6)] = 0.25,
    code_sampler: Literal["gaussian", "mog"] = "gaussian",
    code_components: Annotated[int, Range(1, 10_000)] = 10,
    code_act: Literal["none", "sigmoid"] = "none",
) -> AE:
    """Args:
        latent_dim: size of the code.
        noise, noise_level: input corruption (``gaussian``: std; ``mask``: drop probability).
        code_sampler, code_components: the distribution fitted to the codes after training.
        code_act: ``sigmoid`` squashes the codes into [0, 1].
    """
    return ae(info, latent_dim, encoder, decoder, likelihood, noise, noise_level, code_sampler, code_components, code_act)


# tiny_fit: N(0, I) prior draws cannot land on four 0.1-wide 2-D modes after 300 steps (the
# decoder must cross the gaps somewhere); a learned mixture prior is the natural setting for that data.
@MODELS.register("vae", help="variational autoencoder (Kingma & Welling 2014); prior=mog|vamp|flow, encoder.type=conv, beta != 1: β-VAE",
                 tiny_fit={"model": {"prior": "mog"}})
def vae(
    info: DataInfo,
    latent_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    prior: Spec = PRIOR,
    beta: Weight = 1.0,
    kl_warmup: NonNegInt = 0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        beta: weight of the KL term.
        kl_warmup: updates over which the KL weight rises from 0 to beta (0: off).
    """
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood, prior=prior,
                     beta=beta, kl_warmup=kl_warmup)
