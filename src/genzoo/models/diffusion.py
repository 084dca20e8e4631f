r"""Denoising diffusion: the DDPM objective over any denoiser, and a noise-aware classifier for guidance.

:class:`DDPM` wraps a network ``net(x_t, t, c) -> prediction`` and a
:class:`~genzoo.schedules.NoiseSchedule`. Training draws t ~ U{1..T}, ε ~ N(0, I),
x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε and regresses the network onto ε, x_0 or v (``prediction``),
the "simple" loss of Ho et al. (2020, eq. 14), optionally min-SNR weighted (Hang et al. 2023).
The reverse variance is β̃_t (``fixed_small``), β_t (``fixed_large``) or learned as an
interpolation between them (``learned_range``, Nichol & Dhariwal 2021), trained by adding
λ·L_vlb with the mean's gradient stopped (their hybrid objective).

The variational bound

.. math::
    -\log p(x_0) \le \underbrace{KL(q(x_T|x_0)\,\|\,p(x_T))}_{L_T}
      + \sum_{t=2}^{T} \underbrace{KL(q(x_{t-1}|x_t,x_0)\,\|\,p_\theta(x_{t-1}|x_t))}_{L_{t-1}}
      \underbrace{- \log p_\theta(x_0|x_1)}_{L_0}

is :meth:`DDPM.nll_bound` (``L_0`` a discretized Gaussian for discrete images, eq. 13, and a
Gaussian density for continuous data), in nats of the *data* (the affine map to the model's
[-1, 1] space is accounted for). Conditions ``c`` (int labels or float vectors) are passed to
the network; with ``cond_drop > 0`` they are replaced by the null condition at that rate,
so the same network also learns the unconditional model that classifier-free guidance needs.

Sampling goes through the registered samplers (:mod:`genzoo.samplers`): ``model.sample(n, c,
sampler="ancestral")``, or a :class:`~genzoo.samplers.diffusion.DDIM` instance.

Example:
    >>> import genzoo
    >>> data = genzoo.load_data("8gaussians", n_train=2000, n_test=500)
    >>> model = genzoo.build("ddpm", data.info, T=100)
    >>> model.sample(5, sampler=genzoo.SAMPLERS.get("ddim")(steps=10)).shape
    torch.Size([5, 2])

References:
    Sohl-Dickstein et al., "Deep Unsupervised Learning using Nonequilibrium Thermodynamics", ICML 2015.
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
    Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models", ICLR 2022.
    Hang et al., "Efficient Diffusion Training via Min-SNR Weighting Strategy", ICCV 2023.
    Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.base import Batch, DataInfo
from ..errors import GenzooError
from ..config import Range, Spec, Weight
from ..nets.base import net
from ..registry import MODELS, NETS, SAMPLERS
from ..schedules import DiffusionSteps, NoiseSchedule, SamplerSteps, ScheduleName, discretized_gaussian_log_likelihood, mean_flat, normal_kl, sum_flat
from .base import Denoised, GenerativeModel, Player

Prediction = Literal["eps", "x0", "v"]
Variance = Literal["fixed_small", "fixed_large", "learned_range"]
Weighting = Literal["simple", "min_snr"]
#: A rate in [0, 1): label dropout, EMA decay.
Rate = Annotated[float, Range(0, 1, hi_open=True)]


class DataScaling:
    """The affine map between data and the model's space: [lo, hi] -> [-1, 1] (one scale for all dims)."""

    def __init__(self, info: DataInfo) -> None:
        lo, hi = (float(v) for v in info.value_range)
        if not hi > lo:
            raise GenzooError(f"{info.name}: value_range {info.value_range} is empty; a diffusion model needs low < high")
        self.mid, self.half, self.dim = (lo + hi) / 2, (hi - lo) / 2, info.dim

    def from_data(self, x: Tensor) -> Tensor:
        return (x - self.mid) / self.half

    def to_data(self, x: Tensor) -> Tensor:
        return x * self.half + self.mid

    @property
    def log_det(self) -> float:
        """log |d model / d data| summed over dimensions (added to a model-space log-density)."""
        return -self.dim * math.log(self.half)


def drop_condition(c: Tensor, p: float) -> Tensor:
    """Replace each condition by the null one (label -1, or a NaN row) with probability ``p``."""
    drop = torch.rand(c.shape[0], device=c.device) < p
    if c.dtype.is_floating_point:
        return torch.where(drop.reshape(-1, *([1] * (c.dim() - 1))), torch.full_like(c, float("nan")), c)
    return torch.where(drop, torch.full_like(c, -1), c)


class Diffusion(GenerativeModel):
    """Denoising diffusion over an injected denoiser: the objective, the denoiser's predictions, sampling.

    :class:`DDPM` adds the variational bound; the diffusion autoencoder builds on this class.

    Args:
        net: ``(x_t (B, *shape), t (B,), c) -> (B, *shape)`` (``2 *`` channels with ``learned_range``).
        info: the data's metadata.
        schedule: a :class:`NoiseSchedule` (or its name, with ``T``).
        prediction: what the network predicts: ``eps``, ``x0`` or ``v``.
        variance: reverse-process variance: ``fixed_small`` (β̃), ``fixed_large`` (β) or ``learned_range``.
        weighting: ``simple`` (unweighted MSE of the prediction) or ``min_snr`` (γ = 5).
        vlb_weight: λ of the hybrid loss (``learned_range`` only).
        num_classes / cond_dim: condition the network on int labels or float vectors (``batch.c``).
        cond_drop: rate at which training replaces the condition by the null one (for guidance).
        clip: clip x̂_0 to [-1, 1] when sampling (default: for images).
        ema: EMA decay the trainer uses when ``train.ema`` is unset.
        sampler / sampler_steps: the default sampler of :meth:`sample`: ``ddim`` with ``sampler_steps``
            (``None``: min(50, T)) or ``ancestral``.
        T: steps when ``schedule`` is a name.
    """

    def __init__(
        self,
        net: nn.Module,
        info: DataInfo,
        schedule: NoiseSchedule | str = "linear",
        prediction: str = "eps",
        variance: str = "fixed_small",
        weighting: str = "simple",
        vlb_weight: float = 1e-3,
        num_classes: int = 0,
        cond_dim: int = 0,
        cond_drop: float = 0.0,
        clip: bool | None = None,
        ema: float | None = 0.9995,
        sampler: str = "ddim",
        sampler_steps: int | None = None,
        T: int = 1000,
    ) -> None:
        super().__init__()
        if prediction not in ("eps", "x0", "v"):
            raise GenzooError(f"prediction must be eps, x0 or v, got {prediction!r}")
        if variance not in ("fixed_small", "fixed_large", "learned_range"):
            raise GenzooError(f"variance must be fixed_small, fixed_large or learned_range, got {variance!r}")
        if weighting not in ("simple", "min_snr"):
            raise GenzooError(f"weighting must be simple or min_snr, got {weighting!r}")
        if not 0.0 <= cond_drop < 1.0:
            raise GenzooError(f"cond_drop is a probability in [0, 1), got {cond_drop}")
        if cond_drop > 0 and not (num_classes or cond_dim):
            raise GenzooError("cond_drop > 0 needs a conditional model; set num_classes (labels) or cond_dim (float conditions)")
        if sampler not in ("ddim", "ancestral"):
            raise GenzooError(f"the default sampler must be ddim or ancestral, got {sampler!r}")
        self.net, self.info = net, info
        self.schedule = schedule if isinstance(schedule, NoiseSchedule) else NoiseSchedule(schedule, T)
        if sampler_steps is None:
            sampler_steps = min(50, self.schedule.T)
        if sampler == "ddim" and not 1 <= sampler_steps <= self.schedule.T:
            raise GenzooError(f"sampler_steps must lie in 1..T = {self.schedule.T}, got {sampler_steps}")
        self.prediction, self.variance, self.weighting, self.vlb_weight = prediction, variance, weighting, vlb_weight
        self.num_classes, self.cond_dim, self.cond_drop = num_classes, cond_dim, cond_drop
        self.conditional = bool(num_classes or cond_dim)
        self.clip = info.kind == "image" if clip is None else clip
        self.scaling = DataScaling(info)
        self.ema_decay = ema if ema else None
        self.default_sampler = sampler
        self.sampler_steps = sampler_steps

    # -- data space <-> model space -------------------------------------------------------------------
    def from_data(self, x: Tensor) -> Tensor:
        return self.scaling.from_data(x)

    def to_data(self, x: Tensor) -> Tensor:
        return self.scaling.to_data(x)

    def clip_x0(self, x0: Tensor) -> Tensor:
        return x0.clamp(-1.0, 1.0) if self.clip else x0

    # -- the denoiser ---------------------------------------------------------------------------------
    def _cond(self, c: Tensor | None) -> Tensor | None:
        return c if (self.num_classes or self.cond_dim) else None

    def denoise(self, x: Tensor, t: Tensor, c: Tensor | None = None, clip: bool = True) -> Denoised:
        """x̂_0, ε̂ and log σ_t² at ``x_t`` (model space) and timesteps ``t (B,)``."""
        out = self.net(x, t, self._cond(c))
        frac = None
        if self.variance == "learned_range":
            out, v = out.reshape(x.shape[0], 2 * x.shape[1], *x.shape[2:]).chunk(2, 1)
            frac = (v + 1) / 2  # the network's v in [-1, 1] interpolates log β̃ .. log β
        x0, eps = self.schedule.split(self.prediction, x, t, out.reshape(x.shape))
        if clip and self.clip:
            x0 = x0.clamp(-1.0, 1.0)
            eps = self.schedule.eps_from_x0(x, t, x0)
        return Denoised(x0, eps, self.schedule.reverse_log_var(t, x.dim(), frac, self.variance))

    # -- training -------------------------------------------------------------------------------------
    def loss_weight(self, t: Tensor) -> Tensor:
        """Per-example weight of the prediction MSE: 1, or min-SNR-γ (γ = 5) expressed for this prediction."""
        if self.weighting == "simple":
            return torch.ones_like(t, dtype=torch.float32)
        snr = self.schedule.snr(t)
        w = snr.clamp(max=5.0)
        return {"eps": w / snr, "x0": w, "v": w / (snr + 1)}[self.prediction]

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        c = None
        if self.conditional:
            if batch.c is None:
                raise GenzooError(f"this conditional diffusion model needs conditions; {self.info.name} has no labels")
            c = drop_condition(batch.c, self.cond_drop) if self.cond_drop > 0 else batch.c
        return self.denoising_loss(batch, self.from_data(batch.x), c)

    def denoising_loss(self, batch: Batch, x0: Tensor, c: Tensor | None) -> dict[str, Tensor]:
        """The training objective on model-space data ``x0`` with conditions ``c`` (reduced by ``batch.mean``)."""
        B = x0.shape[0]
        t = torch.randint(0, self.schedule.T, (B,), device=x0.device)
        eps = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, eps)
        out = self.net(xt, t, c)
        if self.variance == "learned_range":
            out, v = out.reshape(B, 2 * x0.shape[1], *x0.shape[2:]).chunk(2, 1)
        target = self.schedule.target(self.prediction, x0, t, eps)
        mse = mean_flat((out.reshape(x0.shape) - target).pow(2))  # (B,)
        loss = batch.mean(self.loss_weight(t) * mse)
        logs = {"mse": batch.mean(mse.detach())}
        if self.variance == "learned_range":
            # L_vlb trains only the variance: the mean comes from the stopped-gradient prediction
            x0_hat, _ = self.schedule.split(self.prediction, xt, t, out.detach().reshape(x0.shape))
            log_var = self.schedule.reverse_log_var(t, x0.dim(), (v + 1) / 2, "learned_range")
            vlb = self._vlb_term(x0, xt, t, x0_hat, log_var) / x0[0].numel()  # (B,) nats per dimension
            loss = loss + self.vlb_weight * self.schedule.T * batch.mean(vlb)
            logs["vlb_term"] = batch.mean(vlb.detach())
        return {"loss": loss, **logs}

    def players(self) -> list[Player]:
        return [Player("model", [p for p in self.parameters() if p.requires_grad], self.loss, optim={"lr": 2e-4})]

    # -- the variational bound's terms (also the hybrid loss's) --------------------------------------------
    def _vlb_term(self, x0: Tensor, xt: Tensor, t: Tensor, x0_hat: Tensor, log_var: Tensor) -> Tensor:
        """L_{t-1} (t > 0 positions) or L_0 (position 0), per example ``(B,)``, in model-space nats."""
        s = self.schedule
        true_mean, _, true_log_var = s.posterior(x0, xt, t)
        model_mean, _, _ = s.posterior(x0_hat, xt, t)
        log_var = log_var.expand_as(xt)
        kl = sum_flat(normal_kl(true_mean, true_log_var, model_mean, log_var))
        if self.info.levels >= 2 and self.info.kind == "image":
            nll0 = -sum_flat(discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * log_var, self.info.levels))
        else:
            nll0 = 0.5 * sum_flat(math.log(2 * math.pi) + log_var + (x0 - model_mean).pow(2) * torch.exp(-log_var))
        return torch.where(t == 0, nll0, kl)

    # -- sampling -------------------------------------------------------------------------------------
    def draw_condition(self, n: int) -> Tensor | None:
        """The condition of an unconditioned draw: labels uniform over the classes (as cvae / cgan), or none."""
        if self.conditional and self.num_classes:
            return torch.randint(0, self.num_classes, (n,), device=self.device)
        return None

    def sampler(self, sampler: Any = None) -> Any:
        if sampler is None and self.default_sampler == "ddim":
            sampler = SAMPLERS.get("ddim")(steps=self.sampler_steps)
        return super().sampler(sampler)

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None, sampler: Any = None) -> Tensor:
        """``n`` samples in data space with ``sampler`` (a registered name or instance; default the model's)."""
        return self.sampler(sampler)(self, n, c)


class DDPM(Diffusion):
    """Denoising diffusion probabilistic model (Ho et al. 2020) with its variational bound on -log p(x).

    Takes the arguments of :class:`Diffusion`.
    """

    def prior_term(self, x0: Tensor) -> Tensor:
        """L_T = KL(q(x_T | x_0) || N(0, I)) per example (model space)."""
        s = self.schedule
        T1 = torch.full((x0.shape[0],), s.T - 1, device=x0.device, dtype=torch.long)
        mean, std = s.q_mean_std(x0, T1)
        return sum_flat(normal_kl(mean, 2 * torch.log(std).expand_as(mean), torch.zeros_like(mean), torch.zeros_like(mean)))

    def vlb_terms(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        """L_t at positions ``t (B,)`` for data ``x`` with one draw of x_t each: ``(B,)`` model-space nats."""
        x0 = self.from_data(x)
        xt = self.schedule.q_sample(x0, t)
        d = self.denoise(xt, t, c, clip=False)
        return self._vlb_term(x0, xt, t, d.x0, d.log_var)

    @torch.no_grad()
    def nll_bound(self, x: Tensor, k: int = 1000, c: Tensor | None = None) -> Tensor:
        """The variational bound on -log p(x) in nats of the data, ``(B,)``.

        With ``k >= T`` every term is computed (T network evaluations per example, one draw of
        x_t each); with ``k < T`` the sum over t is estimated without bias from ``k`` timesteps,
        one drawn uniformly from each of ``k`` equal strata, each term weighted by its stratum's size.
        Discrete images: -log P of the stored grid values; continuous data: a density.
        """
        was = self.training
        self.eval()
        s, B = self.schedule, x.shape[0]
        total = self.prior_term(self.from_data(x))
        if k >= s.T:
            steps, weights = [torch.full((B,), i, device=x.device, dtype=torch.long) for i in range(s.T)], [1.0] * s.T
        else:
            edges = torch.linspace(0, s.T, k + 1).round().long().tolist()
            steps = [torch.randint(lo, hi, (B,), device=x.device) for lo, hi in zip(edges, edges[1:]) if hi > lo]
            weights = [float(hi - lo) for lo, hi in zip(edges, edges[1:]) if hi > lo]
        for t, w in zip(steps, weights):
            total = total + w * self.vlb_terms(x, t, c)
        self.train(was)
        discrete = self.info.levels >= 2 and self.info.kind == "image"
        return total if discrete else total - self.scaling.log_det

    @torch.no_grad()
    def bits_per_dim(self, x: Tensor, k: int = 1000, c: Tensor | None = None) -> Tensor:
        """The bound in bits per dimension, ``(B,)``: of the stored 8-bit grid values for discrete images
        (the discretized decoder L_0 of Ho et al., eq. 13, so no dequantization term), of the density otherwise."""
        return self.nll_bound(x, k, c) / (self.info.dim * math.log(2.0))

    def nll_protocol(self, k: int) -> dict[str, Any]:
        """How :meth:`nll_bound` estimated the figure (the ``nll`` metric records it)."""
        T = self.schedule.T
        return {"estimator": "diffusion variational bound (L_T + sum L_t + L_0)",
                "timesteps": "all T" if k >= T else f"{k} stratified of T", "T": T}


class NoisyClassifier(GenerativeModel):
    """A classifier of noisy inputs p(y | x_t, t), trained on the forward process of ``schedule``.

    It sees x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε at random t (in the same [-1, 1] model space as
    :class:`DDPM`) and is trained by cross-entropy; classifier guidance follows
    ∇_{x_t} log p(y | x_t, t) (Dhariwal & Nichol 2021, §4).

    Args:
        net: ``(x_t, t) -> (B, num_classes)`` logits.
        info: labelled data's metadata.
        schedule: the diffusion's noise schedule (guidance checks they match).
    """

    def __init__(self, net: nn.Module, info: DataInfo, schedule: NoiseSchedule) -> None:
        super().__init__()
        if info.num_classes < 2:
            raise GenzooError(f"a noisy classifier needs labelled data with at least 2 classes; {info.name} has {info.num_classes}")
        self.net, self.info, self.schedule = net, info, schedule
        self.num_classes = info.num_classes
        self.scaling = DataScaling(info)

    #: class k is the data's label k (:class:`~genzoo.models.base.CanClassify`)
    classes_are_labels = True

    def logits(self, x: Tensor, t: Tensor) -> Tensor:
        """Logits ``(B, K)`` of model-space x_t at timesteps ``t``."""
        return self.net(x, t).reshape(x.shape[0], self.num_classes)

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """Class probabilities ``(B, K)`` of clean data-space examples (t = 0)."""
        t = torch.zeros(x.shape[0], device=x.device, dtype=torch.long)
        return torch.softmax(self.logits(self.scaling.from_data(x), t).float(), -1)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        if batch.c is None:
            raise GenzooError(f"the noisy classifier needs labels; {self.info.name} has none")
        x0 = self.scaling.from_data(batch.x)
        t = torch.randint(0, self.schedule.T, (x0.shape[0],), device=x0.device)
        logits = self.logits(self.schedule.q_sample(x0, t), t)
        ce = F.cross_entropy(logits, batch.c.long(), reduction="none")
        acc = (logits.argmax(-1) == batch.c).float()
        return {"loss": batch.mean(ce), "acc": batch.mean(acc)}

    def players(self) -> list[Player]:
        return [Player("model", list(self.parameters()), self.loss, optim={"lr": 3e-4})]


# -- factories ----------------------------------------------------------------------------------------


def auto_denoiser(info: DataInfo) -> str:
    """unet for images, time_mlp otherwise."""
    return "unet" if info.kind == "image" and len(info.shape) == 3 else "time_mlp"


def auto_classifier(info: DataInfo) -> str:
    """unet_encoder for images, time_mlp otherwise."""
    return "unet_encoder" if info.kind == "image" and len(info.shape) == 3 else "time_mlp"


DENOISER = net(auto_denoiser, time=True, help="the denoiser (x_t, t, c) -> prediction (auto: unet for images, time_mlp otherwise)")
CLASSIFIER = net(auto_classifier, time=True, help="the classifier (x_t, t) -> logits (auto: unet_encoder for images, time_mlp otherwise)")


def build_time_net(spec: Spec, role: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], num_classes: int = 0,
                   cond_dim: int = 0) -> nn.Module:
    """Build a time-conditioned network from its spec; a network that does not take ``t`` is refused."""
    if not spec.meta.get("time", False):
        timed = [n for n in NETS.names() if NETS.meta(n).get("time", False)]
        raise GenzooError(f"model.{role}.type={spec.type} is not a time-conditioned network (x_t, t, c); choose one of: {', '.join(timed)}")
    return spec.build(in_shape=in_shape, out_shape=out_shape, num_classes=num_classes, cond_dim=cond_dim)


@MODELS.register("ddpm", help="denoising diffusion (Ho et al. 2020): eps/x0/v prediction, learned variances, VLB; "
                 "conditional=true with cond_drop for classifier-free guidance; samplers ancestral, ddim, cfg, classifier",
                 tiny_fit={"model": {"T": 50, "schedule": "cosine", "sampler": "ancestral"}})
def ddpm(
    info: DataInfo,
    denoiser: Spec = DENOISER,
    schedule: ScheduleName = "linear",
    T: DiffusionSteps = 1000,
    prediction: Prediction = "eps",
    variance: Variance = "fixed_small",
    weighting: Weighting = "simple",
    vlb_weight: Weight = 1e-3,
    conditional: bool = False,
    cond_drop: Rate = 0.1,
    ema: Rate = 0.9995,
    sampler: Literal["ddim", "ancestral"] = "ddim",
    sampler_steps: SamplerSteps | None = None,
) -> DDPM:
    """Args:
        schedule, T: the noise schedule (linear, cosine or sigmoid) and its number of steps.
        prediction: what the denoiser predicts: eps, x0 or v.
        variance: reverse variance: fixed_small, fixed_large or learned_range (hybrid loss).
        weighting: simple or min_snr (γ = 5).
        vlb_weight: λ of the hybrid loss (learned_range only).
        conditional: condition on the data's labels (cond_drop of them dropped for classifier-free guidance).
        cond_drop: rate at which training drops the label.
        ema: EMA decay the trainer uses unless train.ema is set (0: none).
        sampler, sampler_steps: default sampler (ddim with sampler_steps, default min(50, T); or ancestral).
    """
    if sampler_steps is not None and sampler_steps > T:
        raise GenzooError(f"model.sampler_steps = {sampler_steps} exceeds model.T = {T} diffusion steps; use at most {T}")
    k = info.num_classes if conditional else 0
    if conditional and k < 2:
        raise GenzooError(f"conditional=true needs labelled data; {info.name} has no classes")
    shape = tuple(info.shape)
    out_shape = (2 * shape[0], *shape[1:]) if variance == "learned_range" else shape
    net_ = build_time_net(denoiser, "denoiser", shape, out_shape, num_classes=k)
    return DDPM(net_, info, NoiseSchedule(schedule, T), prediction, variance, weighting, vlb_weight, num_classes=k,
                cond_drop=cond_drop if conditional else 0.0, ema=ema, sampler=sampler, sampler_steps=sampler_steps)


@MODELS.register("noisy_classifier", help="noise-aware classifier p(y | x_t, t) for classifier guidance (Dhariwal & Nichol 2021)",
                 generative=False)
def noisy_classifier(
    info: DataInfo,
    classifier: Spec = CLASSIFIER,
    schedule: ScheduleName = "linear",
    T: DiffusionSteps = 1000,
) -> NoisyClassifier:
    """Args:
        schedule, T: the noise schedule of the diffusion model it will guide (guidance checks they match).
    """
    net_ = build_time_net(classifier, "classifier", tuple(info.shape), (max(info.num_classes, 1),))
    return NoisyClassifier(net_, info, NoiseSchedule(schedule, T))
