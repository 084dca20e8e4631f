"""VAE variants that are arguments of :class:`~genzoo.models.autoencoders.VAE` (β-VAE, CVAE,
IWAE), and the discrete-latent VAE, which swaps only the posterior family.

References:
    Higgins et al., "β-VAE", ICLR 2017; Burgess et al., "Understanding disentangling in β-VAE", 2018.
    Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
    Generative Models", NeurIPS 2015.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
    Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017.
"""

from __future__ import annotations

from typing import Annotated

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import NonNegFloat, NonNegInt, PosFloat, Range, Size, Spec, Weight
from ..data.base import DataInfo
from ..distributions import Likelihood, UniformCategorical, gumbel_softmax
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import DECODER, ENCODER, LIKELIHOOD, PRIOR, VAE, build_nets, build_vae


class DiscreteVAE(VAE):
    r"""VAE with ``n_latents`` categorical latents of ``n_categories`` values and a uniform prior.

    The posterior is q(z|x) = Π_j Cat(z_j; softmax(logits_j)); the KL to the uniform prior is
    closed form, KL = Σ_j (log K − H(q_j)). Training decodes Gumbel-softmax relaxed samples
    at temperature τ_t = max(τ_min, τ_0 exp(−r t)) (Jang et al. 2017, with t the update count
    kept in the ``num_steps`` buffer); evaluation (``eval()``, :meth:`nll_bound`) uses exact
    one-hot samples, so the importance-sampled bound is that of the discrete model.

    Args:
        n_latents, n_categories: the latent is ``n_latents`` one-hot vectors, flattened to
            ``(B, n_latents * n_categories)`` for the decoder.
        temperature, min_temperature, anneal_rate: τ_0, τ_min and r of the schedule.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, info: DataInfo,
                 n_latents: int, n_categories: int, temperature: float = 1.0, min_temperature: float = 0.5,
                 anneal_rate: float = 3e-5, beta: float = 1.0) -> None:
        super().__init__(encoder, decoder, likelihood, info, n_latents * n_categories,
                         prior=UniformCategorical(n_latents, n_categories), beta=beta)
        self.n_latents, self.n_categories = n_latents, n_categories
        self.temperature, self.min_temperature, self.anneal_rate = temperature, min_temperature, anneal_rate
        self.counts_updates = True  # the temperature schedule reads num_steps
        self.register_buffer("num_steps", torch.zeros((), dtype=torch.long))

    def tau(self) -> float:
        return max(self.min_temperature, self.temperature * math.exp(-self.anneal_rate * float(self.num_steps)))

    def posterior(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, ...]:
        logits = self.encoder_out(x, c, mask).view(x.shape[0], self.n_latents, self.n_categories)
        return (F.log_softmax(logits, -1),)  # (B, n, K) normalised log-probabilities

    def rsample(self, post: tuple[Tensor, ...], k: int | None = None) -> Tensor:
        (logp,) = post
        if k is not None:
            logp = logp.expand(k, *logp.shape)
        if self.training:
            z = gumbel_softmax(logp, self.tau())
        else:
            z = F.one_hot(torch.distributions.Categorical(logits=logp).sample(), self.n_categories).to(logp.dtype)
        return z.flatten(-2)  # (..., n*K)

    def log_q(self, z: Tensor, post: tuple[Tensor, ...]) -> Tensor:
        (logp,) = post
        z = z.unflatten(-1, (self.n_latents, self.n_categories))
        return (z * logp).sum((-2, -1))  # exact for one-hot z; broadcasts like the Gaussian's

    def kl(self, post: tuple[Tensor, ...], z: Tensor, c: Tensor | None = None) -> Tensor:
        (logp,) = post
        return (logp.exp() * logp).sum((-2, -1)) + self.n_latents * math.log(self.n_categories)

    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The most probable category of each latent, one-hot ``(B, n*K)``."""
        (logp,) = self.posterior(x, c)
        return F.one_hot(logp.argmax(-1), self.n_categories).to(logp.dtype).flatten(1)

    def loss(self, batch):  # type: ignore[no-untyped-def]
        out = super().loss(batch)
        out["tau"] = torch.tensor(self.tau(), device=out["loss"].device)
        return out


# image-only in the generic tests: on the 2-D mixture its defaults (20 x 10 categories, unit initial
# likelihood scale) collapse within 300 steps; n_latents=1, n_categories=4 with a 0.1 scale does fit it.
@MODELS.register("discrete_vae", help="categorical-latent VAE trained with the Gumbel-softmax relaxation (Jang et al. 2017)",
                 data_kinds=("image",))
def discrete_vae(
    info: DataInfo,
    n_latents: Size = 20,
    n_categories: Annotated[int, Range(2, 2**16)] = 10,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    temperature: PosFloat = 1.0,
    min_temperature: PosFloat = 0.5,
    anneal_rate: NonNegFloat = 3e-5,
) -> DiscreteVAE:
    """Args:
        n_latents, n_categories: the latent is n_latents one-hot vectors of n_categories values.
        temperature, min_temperature, anneal_rate: the Gumbel-softmax temperature schedule.
    """
    lik = likelihood.build(info=info)
    d = n_latents * n_categories
    enc, dec = build_nets(info, encoder, decoder, lik, d, d)
    return DiscreteVAE(enc, dec, lik, info, n_latents, n_categories, temperature, min_temperature, anneal_rate)


@MODELS.register("beta_vae", help="β-VAE (Higgins et al. 2017); capacity > 0: γ|KL − C| with C annealed to capacity (Burgess et al. 2018)",
                 data_kinds=("image",))  # at β=4 a 2-D mixture's mode choice costs more KL than it saves: collapse is correct
def beta_vae(
    info: DataInfo,
    latent_dim: Size = 10,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    prior: Spec = PRIOR,
    beta: Weight = 4.0,
    capacity: NonNegFloat = 0.0,
    capacity_steps: NonNegInt = 10000,
    gamma: Weight = 1000.0,
    kl_warmup: NonNegInt = 0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        beta: weight of the KL term.
        capacity, capacity_steps, gamma: capacity > 0 trains γ|KL − C| with C rising to capacity.
        kl_warmup: updates over which the KL weight rises from 0 to beta (0: off).
    """
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood, prior=prior,
                     beta=beta, capacity=capacity, capacity_steps=capacity_steps, gamma=gamma, kl_warmup=kl_warmup)


@MODELS.register("cvae", help="conditional VAE (Sohn et al. 2015): q(z|x,y), p(x|z,y), prior=class: learned p(z|y); sample(n, c) draws class c")
def cvae(
    info: DataInfo,
    latent_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    prior: Spec = PRIOR,
    beta: Weight = 1.0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        prior: p(z), or with ``class`` a learned Gaussian per label p(z|y) (vamp needs an unconditional encoder).
        beta: weight of the KL term.
    """
    if info.num_classes < 1:
        raise GenzooError(f"cvae needs labelled data, but {info.name} has no classes; use vae")
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood, prior=prior,
                     beta=beta, num_classes=info.num_classes)


@MODELS.register("iwae", help="importance weighted autoencoder (Burda et al. 2016): trains the k-sample bound", tiny_fit={"model": {"prior": "mog"}})
def iwae(
    info: DataInfo,
    latent_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    prior: Spec = PRIOR,
    k: Annotated[int, Range(1, 100_000)] = 50,
    kl_warmup: NonNegInt = 0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        k: importance samples of the training bound.
        kl_warmup: updates over which the KL weight rises from 0 to 1 (0: off).
    """
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood, prior=prior,
                     iw_k=k, kl_warmup=kl_warmup)


# -- disentangling objectives: the aggregate posterior's total correlation ----------------------


@MODELS.register("beta_tcvae", help="β-TCVAE (Chen et al. 2018): the KL split into MI + β·TC + dimension-wise KL, "
                 "estimated by minibatch weighted sampling", data_kinds=("image",),
                 tiny_fit={"model": {"encoder": {"type": "mlp", "hidden": (64,)}}})
def beta_tcvae(
    info: DataInfo,
    latent_dim: Size = 10,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    beta: Weight = 6.0,
    alpha: Weight = 1.0,
    gamma: Weight = 1.0,
    dataset_size: Annotated[int, Range(0, 10**9)] = 0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        beta: weight of the total correlation of q(z) (1: the ELBO).
        alpha: weight of the index-code mutual information (1 in the paper).
        gamma: weight of the dimension-wise KL (1 in the paper).
        dataset_size: N of the minibatch-weighted-sampling estimate (0: the batch mixture
            estimates q(z); N moves the logged terms by constants, not the gradients).
    """
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood,
                     prior=PRIOR.resolve("normal", "model.prior"), tc_weights=(alpha, beta, gamma), dataset_size=dataset_size)


@MODELS.register("factor_vae", help="FactorVAE (Kim & Mnih 2018): a critic tells codes from dimension-wise permuted codes; "
                 "the VAE adds γ times its density-ratio estimate of the total correlation", data_kinds=("image",),
                 tiny_fit={"model": {"encoder": {"type": "mlp", "hidden": (64,)}, "critic": {"hidden": (64, 64)}}})
def factor_vae(
    info: DataInfo,
    latent_dim: Size = 10,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    critic: Spec = net("mlp", mlp={"hidden": (1000,) * 5, "act": "leaky_relu"},
                       help="the permutation critic: code -> score (5 x 1000 LeakyReLU in the paper)"),
    gamma: Weight = 35.0,
) -> VAE:
    """Args:
        latent_dim: size of z.
        gamma: weight of the total-correlation term (Kim & Mnih sweep 10-100 on dSprites); the
            critic trains with Adam 1e-4, β = (0.5, 0.9), as in the paper.
    """
    from .latent_matching import AdversarialMatch

    match = AdversarialMatch(critic.build(in_shape=(latent_dim,), out_shape=(1,)), None, "density_ratio", gamma,
                             target="permuted", critic_optim={"name": "adam", "lr": 1e-4, "betas": (0.5, 0.9)})
    return build_vae(info, latent_dim=latent_dim, encoder=encoder, decoder=decoder, likelihood=likelihood,
                     prior=PRIOR.resolve("normal", "model.prior"), match=match)
