"""Generative moment matching networks: a generator trained by minimising MMD.

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
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..config import Component, Spec
from ..data.base import Batch, DataInfo
from ..divergences import mmd2
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import AE
from .base import GenerativeModel, Player, Stage


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
    noise_dim: int = 10,
    generator: Spec = GENERATOR,
    bandwidths: tuple[float, ...] = (),
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
    ae_steps: int = 5000,
    noise_dim: int = 10,
    generator: Spec = GENERATOR,
    bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0),
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
