r"""Latent-matching autoencoders: push the aggregate code distribution q(z) onto a target.

A VAE pulls every posterior q(z|x) towards the prior (a per-example KL). The models here
match the *aggregate* code distribution q(z) = E_x q(z|x) to a target instead, with a
divergence estimated from samples, so the target need only be sampled, the encoder may be
deterministic, and the target may even be built from the codes themselves. A match is an
argument of the autoencoders of :mod:`genzoo.models.autoencoders` (``AE(match=...)``,
``VAE(match=...)``):

* :class:`MMDMatch`: λ times the kernel MMD² between a batch of codes and as many prior
  draws (WAE-MMD), from :func:`genzoo.divergences.mmd2`;
* :class:`AdversarialMatch`: a latent critic that trains as its own player under a loss of
  :data:`genzoo.models.gan.LOSSES`, prior draws "real", codes "fake" (AAE, WAE-GAN); with
  ``target="permuted"`` it tells codes from codes whose dimensions were shuffled across the
  batch, and the density-ratio loss makes the encoder's term an estimate of their total
  correlation (FactorVAE, :func:`~genzoo.models.vae_variants.factor_vae`);
* :class:`SplitMatch`: one match per part of the code (the categorical and style codes of the
  semi-supervised adversarial autoencoder, :mod:`genzoo.models.split_code`).

=========  ===========================================  ===========================================
model      objective of the autoencoder                 players
=========  ===========================================  ===========================================
aae        rec, then λ·adv(D(z)) in its own update       autoencoder, latent_critic, encoder
wae_mmd    rec + λ·MMD²(q(z), p(z))                      autoencoder
wae_gan    rec + λ·adv(D(z))                             autoencoder, latent_critic
=========  ===========================================  ===========================================

The networks, the likelihood (the reconstruction cost) and the prior are nested components:
``--set model.prior=ring --set model.prior.n_components=4``, ``--set model.encoder.type=mlp``,
``--set model.critic.hidden=512,512``; any registered network that maps the shapes fits
(a sequence encoder and decoder make a SMILES adversarial autoencoder).

References:
    Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders", ICLR 2016 workshop.
    Tolstikhin, Bousquet, Gelly & Schölkopf, "Wasserstein Auto-Encoders", ICLR 2018.
    Kim & Mnih, "Disentangling by Factorising", ICML 2018.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import torch
from torch import Tensor, nn

from ..config import Component, PosFloat, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..distributions import LIKELIHOODS, Prior, StandardNormal, auto_likelihood, can_sample, prior
from ..divergences import mmd2
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import AE, DECODER, ENCODER, LIKELIHOOD, build_nets
from .base import Player
from .gan import AdversarialLoss, adversarial_loss

Codes = Callable[[Batch], Tensor]

# -- matches ------------------------------------------------------------------------------------


class LatentMatch(nn.Module):
    """A divergence between the codes' distribution q(z) and a target, for an autoencoder's loss.

    Attributes:
        prior: the target distribution when there is one (samples of the model decode its
            draws); ``None`` when the target is built from the codes (FactorVAE).
        generator_optim: optimizer settings of the encoder's own update (``phases="separate"``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.prior: Prior | None = None
        self.generator_optim: dict[str, Any] = {}

    def penalty(self, z: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
        """``{"loss": the weighted term for the encoder, further scalars to log}``.

        Args:
            z: a batch of codes ``(B, d)``.
            weight: the batch's per-example weights ``(B,)`` (``None``: equal), which make the
                codes a weighted sample of q(z).
        """
        raise NotImplementedError

    def players(self, codes: Codes, name: str = "latent_critic") -> list[Player]:
        """Extra players (critics); ``codes(batch)`` gives a batch's codes without gradient."""
        return []


def check_prior(p: Prior | None, who: str) -> Prior:
    """``p`` if matching can draw from it, else one sentence saying why not."""
    if p is None or not can_sample(p):
        what = "no prior" if p is None else f"the prior {type(p).__name__}, which has no sampler"
        raise GenzooError(f"{who} draws from its prior but was given {what}; use one that samples (normal, ring, swiss_roll)")
    if p.uses_posterior:
        raise GenzooError(f"{who} cannot use the {type(p).__name__}, which is built from a VAE's posterior; "
                          "use normal, ring or swiss_roll")
    return p


def _weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    return values.mean() if weight is None else (weight.to(values.dtype) * values).sum() / weight.to(values.dtype).sum()


def wae_bandwidths(dim: int, scales: tuple[float, ...], kernel: str, prior_var: float = 1.0) -> tuple[float, ...]:
    r"""Kernel widths of the WAE recipe: C = 2 d_z σ² times each scale (Tolstikhin et al. 2018, §4).

    For ``wae_imq`` (C / (C + d²)) the width passed to :func:`~genzoo.divergences.kernel_mixture`
    is √C; for ``gaussian`` it is √(C/2), so that the kernel is exp(−d²/C).
    """
    if not scales or min(scales) <= 0:
        raise GenzooError(f"kernel scales must be positive numbers, got {tuple(scales)}; e.g. model.scales=0.1,0.2,0.5,1,2,5,10")
    if kernel not in ("wae_imq", "gaussian"):
        raise GenzooError(f"the MMD kernel must be wae_imq or gaussian, got {kernel!r}")
    base = 2.0 * dim * prior_var
    return tuple(math.sqrt(base * s / (2.0 if kernel == "gaussian" else 1.0)) for s in scales)


def prior_variance(p: Prior, n: int = 10_000) -> float:
    """The mean per-dimension variance of ``p`` (1 for N(0, I), else from draws; the global RNG is left as it was)."""
    if isinstance(p, StandardNormal):
        return 1.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return float(p.sample(n).var(0).mean())


class MMDMatch(LatentMatch):
    r"""λ·MMD²_u between the codes and as many prior draws (the WAE-MMD penalty).

    .. math::
        \lambda\Big[\tfrac{1}{n(n-1)}\sum_{i\ne j} k(z_i, z_j) + k(\tilde z_i, \tilde z_j)\Big]
        - \tfrac{2\lambda}{n^2}\sum_{i,j} k(z_i, \tilde z_j),\quad \tilde z \sim p(z),

    with k a sum of kernels over ``bandwidths`` (:func:`wae_bandwidths` gives the paper's).

    Args:
        prior: p(z), which must sample.
        bandwidths: positive kernel widths.
        weight: λ (10 for MNIST in Tolstikhin et al.).
        kernel: ``wae_imq`` (C/(C + d²)) or ``gaussian``.
    """

    def __init__(self, prior: Prior, bandwidths: tuple[float, ...], weight: float = 10.0, kernel: str = "wae_imq") -> None:
        super().__init__()
        self.prior = check_prior(prior, "MMD matching")
        if not bandwidths or min(bandwidths) <= 0:
            raise GenzooError(f"kernel widths must be positive, got {tuple(bandwidths)}")
        if weight < 0:
            raise GenzooError(f"the matching weight must be >= 0, got {weight}")
        self.bandwidths, self.weight, self.kernel = tuple(float(b) for b in bandwidths), float(weight), kernel

    def penalty(self, z: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
        target = self.prior.sample(z.shape[0]).to(device=z.device, dtype=z.dtype)  # (B, d)
        m2 = mmd2(target, z, self.bandwidths, unbiased=True, kernel=self.kernel, y_weight=weight)
        return {"loss": self.weight * m2, "mmd2": m2.detach()}


def permute_dims(z: Tensor) -> Tensor:
    """Each column of ``z (B, d)`` shuffled independently: draws from the product of its marginals."""
    idx = torch.argsort(torch.rand(z.shape, device=z.device), dim=0)  # (B, d) independent permutations
    return z.gather(0, idx)


class AdversarialMatch(LatentMatch):
    r"""A latent critic D that tells target draws ("real") from codes ("fake"), trained as a player.

    The critic minimises the critic side of ``loss`` (a row of :data:`~genzoo.models.gan.LOSSES`),
    the encoder λ times its generator side. With the logistic loss the critic's optimum is
    D*(z) = log p_target(z) − log q(z) (Goodfellow et al. 2014, Prop. 1), so the encoder is
    pushed where the target has more mass than the codes.

    Args:
        critic: ``(B, d) -> (B, 1)`` raw scores.
        prior: the target for ``target="prior"``; must sample.
        loss: a loss name of :data:`~genzoo.models.gan.LOSSES` or an :class:`AdversarialLoss`.
        weight: λ of the encoder's term.
        target: ``"prior"`` (AAE, WAE-GAN) or ``"permuted"``: the critic's batch is split in
            two, the first half's codes are "fake" and the second half's, each dimension
            shuffled across the half, are "real" draws of Π_j q(z_j) (FactorVAE, Algorithm 2).
        n_critic: critic updates per round.
        critic_optim, generator_optim: optimizer settings of the critic and of the encoder's
            own update.
    """

    def __init__(self, critic: nn.Module, prior: Prior | None = None, loss: str | AdversarialLoss = "non_saturating",
                 weight: float = 1.0, target: str = "prior", n_critic: int = 1,
                 critic_optim: dict[str, Any] | None = None, generator_optim: dict[str, Any] | None = None) -> None:
        super().__init__()
        if target not in ("prior", "permuted"):
            raise GenzooError(f"the critic's target must be prior or permuted, got {target!r}")
        if n_critic < 1:
            raise GenzooError(f"n_critic must be at least 1, got {n_critic}")
        if weight < 0:
            raise GenzooError(f"the matching weight must be >= 0, got {weight}")
        self.prior = check_prior(prior, "an adversarial autoencoder") if target == "prior" else None
        self.critic, self.target, self.weight, self.n_critic = critic, target, float(weight), n_critic
        self.adv = adversarial_loss(loss) if isinstance(loss, str) else loss
        self.critic_optim = dict(critic_optim or {})
        self.generator_optim = dict(generator_optim or {})

    def score(self, z: Tensor) -> Tensor:
        return self.critic(z).reshape(z.shape[0])  # (B,)

    def penalty(self, z: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
        g = _weighted_mean(self.adv.generator(self.score(z)), weight)
        return {"loss": self.weight * g, "adversarial": g.detach()}

    def critic_loss(self, z: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
        """The critic's loss on target draws against the codes ``z (B, d)`` (weighted as their batch)."""
        z = z.detach()
        if self.target == "prior":
            assert self.prior is not None
            real, fake = self.prior.sample(z.shape[0]).to(device=z.device, dtype=z.dtype), z
        else:
            h = z.shape[0] // 2
            real, fake, weight = permute_dims(z[h:]), z[:h], None if weight is None else weight[:h]
        r, f = self.score(real), self.score(fake)
        loss = self.adv.real(r).mean() + _weighted_mean(self.adv.fake(f), weight)
        out = {"loss": loss}
        if self.adv.stats is not None:
            out.update(self.adv.stats(r.detach(), f.detach(), loss.detach()))
        return out

    def players(self, codes: Codes, name: str = "latent_critic") -> list[Player]:
        params = [p for p in self.critic.parameters() if p.requires_grad]
        return [Player(name, params, lambda batch: self.critic_loss(codes(batch), batch.weight), self.n_critic, None,
                       dict(self.critic_optim))]


class ProductPrior(Prior):
    """Independent priors over consecutive parts of the code, concatenated."""

    def __init__(self, parts: list[Prior]) -> None:
        super().__init__(sum(p.dim for p in parts))
        self.parts = nn.ModuleList(parts)

    def log_prob(self, z: Tensor) -> Tensor:
        return sum(p.log_prob(zi) for p, zi in zip(self.parts, z.split([p.dim for p in self.parts], -1)))  # type: ignore[return-value]

    def sample(self, n: int) -> Tensor:
        return torch.cat([p.sample(n) for p in self.parts], 1)


class SplitMatch(LatentMatch):
    """A separate match for each consecutive part of the code, e.g. ``{"y": (10, ...), "z": (8, ...)}``.

    The penalties add up (logged as ``KEY_PART``); the players are the parts' critics, named
    ``latent_critic_PART``; the prior is the product of the parts' priors.
    """

    def __init__(self, parts: dict[str, tuple[int, LatentMatch]]) -> None:
        super().__init__()
        self.sizes = [size for size, _ in parts.values()]
        self.parts = nn.ModuleDict({name: m for name, (_, m) in parts.items()})
        priors = [m.prior for m in self.parts.values()]
        self.generator_optim = next((m.generator_optim for m in self.parts.values() if m.generator_optim), {})
        if all(p is not None for p in priors):
            self.prior = ProductPrior(priors)  # type: ignore[arg-type]

    def split(self, z: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.parts, z.split(self.sizes, dim=1)))

    def penalty(self, z: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        total = z.new_zeros(())
        for name, zi in self.split(z).items():
            pen = self.parts[name].penalty(zi, weight)
            total = total + pen["loss"]
            out.update({f"{k}_{name}": v for k, v in pen.items() if k != "loss"})
        return {"loss": total, **out}

    def players(self, codes: Codes, name: str = "latent_critic") -> list[Player]:
        out: list[Player] = []
        for part, m in self.parts.items():
            out += m.players(lambda batch, part=part: self.split(codes(batch))[part], f"{name}_{part}")
        return out


# -- factories -----------------------------------------------------------------------------------

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # Tolstikhin et al. 2018, §4 (multiples of C = 2 d_z σ²)
ADAM_CRITIC = {"name": "adam", "lr": 5e-4, "betas": (0.5, 0.999)}  # Tolstikhin et al. 2018, App. C
TARGET = prior("normal", help="the target of q(z): any prior that samples (normal, ring of Gaussians, swiss_roll, ...)")
CRITIC = net("mlp", mlp={"hidden": (256, 256), "act": "leaky_relu"}, help="the latent critic D: code -> score")
# the WAE's cost has no learned scale (a learned Gaussian σ would shrink, and λ's weight with it)
COST = Component(LIKELIHOODS, auto_likelihood, {"gaussian": {"variance": "fixed", "sigma": 0.1}},
                 help="the reconstruction cost as a likelihood: auto, bernoulli, gaussian (fixed sigma: ‖x − x̂‖²/2σ²)")


def check_latent(size: int, what: str = "latent_dim") -> None:
    if size < 1:
        raise GenzooError(f"{what} must be at least 1, got {size}")


def build_target(spec: Spec, dim: int, info: DataInfo, who: str) -> Prior:
    """The prior of ``spec`` over ``dim`` code dimensions, checked to be one matching can draw from."""
    return check_prior(spec.build(dim=dim, data_shape=tuple(info.shape), num_classes=info.num_classes), who)


def mmd_match(target: Prior, dim: int, weight: float, kernel: str, scales: tuple[float, ...]) -> MMDMatch:
    """The WAE-MMD penalty with the paper's kernel widths, scaled to the prior's variance."""
    return MMDMatch(target, wae_bandwidths(dim, scales, kernel, prior_variance(target)), weight, kernel)


@MODELS.register("aae", help="adversarial autoencoder (Makhzani et al. 2016): a latent critic matches q(z) to any samplable prior "
                 "(normal, ring of Gaussians, swiss roll); supervised=true gives the label to the decoder only",
                 tiny_fit={"model": {"latent_dim": 2, "prior": {"type": "ring", "n_components": 4},
                                     "encoder": {"type": "mlp", "hidden": (64, 64)}, "critic": {"hidden": (64, 64)}}, "steps": 500})
def aae(
    info: DataInfo,
    latent_dim: Size = 8,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    prior: Spec = TARGET,
    critic: Spec = CRITIC,
    supervised: bool = False,
    loss: Literal["non_saturating", "minimax", "least_squares", "wasserstein", "hinge"] = "non_saturating",
    weight: Weight = 1.0,
    phases: Literal["separate", "joint"] = "separate",
) -> AE:
    """Args:
        latent_dim: size of the code.
        prior: the target of q(z) (``normal``; ``ring``: Gaussians on a circle; ``swiss_roll``).
        supervised: the decoder also reads the one-hot label, the encoder does not, so the
            code holds the style (Makhzani et al. §4, Fig. 7).
        loss: the critic's loss, a row of the GAN loss table.
        weight: λ of the encoder's adversarial term.
        phases: ``separate``: the paper's reconstruction and regularisation phases (the
            encoder fools the critic in its own update); ``joint``: one loss, as WAE-GAN.
    """
    check_latent(latent_dim)
    if supervised and info.num_classes < 1:
        raise GenzooError(f"supervised=true gives labels to the decoder, but {info.name} has no labels; use supervised=false")
    k = info.num_classes if supervised else 0
    lik = likelihood.build(info=info)
    enc, dec = build_nets(info, encoder, decoder, lik, latent_dim, latent_dim + k)
    target = build_target(prior, latent_dim, info, "an adversarial autoencoder")
    match = AdversarialMatch(critic.build(in_shape=(latent_dim,), out_shape=(1,)), target, loss, weight,
                             critic_optim=dict(ADAM_CRITIC), generator_optim=dict(ADAM_CRITIC))
    return AE(enc, dec, lik, info, latent_dim, num_classes=k, match=match, condition_encoder=False, phases=phases)


def _wae_encoder(info: DataInfo, encoder: Spec, decoder: Spec, likelihood: Spec, latent_dim: int, posterior: str) -> tuple[Any, ...]:
    check_latent(latent_dim)
    lik = likelihood.build(info=info)
    enc, dec = build_nets(info, encoder, decoder, lik, 2 * latent_dim if posterior == "gaussian" else latent_dim, latent_dim)
    return enc, dec, lik


@MODELS.register("wae_mmd", help="Wasserstein autoencoder with the MMD penalty (Tolstikhin et al. 2018): IMQ kernels over scales",
                 tiny_fit={"model": {"latent_dim": 2, "prior": {"type": "ring", "n_components": 4},
                                     "encoder": {"type": "mlp", "hidden": (64, 64)}}})
def wae_mmd(
    info: DataInfo,
    latent_dim: Size = 8,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = COST,
    prior: Spec = TARGET,
    posterior: Literal["deterministic", "gaussian"] = "deterministic",
    weight: Weight = 10.0,
    kernel: Literal["wae_imq", "gaussian"] = "wae_imq",
    scales: tuple[PosFloat, ...] = SCALES,
) -> AE:
    """Args:
        latent_dim: size of the code.
        likelihood: the reconstruction cost c(x, x̂) (a Gaussian's σ is fixed).
        prior: the target of q(z) (``normal`` in the paper).
        posterior: a deterministic encoder, or a Gaussian one whose codes are draws.
        weight: λ of the penalty (10 for MNIST in the paper).
        kernel: ``wae_imq``: Σ_s C_s/(C_s + ‖z − z'‖²), C_s = 2 d_z σ² s (the paper's); or
            ``gaussian``: Σ_s exp(−‖z − z'‖²/C_s).
        scales: the multiples s of 2 d_z σ², σ² the prior's variance per dimension.
    """
    enc, dec, lik = _wae_encoder(info, encoder, decoder, likelihood, latent_dim, posterior)
    match = mmd_match(build_target(prior, latent_dim, info, "WAE-MMD"), latent_dim, weight, kernel, scales)
    return AE(enc, dec, lik, info, latent_dim, match=match, posterior=posterior)


@MODELS.register("wae_gan", help="Wasserstein autoencoder with an adversarial latent penalty (Tolstikhin et al. 2018)",
                 tiny_fit={"data": "image", "model": {"encoder": {"type": "mlp", "hidden": (64, 64)}, "critic": {"hidden": (64, 64)}}})
def wae_gan(
    info: DataInfo,
    latent_dim: Size = 8,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = COST,
    prior: Spec = TARGET,
    critic: Spec = net("mlp", mlp={"hidden": (512, 512, 512, 512)}, help="the latent critic D: code -> score (4 x 512 in the paper)"),
    posterior: Literal["deterministic", "gaussian"] = "deterministic",
    weight: Weight = 1.0,
) -> AE:
    """Args:
        latent_dim: size of the code.
        likelihood: the reconstruction cost c(x, x̂) (a Gaussian's σ is fixed).
        prior: the target of q(z) (``normal`` in the paper).
        posterior: a deterministic encoder, or a Gaussian one whose codes are draws.
        weight: λ of the encoder's term −λ log D(z) (1 in the paper).
    """
    enc, dec, lik = _wae_encoder(info, encoder, decoder, likelihood, latent_dim, posterior)
    target = build_target(prior, latent_dim, info, "WAE-GAN")
    match = AdversarialMatch(critic.build(in_shape=(latent_dim,), out_shape=(1,)), target, "non_saturating", weight,
                             critic_optim=dict(ADAM_CRITIC))
    return AE(enc, dec, lik, info, latent_dim, match=match, posterior=posterior)
