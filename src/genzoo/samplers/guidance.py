r"""Guided diffusion sampling: classifier-free guidance and classifier guidance.

Both change the noise prediction and then run a base sampler (DDIM or ancestral) unchanged.
Classifier-free guidance mixes the conditional and unconditional predictions of one network
trained with label dropout (Ho & Salimans 2022, eq. 6):

.. math::
    \tilde\varepsilon = (1 + w)\,\hat\varepsilon(x_t, c) - w\,\hat\varepsilon(x_t, \varnothing),

so ``scale`` w = 0 is the plain conditional model. Classifier guidance follows the gradient of
a noise-aware classifier :math:`p_\phi(y \mid x_t, t)` (Dhariwal & Nichol 2021, Alg. 2 in the
ε form that suits both samplers):

.. math::
    \tilde\varepsilon = \hat\varepsilon - s\,\sqrt{1 - \bar\alpha_t}\;\nabla_{x_t}\log p_\phi(y \mid x_t, t).

In both, x̂_0 is recomputed from the guided ε̃ and clipped to the data range.

References:
    Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop / arXiv 2207.12598.
    Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import NonNegFloat, Range
from ..errors import GenzooError
from ..models.base import CanClassifyNoisy, Denoised
from ..registry import SAMPLERS
from ..schedules import SamplerSteps
from .diffusion import DDIM, Ancestral, DenoiseFn, DiffusionSampler, _t


#: Guidance weight: 0 is no guidance.
Scale = Annotated[float, Range(0, 1000)]
Base = Literal["ddim", "ancestral"]


def null_condition(c: Tensor) -> Tensor:
    """The "no condition" token of a batch of conditions: label -1, or a row of NaNs for float conditions."""
    if c.dtype.is_floating_point:
        return torch.full_like(c, float("nan"))
    return torch.full_like(c, -1)


def _guided(model: Any, x: Tensor, t: Tensor, eps: Tensor, log_var: Tensor) -> Denoised:
    s = model.schedule
    x0 = model.clip_x0(s.x0_from_eps(x, t, eps))
    return Denoised(x0, s.eps_from_x0(x, t, x0), log_var)


class GuidedSampler(DiffusionSampler):
    """A guidance rule over a base sampler (``ddim`` with ``steps``/``eta``, or ``ancestral``)."""

    def __init__(self, scale: float, base: str, steps: int | None, eta: float) -> None:
        opts = self.checked(scale=scale, base=base, steps=steps, eta=eta)
        scale, base, steps, eta = opts["scale"], opts["base"], opts["steps"], opts["eta"]
        self.scale, self.base_name = float(scale), base
        self.base: DiffusionSampler = DDIM(steps, eta) if base == "ddim" else Ancestral()

    def options(self) -> dict[str, Any]:
        return {"type": self.name, "scale": self.scale, **{("base" if k == "type" else k): v for k, v in self.base.options().items()}}

    def check(self, model: Any) -> None:
        self.base.check(model)

    def n_steps(self, model: Any) -> int:
        return self.base.n_steps(model)

    def loop(self, model: Any, x: Tensor, c: Tensor | None, fn: DenoiseFn, frames: list[Tensor] | None, every: int) -> Tensor:
        return self.base.loop(model, x, c, fn, frames, every)


@SAMPLERS.register("cfg", help="classifier-free guidance of a conditional diffusion model, eps = (1+scale) eps_c - scale eps_u (Ho & Salimans 2022)")
class ClassifierFree(GuidedSampler):
    """Classifier-free guidance with weight ``scale`` over a DDIM (``steps``, ``eta``) or ancestral base."""

    name = "cfg"

    def __init__(self, scale: Scale = 3.0, base: Base = "ddim", steps: SamplerSteps | None = None, eta: NonNegFloat = 0.0) -> None:
        super().__init__(scale, base, steps, eta)

    def check(self, model: Any) -> None:
        super().check(model)
        if not getattr(model, "conditional", False):
            raise GenzooError(f"classifier-free guidance needs a conditional diffusion model, but this {type(model).__name__} is "
                              "unconditional; train it with labels (e.g. --set model.conditional=true) or use --sampler ddim")
        if not getattr(model, "cond_drop", 0.0) > 0:
            raise GenzooError("classifier-free guidance needs a model trained with condition dropout (cond_drop > 0), "
                              "which learns the unconditional prediction; this one was trained with cond_drop = 0")

    def denoiser(self, model: Any, c: Tensor | None) -> DenoiseFn:
        w = self.scale

        def fn(x: Tensor, t: Tensor, cc: Tensor | None) -> Denoised:
            if cc is None or w == 0:
                return model.denoise(x, t, cc, clip=True)
            d = model.denoise(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cc, null_condition(cc)]), clip=False)
            eps_c, eps_u = d.eps.chunk(2)
            log_var = d.log_var.chunk(2)[0] if d.log_var.shape[0] == 2 * len(x) else d.log_var
            return _guided(model, x, t, (1 + w) * eps_c - w * eps_u, log_var)

        return fn


@SAMPLERS.register("classifier", help="classifier guidance by a noise-aware classifier run (sampler.classifier=RUN), scale s (Dhariwal & Nichol 2021)")
class ClassifierGuided(GuidedSampler):
    """Guidance by the gradient of a noise-aware classifier's log-probability of the wanted label.

    Args:
        classifier: the classifier: a trained :class:`~genzoo.models.base.CanClassifyNoisy` model that
            takes ``(x_t, t)`` (e.g. a ``noisy_classifier`` run; on the command line its run folder,
            loaded by :func:`genzoo.api.make_sampler`).
        scale: guidance strength s.
        base / steps / eta: the base sampler.
    """

    name = "classifier"
    runs = ("classifier",)

    def __init__(self, classifier: Any = None, scale: Scale = 1.0, base: Base = "ddim",
                 steps: SamplerSteps | None = None, eta: NonNegFloat = 0.0) -> None:
        super().__init__(scale, base, steps, eta)
        if classifier is None or classifier == "":
            raise GenzooError("classifier guidance needs a noise-aware classifier: --set sampler.classifier=RUN "
                              "(train one with `genzoo train noisy_classifier --data DATA`)")
        self.classifier = classifier

    def options(self) -> dict[str, Any]:
        out = super().options()
        cfg = getattr(self.classifier, "genzoo_config", None)
        out["classifier"] = self.classifier if isinstance(self.classifier, str) else (cfg or {}).get("type", type(self.classifier).__name__)
        return out

    def check(self, model: Any) -> None:
        super().check(model)
        clf = self.classifier
        if isinstance(clf, str):
            raise GenzooError(f"sampler.classifier={clf!r} is a run folder that was not loaded; build the sampler with genzoo.api.make_sampler")
        if not isinstance(clf, CanClassifyNoisy):
            raise GenzooError(f"sampler.classifier must be a noise-aware classifier (a noisy_classifier run), got a {type(clf).__name__}; "
                              "train one with `genzoo train noisy_classifier --data DATA`")
        k = getattr(clf, "num_classes", 0)
        mine, theirs = model.info, getattr(clf, "info", None)
        if theirs is None or theirs.name != mine.name or tuple(theirs.shape) != tuple(mine.shape) or k != mine.num_classes:
            what = f"{theirs.name} {tuple(theirs.shape)}" if theirs is not None else "unknown data"
            raise GenzooError(f"the guidance classifier was trained on {what} but the model on {mine.name} {tuple(mine.shape)}; "
                              f"train a noisy_classifier on {mine.name} and pass that run")
        sched = getattr(clf, "schedule", None)
        if sched is None or not model.schedule.same_as(sched):
            raise GenzooError("the guidance classifier was trained on another noise schedule than the model; "
                              f"train it with the model's schedule ({model.schedule.kind}, T = {model.schedule.T})")

    def labels(self, model: Any, n: int, c: Tensor | None) -> Tensor | None:
        if c is None:
            return torch.randint(0, model.info.num_classes, (n,), device=model.device)
        return c.to(model.device)

    def denoiser(self, model: Any, c: Tensor | None) -> DenoiseFn:
        s, clf, scale = model.schedule, self.classifier, self.scale
        clf.to(model.device).eval()
        cond = c if getattr(model, "conditional", False) else None

        def fn(x: Tensor, t: Tensor, cc: Tensor | None) -> Denoised:
            d = model.denoise(x, t, cond, clip=False)
            if scale == 0:
                return _guided(model, x, t, d.eps, d.log_var)
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                logp = F.log_softmax(clf.logits(xg, t).float(), -1)
                grad = torch.autograd.grad(logp[torch.arange(len(x), device=x.device), cc].sum(), xg)[0]
            shape = (-1,) + (1,) * (x.dim() - 1)
            eps = d.eps - scale * s.sqrt_one_minus_alpha_bar[t].reshape(shape) * grad
            return _guided(model, x, t, eps, d.log_var)

        return fn


__all__ = ["ClassifierFree", "ClassifierGuided", "null_condition", "_t"]
