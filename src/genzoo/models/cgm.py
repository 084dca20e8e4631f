r"""Sohn et al.'s conditional VAE for structured output prediction: image completion.

Each image is split into an observed part x (some quadrants) and the rest y. Three networks
make the conditional generative model (CGM):

- recognition q(z | x, y): the VAE's encoder, fed y with x appended;
- a learned conditional prior p(z | x): a prior network (:class:`~genzoo.distributions.ConditionalNormal`);
- generation p(y | x, z): the VAE's decoder, fed z with x appended.

It is the one :class:`~genzoo.models.autoencoders.VAE` objective over y with the continuous
condition x (the VAE appends a condition to its inputs and asks a conditional prior for
p(z | x)), so the bound, the importance-sampled likelihood and the KL are the VAE's:

.. math::
    \mathcal L_{CVAE} = \mathbb E_{q(z|x,y)}[\log p(y|x,z)] - KL(q(z|x,y) \| p(z|x)),
    \qquad
    \mathcal L_{GSNN} = \mathbb E_{p(z|x)}[\log p(y|x,z)],

trained as the hybrid −(α L_CVAE + (1 − α) L_GSNN) (Sohn et al. 2015, eq. 7 and §4.2). The
GSNN term decodes prior draws during training as they are at test time, which narrows the
gap between the recognition and prior paths. The conditional log-likelihood log p(y | x) is
estimated by importance sampling with q as the proposal (:meth:`CGM.cond_nll`).

Observed quadrants (``given``): 1 = bottom-left, 2 = the left half, 3 = every quadrant but
the top-right, the three MNIST settings of Sohn et al. (Table 2).

References:
    Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
    Generative Models", NeurIPS 2015.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from ..config import Prob, Range, Size, Spec
from ..data.base import Batch, Data, DataInfo
from ..distributions import ConditionalNormal, likelihood
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import VAE, build_nets
from .base import GenerativeModel


def quadrant_mask(h: int, w: int, given: int) -> Tensor:
    """Boolean ``(h, w)`` mask of the observed pixels: 1 = bottom-left, 2 = left half, 3 = all but top-right."""
    if given not in (1, 2, 3):
        raise GenzooError(f"given must be 1, 2 or 3 observed quadrants, got {given}")
    top, left = torch.zeros(h, w, dtype=torch.bool), torch.zeros(h, w, dtype=torch.bool)
    top[: h // 2] = True
    left[:, : w // 2] = True
    if given == 1:
        return ~top & left
    if given == 2:
        return left
    return ~(top & ~left)


class CGM(GenerativeModel):
    """Image completion with a conditional VAE over the unobserved pixels.

    Args:
        vae: a conditional :class:`VAE` over the ``D_y`` unobserved values, whose condition is
            the ``D_x`` observed values and whose prior is conditional (p(z | x)).
        info: the full images' metadata.
        mask: ``(H, W)`` boolean mask of observed pixels (shared by every channel).
        alpha: weight of the CVAE bound in the hybrid objective (1: pure CVAE; 0: pure GSNN).
        bank_size: observed parts kept from the training data so that :meth:`sample` without
            conditions completes real inputs.
    """

    def __init__(self, vae: VAE, info: DataInfo, mask: Tensor, alpha: float = 1.0, bank_size: int = 64) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise GenzooError(f"alpha weighs the CVAE bound against the GSNN term and must lie in [0, 1], got {alpha}")
        self.vae, self.info, self.alpha = vae, info, alpha
        self.register_buffer("observed", mask.expand(*info.shape).reshape(-1).clone())  # (D,) bool
        self.register_buffer("bank", torch.zeros(bank_size, int(self.observed.sum())))

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Observed ``(B, D_x)`` and unobserved ``(B, D_y)`` values of images ``(B, C, H, W)``."""
        flat = x.reshape(x.shape[0], -1)
        return flat[:, self.observed], flat[:, ~self.observed]

    def join(self, xo: Tensor, y: Tensor) -> Tensor:
        """Images from observed and unobserved values."""
        out = torch.empty(xo.shape[0], self.observed.numel(), device=xo.device, dtype=xo.dtype)
        out[:, self.observed], out[:, ~self.observed] = xo, y
        return out.reshape(xo.shape[0], *self.info.shape)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        xo, y = self.split(batch.x)
        out: dict[str, Tensor] = {}
        total = torch.zeros((), device=y.device, dtype=y.dtype)
        if self.alpha > 0:
            log_py, kl = self.vae.elbo_terms(y, xo)
            elbo = batch.mean(log_py - kl)
            out.update(rec=batch.mean(-log_py), kl=batch.mean(kl), elbo=elbo)
            total = total - self.alpha * elbo
        if self.alpha < 1:
            z = self.vae.prior.rsample(xo)  # the test-time path: z ~ p(z|x)
            gsnn = batch.mean(self.vae.likelihood.log_prob(self.vae.decoder_params(z, xo), y))
            out["gsnn"] = gsnn
            total = total - (1 - self.alpha) * gsnn
        out["loss"] = total
        return out

    @torch.no_grad()
    def complete(self, x: Tensor, mean: bool = True) -> Tensor:
        """Completions of images ``x`` from their observed part, one z ~ p(z|x) each."""
        xo, _ = self.split(x)
        params = self.vae.decoder_params(self.vae.prior.rsample(xo), xo)
        y = self.vae.likelihood.mean(params) if mean else self.vae.likelihood.sample(params)
        return self.join(xo, y.reshape(x.shape[0], -1))

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """Completions of ``n`` images: of ``c`` (images whose observed part is kept) when given,
        else of observed parts drawn from the bank kept at the end of training."""
        if c is not None:
            if c.shape[1:] != tuple(self.info.shape) or len(c) != n:
                raise GenzooError(f"cgm completes images: pass c of shape ({n}, {', '.join(map(str, self.info.shape))})")
            return self.complete(c.to(self.bank.device, self.bank.dtype))
        xo = self.bank[torch.randint(0, len(self.bank), (n,), device=self.bank.device)]
        params = self.vae.decoder_params(self.vae.prior.rsample(xo), xo)
        return self.join(xo, self.vae.likelihood.mean(params).reshape(n, -1))

    @torch.no_grad()
    def cond_nll(self, x: Tensor, k: int = 100) -> Tensor:
        """−log p(y | x) per image in nats by importance sampling with q(z|x,y) (Sohn et al. eq. 8)."""
        xo, y = self.split(x)
        return self.vae.nll_bound(y, k, c=xo)

    def on_fit_end(self, data: Data) -> None:
        idx = torch.randperm(len(data.x_train))[: len(self.bank)]
        self.bank.copy_(self.split(data.x_train[idx].to(self.bank.device, self.bank.dtype))[0])


@MODELS.register("cgm", help="conditional VAE for image completion (Sohn et al. 2015): q(z|x,y), prior net p(z|x), p(y|x,z); x = observed quadrants",
                 data_kinds=("image",))
def cgm(
    info: DataInfo,
    given: Annotated[int, Range(1, 3)] = 1,
    latent_dim: Size = 32,
    encoder: Spec = net("mlp", mlp={"hidden": (500,)}, help="recognition network q(z|x,y): [y, x] -> z"),
    decoder: Spec = net(follow="encoder", mirror=True, help="generation network p(y|x,z): [z, x] -> y; mirrors the encoder without a type"),
    prior_net: Spec = net(follow="encoder", help="prior network p(z|x): x -> z; a copy of the encoder's type and options without its own"),
    likelihood: Spec = likelihood(),
    alpha: Prob = 1.0,
) -> CGM:
    """Args:
        given: observed quadrants (1 bottom-left, 2 left half, 3 all but top-right).
        latent_dim: size of z.
        alpha: hybrid weight of the CVAE bound against the GSNN term (Sohn et al. §4.2).
    """
    if info.kind != "image" or len(info.shape) != 3:
        raise GenzooError(f"cgm completes images (C, H, W), but {info.name} has shape {tuple(info.shape)}")
    mask = quadrant_mask(info.shape[1], info.shape[2], given)
    d_x = int(mask.sum()) * info.shape[0]
    part = DataInfo(name=f"{info.name}[unobserved]", shape=(info.dim - d_x,), kind="image", value_range=info.value_range,
                    levels=info.levels, binarize=info.binarize)
    lik = likelihood.build(info=part)
    enc, dec = build_nets(part, encoder, decoder, lik, 2 * latent_dim, latent_dim + d_x, num_classes=d_x)
    prior = ConditionalNormal(latent_dim, prior_net.build(in_shape=(d_x,), out_shape=(2 * latent_dim,)))
    vae = VAE(enc, dec, lik, part, latent_dim, prior=prior, num_classes=d_x)
    return CGM(vae, info, mask, alpha)
