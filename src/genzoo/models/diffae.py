r"""Diffusion autoencoder: a semantic code z_sem conditioning a DDIM decoder, plus a latent DDPM over z_sem.

A semantic encoder maps an image to z_sem; a conditional DDPM (the *decoder*) learns
p(x_0 | z_sem) with the usual denoising loss, z_sem entering every residual block through
the condition embedding. Encoding is two-part (Preechakul et al. 2022, §3):

.. math::
    z_{sem} = \mathrm{Enc}(x_0), \qquad x_T = \mathrm{DDIM}^{-1}(x_0;\ z_{sem}),

where :math:`\mathrm{DDIM}^{-1}` runs deterministic DDIM backwards (``inversion_steps``,
with ``inversion_refine`` fixed-point iterations per step, see
:func:`~genzoo.samplers.diffusion.ddim_invert`), so decoding ``(z_sem, x_T)`` with η = 0 DDIM
reproduces the image almost exactly, while decoding z_sem with fresh noise x_T varies only
the details z_sem does not hold. Moving z_sem along a linear classifier's weight vector
edits the attribute it separates (:meth:`DiffAE.edit`).

For unconditional sampling a small DDPM over normalised z_sem (a time-conditioned MLP) is
trained beside the autoencoder from round ``latent_start`` on (a second stage; z_sem is
detached, and normalised by running statistics that freeze after ``stats_batches`` batches):
``sample(n)`` draws z_sem from it, then decodes with fresh noise.

References:
    Preechakul, Chatthee, Wizadwongsa & Suwajanakorn, "Diffusion Autoencoders: Toward a
    Meaningful and Decodable Representation", CVPR 2022.
    Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

import torch
from torch import Tensor, nn

from ..config import NonNegInt, Range, Size, Spec
from ..data.base import Batch, DataInfo
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from ..samplers.diffusion import ddim_decode, ddim_invert
from ..schedules import DiffusionSteps, NoiseSchedule, SamplerSteps, ScheduleName
from .base import Player, Stage
from .diffusion import DDPM, DENOISER, Diffusion, Rate, build_time_net


class DiffAECode(NamedTuple):
    """The two-part code of a diffusion autoencoder."""

    z_sem: Tensor  # (B, sem_dim) semantic code
    x_T: Tensor  # (B, *shape) stochastic code, model space


class DiffAE(Diffusion):
    """Diffusion autoencoder over an injected semantic encoder and a conditional denoiser.

    Args:
        encoder: ``(B, *shape) -> (B, sem_dim)`` (reads data-space images).
        net: the decoder's denoiser ``(x_t, t, z_sem) -> prediction`` (``cond_dim = sem_dim``).
        info: the data's metadata.
        schedule: the decoder's noise schedule.
        sem_dim: size of z_sem.
        latent_net: the latent DDPM's denoiser over normalised z_sem.
        latent_T: steps of the latent DDPM.
        latent_start: round from which the latent DDPM trains (a second stage); the autoencoder
            trains throughout.
        inversion_steps / inversion_refine: DDIM steps and fixed-point iterations of :meth:`encode`.
        decode_steps: DDIM steps of :meth:`decode` and :meth:`sample`.
        stats_batches: batches over which the z_sem normalisation statistics are averaged, then frozen.
        prediction / weighting / ema: as in :class:`~genzoo.models.diffusion.Diffusion`.
    """

    def __init__(self, encoder: nn.Module, net: nn.Module, info: DataInfo, schedule: NoiseSchedule, sem_dim: int,
                 latent_net: nn.Module, latent_T: int = 1000, latent_start: int = 0, inversion_steps: int = 100,
                 inversion_refine: int = 2, decode_steps: int = 100, stats_batches: int = 200, prediction: str = "eps",
                 weighting: str = "simple", ema: float | None = 0.9995) -> None:
        super().__init__(net, info, schedule, prediction, "fixed_small", weighting, cond_dim=sem_dim, ema=ema,
                         sampler="ddim", sampler_steps=min(decode_steps, schedule.T))
        if min(inversion_steps, decode_steps) < 1 or max(inversion_steps, decode_steps) > schedule.T:
            raise GenzooError(f"inversion_steps and decode_steps must lie in 1..T = {schedule.T}, got {inversion_steps}, {decode_steps}")
        if latent_start < 0 or stats_batches < 1:
            raise GenzooError(f"latent_start must be >= 0 and stats_batches >= 1, got {latent_start}, {stats_batches}")
        self.conditional = False  # not conditioned on the data's labels: the condition is its own code
        self.encoder, self.sem_dim = encoder, sem_dim
        z_info = DataInfo(f"{info.name}:z_sem", (sem_dim,), kind="points", value_range=(-1.0, 1.0))
        self.latent = DDPM(latent_net, z_info, NoiseSchedule("linear", latent_T), ema=None, sampler="ddim")
        self.latent_start, self.stats_batches = latent_start, stats_batches
        self.inversion_steps, self.inversion_refine, self.decode_steps = inversion_steps, inversion_refine, decode_steps
        self.register_buffer("z_mean", torch.zeros(sem_dim))
        self.register_buffer("z_var", torch.ones(sem_dim))
        self.register_buffer("z_count", torch.zeros((), dtype=torch.long))

    # -- the semantic code ----------------------------------------------------------------------------
    def semantic(self, x: Tensor) -> Tensor:
        """z_sem of data-space images ``x``: ``(B, sem_dim)``."""
        return self.encoder(x)

    def normalise(self, z: Tensor) -> Tensor:
        return (z - self.z_mean) / self.z_var.sqrt().clamp_min(1e-6)

    def unnormalise(self, z: Tensor) -> Tensor:
        return z * self.z_var.sqrt().clamp_min(1e-6) + self.z_mean

    @torch.no_grad()
    def _update_stats(self, z: Tensor, batch: Batch) -> None:
        """Cumulative mean / variance of z_sem over the first ``stats_batches`` training batches
        (example-weighted like every loss), then frozen; never in eval mode."""
        k = int(self.z_count)
        if k >= self.stats_batches or not self.training:
            return
        w = 1.0 / (k + 1)
        mean = torch.stack([batch.mean(z[:, j]) for j in range(z.shape[1])])
        var = torch.stack([batch.mean((z[:, j] - mean[j]).pow(2)) for j in range(z.shape[1])])
        self.z_mean.lerp_(mean, w)
        self.z_var.lerp_(var + 1e-8, w)
        self.z_count += 1

    # -- training ---------------------------------------------------------------------------------------
    def autoencoder_loss(self, batch: Batch) -> dict[str, Tensor]:
        return self.denoising_loss(batch, self.from_data(batch.x), self.semantic(batch.x))

    def latent_loss(self, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            z = self.semantic(batch.x)
        self._update_stats(z, batch)
        return self.latent.denoising_loss(batch, self.normalise(z), None)

    def players(self) -> list[Player]:
        ae = [p for n, p in self.named_parameters() if not n.startswith("latent.")]
        return [Player("autoencoder", ae, self.autoencoder_loss, optim={"lr": 2e-4}),
                Player("latent", list(self.latent.parameters()), self.latent_loss, optim={"lr": 1e-3})]

    def stages(self) -> list[Stage]:
        ae, latent = self.players()
        both = Stage([ae, latent], None, "autoencoder+latent")
        return [Stage([ae], self.latent_start, "autoencoder"), both] if self.latent_start > 0 else [both]

    # -- encoding and decoding ----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor, c: Tensor | None = None) -> DiffAECode:
        """``(z_sem, x_T)``: the semantic code and the stochastic code by deterministic DDIM inversion."""
        z = self.semantic(x)
        x_T = ddim_invert(self, self.from_data(x), z, self.inversion_steps, self.inversion_refine)
        return DiffAECode(z, x_T)

    @torch.no_grad()
    def decode(self, code: DiffAECode | Tensor, c: Tensor | None = None) -> Tensor:
        """Images from a full code (deterministic η = 0 DDIM from its x_T) or from z_sem alone (fresh noise x_T)."""
        if isinstance(code, Tensor):
            code = DiffAECode(code, torch.randn(code.shape[0], *self.info.shape, device=code.device))
        x = ddim_decode(self, code.x_T, code.z_sem, self.decode_steps)
        return self.to_data(self.clip_x0(x))

    def draw_condition(self, n: int) -> Tensor:
        """z_sem drawn from the latent DDPM (the condition of an unconditioned sample)."""
        return self.unnormalise(self.latent.sample(n))

    @torch.no_grad()
    def edit(self, x: Tensor, direction: Tensor, amounts: list[float] | Tensor) -> Tensor:
        """Move z_sem of ``x`` along ``direction`` (in normalised z_sem units) by each amount and decode with x's own x_T.

        Returns ``(len(amounts), B, *shape)``; the amount 0 row is the reconstruction.
        """
        code = self.encode(x)
        d = direction.to(code.z_sem) / direction.norm().clamp_min(1e-12)
        scale = self.z_var.sqrt().clamp_min(1e-6)
        return torch.stack([self.decode(DiffAECode(code.z_sem + float(a) * d * scale, code.x_T)) for a in amounts])


LATENT = net("time_mlp", time=True, time_mlp={"hidden": 256, "depth": 3}, help="the latent DDPM's denoiser over normalised z_sem")
SEM_ENCODER = net(conv={"width": 32}, help="the semantic encoder: data -> z_sem (auto: conv for images, mlp otherwise)")


@MODELS.register("diffae", help="diffusion autoencoder (Preechakul et al. 2022): z_sem + DDIM-inverted x_T; latent DDPM for sampling",
                 data_kinds=("image",), tiny_fit={"model": {"T": 50, "schedule": "cosine", "latent_T": 50, "decode_steps": 20, "inversion_steps": 20}})
def diffae(
    info: DataInfo,
    encoder: Spec = SEM_ENCODER,
    denoiser: Spec = DENOISER,
    latent_denoiser: Spec = LATENT,
    sem_dim: Size = 32,
    schedule: ScheduleName = "linear",
    T: DiffusionSteps = 1000,
    prediction: Literal["eps", "x0", "v"] = "eps",
    weighting: Literal["simple", "min_snr"] = "simple",
    latent_T: DiffusionSteps = 1000,
    latent_start: NonNegInt = 0,
    inversion_steps: SamplerSteps = 100,
    inversion_refine: Annotated[int, Range(0, 100)] = 2,
    decode_steps: SamplerSteps = 100,
    ema: Rate = 0.9995,
) -> DiffAE:
    """Args:
        sem_dim: size of the semantic code z_sem.
        schedule, T: the decoder's noise schedule.
        prediction, weighting: the decoder's objective (see ddpm).
        latent_T: steps of the latent DDPM over z_sem.
        latent_start: round from which the latent DDPM trains.
        inversion_steps, inversion_refine: DDIM steps and fixed-point iterations of encode.
        decode_steps: DDIM steps of decode and sample.
        ema: EMA decay the trainer uses unless train.ema is set.
    """
    for name, steps in (("inversion_steps", inversion_steps), ("decode_steps", decode_steps)):
        if steps > T:
            raise GenzooError(f"model.{name} = {steps} exceeds model.T = {T} diffusion steps; use at most {T}")
    shape = tuple(info.shape)
    enc = encoder.build(in_shape=shape, out_shape=(sem_dim,))
    dec = build_time_net(denoiser, "denoiser", shape, shape, cond_dim=sem_dim)
    lat = build_time_net(latent_denoiser, "latent_denoiser", (sem_dim,), (sem_dim,))
    return DiffAE(enc, dec, info, NoiseSchedule(schedule, T), sem_dim, lat, latent_T, latent_start, inversion_steps,
                  inversion_refine, decode_steps, prediction=prediction, weighting=weighting, ema=ema)


__all__ = ["DiffAE", "DiffAECode"]
