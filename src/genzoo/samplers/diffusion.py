r"""Samplers of diffusion models (:class:`~genzoo.models.base.CanDenoise`): ancestral, DDIM, DDIM inversion.

Ancestral sampling runs the learned reverse chain
:math:`x_{t-1} \sim \mathcal N(\tilde\mu_t(x_t, \hat x_0), \sigma_t^2 I)` over all T steps
(Ho et al. 2020, Alg. 2). DDIM (Song et al. 2021, eq. 12) visits a subsequence
:math:`\tau_K > \dots > \tau_1` and steps

.. math::
    x_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\,\hat x_0
        + \sqrt{1 - \bar\alpha_{\tau_{i-1}} - \sigma_i^2}\;\hat\varepsilon + \sigma_i z,\qquad
    \sigma_i = \eta\,\sqrt{\tfrac{1-\bar\alpha_{\tau_{i-1}}}{1-\bar\alpha_{\tau_i}}}
               \sqrt{1 - \tfrac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}},

ending at :math:`\bar\alpha = 1` (x = x̂_0). With η = 1 and all T steps this is the ancestral
chain with σ_t² = β̃_t; with η = 0 it is deterministic, and running it backwards
(:func:`ddim_invert`) maps data to the noise that decodes to it.

Every sampler works in the model's internal space and returns data-space samples
(``model.to_data``).

References:
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable

import torch
from torch import Tensor

from ..config import NonNegFloat, Range
from ..errors import GenzooError
from ..models.base import CanDenoise, Denoised
from ..registry import SAMPLERS
from ..schedules import SamplerSteps
from .base import Sampler

#: ``denoise(x_t, t, c) -> Denoised``: a model's own, or a guided one
DenoiseFn = Callable[[Tensor, Tensor, "Tensor | None"], Denoised]


def _t(i: int | Tensor, n: int, ref: Tensor) -> Tensor:
    return torch.full((n,), int(i), device=ref.device, dtype=torch.long)


class DiffusionSampler(Sampler):
    """Shared pieces: the check, the starting noise, data-space output and trajectory frames."""

    def check(self, model: Any) -> None:
        if not isinstance(model, CanDenoise):
            raise GenzooError(f"sampler '{self.name}' needs a diffusion model (one that can denoise); {type(model).__name__} "
                              "cannot, so sample it without --sampler")

    def denoiser(self, model: Any, c: Tensor | None) -> DenoiseFn:
        """The function the loop calls; guidance wrappers replace it."""
        return lambda x, t, cc: model.denoise(x, t, cc, clip=True)

    def labels(self, model: Any, n: int, c: Tensor | None) -> Tensor | None:
        """The draw's condition: ``c``, or the model's own choice (random labels, latent codes, none)."""
        return model.draw_condition(n) if c is None else c.to(model.device)

    def loop(self, model: Any, x: Tensor, c: Tensor | None, fn: DenoiseFn, frames: list[Tensor] | None, every: int) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, model: Any, n: int, c: Tensor | None = None, x_T: Tensor | None = None) -> Tensor:
        """``n`` samples in data space; ``x_T`` (model space) fixes the starting noise."""
        self.check(model)
        c = self.labels(model, n, c)
        x = self.start(model, n, x_T)
        return model.to_data(self.loop(model, x, c, self.denoiser(model, c), None, 0))

    @torch.no_grad()
    def trajectory(self, model: Any, n: int, c: Tensor | None = None, frames: int = 10, x_T: Tensor | None = None) -> Tensor:
        """The chain's states x_T → x_0 at ``frames`` evenly spaced steps, in data space: ``(frames, n, *shape)``."""
        self.check(model)
        c = self.labels(model, n, c)
        x = self.start(model, n, x_T)
        rec: list[Tensor] = [x]
        every = max(1, self.n_steps(model) // max(1, frames - 1))
        out = self.loop(model, x, c, self.denoiser(model, c), rec, every)
        rec = rec[: frames - 1] + [out]
        return torch.stack([model.to_data(r) for r in rec])

    def start(self, model: Any, n: int, x_T: Tensor | None) -> Tensor:
        if x_T is not None:
            if x_T.shape[0] != n or tuple(x_T.shape[1:]) != tuple(model.info.shape):
                raise GenzooError(f"x_T must have shape {(n, *model.info.shape)}, got {tuple(x_T.shape)}")
            return x_T.to(model.device)
        return torch.randn(n, *model.info.shape, device=model.device)

    def n_steps(self, model: Any) -> int:
        return int(model.schedule.T)


@SAMPLERS.register("ancestral", help="DDPM ancestral sampling over all T steps (Ho et al. 2020, Alg. 2)")
class Ancestral(DiffusionSampler):
    """x_{t-1} = μ̃_t(x_t, x̂_0) + σ_t z for t = T..1, with the model's reverse variance σ_t²."""

    name = "ancestral"

    def loop(self, model: Any, x: Tensor, c: Tensor | None, fn: DenoiseFn, frames: list[Tensor] | None, every: int) -> Tensor:
        s = model.schedule
        for k, i in enumerate(range(s.T - 1, -1, -1), 1):
            t = _t(i, len(x), x)
            d = fn(x, t, c)
            mean, _, _ = s.posterior(d.x0, x, t)
            x = mean + (0.5 * d.log_var).exp() * torch.randn_like(x) if i > 0 else mean
            if frames is not None and k % every == 0:
                frames.append(x)
        return x


def ddim_step(s: Any, x: Tensor, d: Denoised, t: int, t_prev: int, eta: float) -> Tensor:
    """One DDIM update from position ``t`` to ``t_prev`` (``-1``: the clean end, ᾱ = 1)."""
    ab = s.alpha_bar[t]
    ab_prev = s.alpha_bar[t_prev] if t_prev >= 0 else torch.ones((), device=x.device, dtype=ab.dtype)
    sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp_min(0).sqrt()
    x_new = ab_prev.sqrt() * d.x0 + (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * d.eps
    return x_new + sigma * torch.randn_like(x) if eta > 0 and t_prev >= 0 else x_new


@SAMPLERS.register("ddim", help="DDIM over `steps` timesteps; eta = 0 deterministic, eta = 1 ancestral-like (Song et al. 2021)")
class DDIM(DiffusionSampler):
    """DDIM with ``steps`` evenly spaced timesteps and stochasticity ``eta`` (0: deterministic).

    Args:
        steps: timesteps visited, at most the model's T (``None``: min(50, T)).
        eta: 0 gives the deterministic DDIM, 1 the ancestral variance β̃ (larger values add noise).
    """

    name = "ddim"

    def __init__(self, steps: SamplerSteps | None = None, eta: NonNegFloat = 0.0) -> None:
        opts = self.checked(steps=steps, eta=eta)
        self.steps, self.eta = opts["steps"], float(opts["eta"])

    def options(self) -> dict[str, Any]:
        return {"type": self.name, "steps": self.steps, "eta": self.eta}

    def check(self, model: Any) -> None:
        super().check(model)
        if self.steps is not None and self.steps > model.schedule.T:
            raise GenzooError(f"sampler.steps = {self.steps} exceeds the model's T = {model.schedule.T} diffusion steps; "
                              f"use at most {model.schedule.T}")

    def n_steps(self, model: Any) -> int:
        return self.steps if self.steps is not None else min(50, int(model.schedule.T))

    def loop(self, model: Any, x: Tensor, c: Tensor | None, fn: DenoiseFn, frames: list[Tensor] | None, every: int) -> Tensor:
        s = model.schedule
        ts = s.ddim_timesteps(self.n_steps(model)).tolist()
        for k, (t, t_prev) in enumerate(zip(ts, ts[1:] + [-1]), 1):
            d = fn(x, _t(t, len(x), x), c)
            x = ddim_step(s, x, d, t, t_prev, self.eta)
            if frames is not None and k % every == 0:
                frames.append(x)
        return x


@torch.no_grad()
def ddim_invert(model: Any, x0: Tensor, c: Tensor | None = None, steps: int = 100, refine: int = 0) -> Tensor:
    r"""Deterministic DDIM run backwards: data ``x0`` (model space) -> the x_T that η = 0 DDIM decodes to x0.

    Visits the DDIM timesteps in ascending order. The plain inversion (``refine=0``, Song et al.
    2021, §4.3) steps from τ_i to τ_{i+1} with the prediction ε̂ taken at τ_i, where the decoder
    will use the one at τ_{i+1}: an Euler step against an Euler step, so the round trip error
    is first order in the step size. Each ``refine`` iteration re-evaluates ε̂ at the new point
    and recomputes it, a fixed-point solve of the decoder's own step

    .. math::
        x_{\tau_{i+1}} = \sqrt{\bar\alpha_{\tau_{i+1}}}\,
            \frac{x_{\tau_i} - \sqrt{1-\bar\alpha_{\tau_i}}\,\hat\varepsilon(x_{\tau_{i+1}})}{\sqrt{\bar\alpha_{\tau_i}}}
            + \sqrt{1-\bar\alpha_{\tau_{i+1}}}\,\hat\varepsilon(x_{\tau_{i+1}}),

    which makes :func:`ddim_decode` its inverse to the iteration's tolerance (Pan et al. 2023).

    References:
        Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
        Preechakul et al., "Diffusion Autoencoders", CVPR 2022 (inversion for the stochastic code).
        Pan et al., "Effective Real Image Editing with Accelerated Iterative Diffusion Inversion", ICCV 2023.
    """
    s = model.schedule
    if steps > s.T:
        raise GenzooError(f"inversion steps = {steps} exceeds the model's T = {s.T}; use at most {s.T}")
    if refine < 0:
        raise GenzooError(f"refine counts fixed-point iterations and must be >= 0, got {refine}")
    ts = s.ddim_timesteps(steps).flip(0).tolist()  # ascending
    x = x0
    prev = -1
    one = torch.ones((), device=x.device)
    for t in ts:
        ab_prev = s.alpha_bar[prev] if prev >= 0 else one
        ab = s.alpha_bar[t]
        eps = model.denoise(x, _t(max(prev, ts[0]), len(x), x), c, clip=False).eps
        for k in range(refine + 1):
            x_new = ab.sqrt() * (x - (1 - ab_prev).sqrt() * eps) / ab_prev.sqrt() + (1 - ab).sqrt() * eps
            if k < refine:
                eps = model.denoise(x_new, _t(t, len(x), x), c, clip=False).eps
        x, prev = x_new, t
    return x


@torch.no_grad()
def ddim_decode(model: Any, x_T: Tensor, c: Tensor | None = None, steps: int = 100) -> Tensor:
    """Deterministic DDIM (η = 0, no clipping) from model-space noise ``x_T``: the inverse of :func:`ddim_invert`."""
    sampler = DDIM(steps, 0.0)
    sampler.check(model)
    return sampler.loop(model, x_T, c, lambda x, t, cc: model.denoise(x, t, cc, clip=False), None, 0)
