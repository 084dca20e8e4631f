"""Moment matching networks: generators trained by minimising MMD (GMMN), or an MMD whose kernel
features an adversarial critic learns (MMD GAN, :class:`MMDGAN`).

A generator G maps noise u ~ U(-1, 1)^d (or N(0, I)) to samples; its loss is the maximum
mean discrepancy between a batch of samples and a batch of data under a mixture of
Gaussian kernels (:func:`genzoo.divergences.mmd2`),

.. math::
    \\mathcal L = \\sqrt{\\widehat{\\mathrm{MMD}}^2\\big(G(u_{1..B}),\\, x_{1..B}\\big)},

the square root of the biased estimate, as Li et al. found it trains better. With an
autoencoder (GMMN+AE), training has two stages: the autoencoder learns codes first
(``ae_steps`` rounds), then the generator matches the (frozen) encoder's codes of the data;
samples are ``decode(G(u))``.

References:
    Li, Swersky & Zemel, "Generative moment matching networks", ICML 2015.
    Gretton et al., "A kernel two-sample test", JMLR 2012.
    Li, Chang, Cheng, Yang & Póczos, "MMD GAN: Towards Deeper Understanding of Moment Matching
    Network", NeurIPS 2017.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from torch import Tensor, nn

from ..config import Component, PosFloat, PosInt, Range, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..divergences import mmd2
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import AE
from .base import GenerativeModel, Player, Stage
from .gan import GAN, AdversarialLoss
from .gan_variants import AutoencoderCritic


class GMMN(GenerativeModel):
    """MMD-trained generator in data space, or in the code space of an autoencoder.

    Args:
        generator: ``(B, noise_dim) -> (B, *info.shape)`` (data space) or ``(B, latent_dim)``.
        info: the data's metadata.
        noise_dim: dimension of the input noise.
        bandwidths: standard deviations of the Gaussian kernels of the MMD.
        noise: ``"uniform"`` on [-1, 1] (as in the paper) or ``"normal"``.
        sqrt: minimise sqrt(MMD²) (paper) rather than MMD².
        autoencoder: an :class:`AE` whose codes the generator matches (GMMN+AE).
        ae_steps: rounds of the autoencoder stage before the generator stage.
        out_act: ``sigmoid`` squashes the generator's output into [0, 1] (images in [0, 1],
            sigmoid codes); ``none`` leaves it raw.
    """

    def __init__(
        self, generator: nn.Module, info: DataInfo, noise_dim: int, bandwidths: tuple[float, ...],
        noise: str = "uniform", sqrt: bool = True, autoencoder: AE | None = None, ae_steps: int = 0,
        out_act: str = "none",
    ) -> None:
        super().__init__()
        if noise not in ("uniform", "normal"):
            raise GenzooError(f"noise must be uniform or normal, got {noise!r}")
        if out_act not in ("none", "sigmoid"):
            raise GenzooError(f"out_act must be none or sigmoid, got {out_act!r}")
        self.out_act = out_act
        if not bandwidths or min(bandwidths) <= 0:
            raise GenzooError(f"bandwidths must be positive kernel widths, got {bandwidths}")
        self.generator, self.info, self.noise_dim = generator, info, noise_dim
        self.bandwidths, self.noise, self.sqrt = tuple(float(b) for b in bandwidths), noise, sqrt
        self.autoencoder, self.ae_steps = autoencoder, ae_steps
        self.register_buffer("_ref", torch.zeros(()), persistent=False)

    def draw_noise(self, n: int) -> Tensor:
        ref = self._ref
        if self.noise == "uniform":
            return torch.rand(n, self.noise_dim, device=ref.device, dtype=ref.dtype) * 2 - 1
        return torch.randn(n, self.noise_dim, device=ref.device, dtype=ref.dtype)

    def targets(self, x: Tensor) -> Tensor:
        """What the generator matches: the data ``(B, D)``, or the frozen encoder's codes ``(B, latent)``."""
        if self.autoencoder is None:
            return x.flatten(1)
        with torch.no_grad():
            return self.autoencoder.encode(x)

    def generate(self, u: Tensor) -> Tensor:
        """G(u) with the output activation, flat ``(B, D)`` (or codes ``(B, latent)``)."""
        out = self.generator(u).flatten(1)
        return torch.sigmoid(out) if self.out_act == "sigmoid" else out

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        target = self.targets(batch.x)
        fake = self.generate(self.draw_noise(target.shape[0]))
        m2 = mmd2(fake, target, self.bandwidths, y_weight=batch.weight)  # weighted examples: a weighted data measure
        # sqrt has an infinite slope at 0; the floor only matters for a perfect match
        loss = m2.clamp_min(1e-12).sqrt() if self.sqrt else m2
        return {"loss": loss, "mmd2": m2.detach()}

    def players(self) -> list[Player]:
        gen = Player("generator", list(self.generator.parameters()), self.generator_loss)
        if self.autoencoder is None:
            return [gen]
        ae = Player("autoencoder", [p for p in self.autoencoder.parameters() if p.requires_grad], self.autoencoder.loss)
        return [ae, gen]

    def stages(self) -> list[Stage]:
        players = self.players()
        if self.autoencoder is None:
            return [Stage(players)]
        return [Stage([players[0]], self.ae_steps, "autoencoder"), Stage([players[1]], None, "generator")]

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        out = self.generate(self.draw_noise(n))
        if self.autoencoder is not None:
            return self.autoencoder.decode(out)
        return out.reshape(n, *self.info.shape)


def _unit_range(info: DataInfo) -> bool:
    return info.kind == "image" and tuple(info.value_range) == (0.0, 1.0)


GENERATOR = net("mlp", mlp={"hidden": (64, 256, 256, 1024)}, help="G: noise -> data (or codes); the paper's MLP 64-256-256-1024")


@MODELS.register("gmmn", help="generative moment matching network (Li et al. 2015): generator trained by MMD in data space")
def gmmn(
    info: DataInfo,
    noise_dim: Size = 10,
    generator: Spec = GENERATOR,
    bandwidths: tuple[PosFloat, ...] = (),
    noise: Literal["uniform", "normal"] = "uniform",
    sqrt: bool = True,
) -> GMMN:
    """Args:
        noise_dim: dimension of the input noise.
        bandwidths: kernel widths; empty picks (2, 5, 10, 20, 40, 80) for images (the paper's
            MNIST choice) and (0.05, 0.1, 0.2, 0.5, 1, 2) for points.
        noise: the input noise distribution (uniform on [-1, 1] as in the paper, or normal).
        sqrt: minimise sqrt(MMD²) (the paper) rather than MMD².
    """
    if not bandwidths:
        bandwidths = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0) if info.kind == "image" else (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
    gen = generator.build(in_shape=(noise_dim,), out_shape=(info.dim,))
    return GMMN(gen, info, noise_dim, bandwidths, noise, sqrt, out_act="sigmoid" if _unit_range(info) else "none")


# the paper's autoencoder: 1024 hidden units, sigmoid codes in [0, 1], trained with dropout-like masking noise
AUTOENCODER = Component(MODELS, "dae", {name: {"latent_dim": 32, "noise": "mask", "noise_level": 0.1, "code_act": "sigmoid",
                                               "encoder": {"type": "mlp", "hidden": (1024,)}} for name in ("dae", "ae")},
                        help="the autoencoder whose codes the generator matches (a model: dae or ae)")


@MODELS.register("gmmn_ae", help="GMMN on the codes of an autoencoder (Li et al. 2015): AE stage, then MMD on codes",
                 data_kinds=("image",))
def gmmn_ae(
    info: DataInfo,
    autoencoder: Spec = AUTOENCODER,
    ae_steps: PosInt = 5000,
    noise_dim: Size = 10,
    generator: Spec = GENERATOR,
    bandwidths: tuple[PosFloat, ...] = (0.25, 0.5, 1.0, 2.0, 4.0),
    noise: Literal["uniform", "normal"] = "uniform",
    sqrt: bool = True,
) -> GMMN:
    """Args:
        autoencoder: the autoencoder model (``model.autoencoder.latent_dim=64``, ``model.autoencoder.encoder.hidden=2048``).
        ae_steps: rounds of the autoencoder stage; the generator trains for the rest.
        noise_dim: dimension of the generator's input noise.
        bandwidths: kernel widths in code space (a multi-scale set for codes in [0, 1]^latent_dim).
        noise: the input noise distribution (uniform on [-1, 1] as in the paper, or normal).
        sqrt: minimise sqrt(MMD²) (the paper) rather than MMD².
    """
    ae = autoencoder.build(info=info)
    if not isinstance(ae, AE) or len(ae.players()) != 1:
        raise GenzooError(f"gmmn_ae's autoencoder must be an autoencoder model (ae or dae), got {autoencoder.type}")
    gen = generator.build(in_shape=(noise_dim,), out_shape=(ae.latent_dim,))
    return GMMN(gen, info, noise_dim, bandwidths, noise, sqrt, autoencoder=ae, ae_steps=ae_steps,
                out_act="sigmoid" if ae.code_act == "sigmoid" else "none")


# -- MMD GAN: the kernel's features learned by an adversarial critic -------------------------------


class MMDGAN(GAN):
    r"""MMD GAN (Li et al. 2017): a GAN whose critic learns the features of the MMD's kernel.

    The critic is an autoencoder (:class:`~genzoo.models.gan_variants.AutoencoderCritic`): its
    encoder f maps examples to features on which a sum of Gaussian kernels is evaluated,
    k̃(x, x') = Σ_σ exp(−‖f(x) − f(x')‖² / 2σ²). The critic *maximises* the discrepancy it
    sees, the generator minimises it:

    .. math::
        \min_G \max_f\; \sqrt{\widehat{\mathrm{MMD}}^2_{\tilde k}(x, G(z))}
        - \lambda_{AE}\big(\|x - d(f(x))\|^2 + \|G(z) - d(f(G(z)))\|^2\big)
        - \lambda_{rg}\,\mathrm{mean}\big[\mathrm{relu}(\bar f(G(z)) - \bar f(x))\big],

    with the biased MMD² estimate (:func:`genzoo.divergences.mmd2`, the one GMMN uses). The
    reconstruction terms keep f injective, which the authors' theory needs (the "autoencoder
    regulariser"); the one-sided term (from the authors' code) keeps real features' means above
    generated ones. The encoder's weights are clipped to [−c, c] after each critic update, as in
    the paper; the generator minimises √MMD² alone.

    Args:
        generator: ``(B, latent_dim) -> data``.
        critic: an autoencoder critic ``encode``/``decode``.
        bandwidths: the kernel widths σ on features (1, 2, 4, 8, 16 in the paper).
        ae_weight: λ_AE (8); rank_weight: λ_rg (16); clip: c (0.01).

    References:
        Li, Chang, Cheng, Yang & Póczos, "MMD GAN: Towards Deeper Understanding of Moment
        Matching Network", NeurIPS 2017.
    """

    def __init__(self, generator: nn.Module, critic: AutoencoderCritic, info: DataInfo, latent_dim: int,
                 bandwidths: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0), ae_weight: float = 8.0,
                 rank_weight: float = 16.0, **kw: Any) -> None:
        # no row of the loss table: the critic and generator losses below are MMD estimates
        loss = AdversarialLoss("mmd", lambda r: -r, lambda f: f, lambda f: -f)
        super().__init__(generator, critic, loss, info, latent_dim, **kw)
        if not bandwidths or min(bandwidths) <= 0:
            raise GenzooError(f"kernel bandwidths must be positive, got {tuple(bandwidths)}; e.g. model.bandwidths=1,2,4,8,16")
        self.bandwidths = tuple(float(b) for b in bandwidths)
        self.ae_weight, self.rank_weight = ae_weight, rank_weight

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        x = batch.x
        fake, _, _ = self.critic_fakes(x.shape[0], None)
        fx, ff = self.critic.encode(x), self.critic.encode(fake)  # (B, h) features
        m2 = mmd2(ff, fx, self.bandwidths, y_weight=batch.weight).clamp_min(0)
        rec = batch.mean((self.critic.decode(fx) - x).pow(2).flatten(1).mean(1)) + (self.critic.decode(ff) - fake).pow(2).mean()
        mean_fx = fx.mean(0) if batch.weight is None else (batch.weight[:, None] * fx).sum(0) / batch.weight.sum()
        rank = torch.relu(ff.mean(0) - mean_fx).mean()
        loss = -m2.clamp_min(1e-12).sqrt() + self.ae_weight * rec + self.rank_weight * rank
        return {"loss": loss, "mmd2": m2.detach(), "ae": rec.detach()}

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake, _, _ = self.generator_fakes(batch.x.shape[0], None)
        m2 = mmd2(self.critic.encode(fake), self.critic.encode(batch.x), self.bandwidths, y_weight=batch.weight).clamp_min(0)
        return {"loss": m2.clamp_min(1e-12).sqrt(), "mmd2": m2.detach()}

    @torch.no_grad()
    def after_critic_step(self) -> None:
        if self.clip > 0:  # the encoder (the kernel's features) only, as in the authors' code
            for p in self.critic.encoder.parameters():
                p.clamp_(-self.clip, self.clip)


MMD_CRITIC_ENCODER = net("mlp", mlp={"hidden": (256, 256), "act": "leaky_relu"},
                         help="the critic's encoder f: data -> kernel features (the MMD's feature map)")
MMD_CRITIC_DECODER = net(follow="critic_encoder", mirror=True, help="the critic's decoder: features -> data (the autoencoder regulariser)")


@MODELS.register("mmd_gan", help="MMD GAN (Li et al. 2017): the critic's autoencoder learns the kernel features; "
                 "generator minimises √MMD²",
                 tiny_fit={"model": {"generator": {"hidden": (64, 64)}, "clip": 0.1, "n_critic": 2}, "steps": 400})
def mmd_gan(
    info: DataInfo,
    latent_dim: Size = 10,
    generator: Spec = GENERATOR,
    critic_encoder: Spec = MMD_CRITIC_ENCODER,
    critic_decoder: Spec = MMD_CRITIC_DECODER,
    code_dim: Size = 16,
    bandwidths: tuple[PosFloat, ...] = (1.0, 2.0, 4.0, 8.0, 16.0),
    ae_weight: Weight = 8.0,
    rank_weight: Weight = 16.0,
    clip: PosFloat = 0.01,
    n_critic: Annotated[int, Range(1, 100)] = 5,
    reuse_fakes: bool = False,
) -> MMDGAN:
    """Args:
        latent_dim: size of the generator's noise z ~ N(0, I).
        code_dim: size of the critic's features.
        bandwidths: the kernel widths σ on the features (the paper's 1, 2, 4, 8, 16).
        ae_weight: λ_AE of the autoencoder regulariser (8).
        rank_weight: λ_rg of the one-sided feature-mean penalty (16).
        clip: the critic encoder's weights are clipped to [-clip, clip] (0.01; 0: off).
        n_critic: critic updates per generator update (5); both players use RMSprop 5e-5.
        reuse_fakes: one generator forward per round (the last critic update's fakes serve the
            generator update too; see :mod:`genzoo.models.gan`).
    """
    from .gan import output_activation

    if code_dim < 1:
        raise GenzooError(f"code_dim must be at least 1, got {code_dim}")
    gen = generator.build(in_shape=(latent_dim,), out_shape=tuple(info.shape))
    enc = critic_encoder.build(in_shape=tuple(info.shape), out_shape=(code_dim,))
    dec = critic_decoder.build(in_shape=(code_dim,), out_shape=tuple(info.shape))
    critic = AutoencoderCritic(enc, dec, info.shape, output_activation(info))
    optim = {"name": "rmsprop", "lr": 5e-5}
    return MMDGAN(gen, critic, info, latent_dim, bandwidths, ae_weight, rank_weight, clip=clip, n_critic=n_critic,
                  out_act=output_activation(info), critic_optim=optim, generator_optim=dict(optim), reuse_fakes=reuse_fakes)
