"""Restricted Boltzmann machines trained by contrastive divergence, with AIS log-likelihoods.

An RBM with visible v (D) and binary hidden h (H) has energy

.. math::
    E(v, h) = -b^\\top v - c^\\top h - v^\\top W h \\quad\\text{(Bernoulli visibles)}, \\qquad
    E(v, h) = \\tfrac{\\|v - b\\|^2}{2\\sigma^2} - c^\\top h - (v/\\sigma)^\\top W h \\quad\\text{(Gaussian)}

and, summing out h, the free energy F(v) = -log Σ_h e^{-E(v,h)}:
F(v) = -b^T v - Σ_j softplus(c_j + v^T W_{:j}) (Bernoulli) or
‖v - b‖²/(2σ²) - Σ_j softplus(c_j + (v/σ)^T W_{:j}) (Gaussian), so p(v) = e^{-F(v)} / Z.

The log-likelihood gradient is -∂F(v_data) + E_model[∂F(v)]. CD-k estimates the model term
with k steps of block Gibbs sampling started at the data; persistent CD (Tieleman 2008)
continues chains kept between updates (a buffer). With the chain states detached,
autograd of F(v_data).mean() - F(v_model).mean() *is* that estimate.

That surrogate is not an objective that must decrease, so the logged ``loss`` *value* is
the mean-field reconstruction error (cross-entropy, or squared error / 2σ² for Gaussian
visibles), the standard training monitor (Hinton 2010, §5), while its *gradient* is the CD
gradient: ``loss = rec.detach() + (surrogate - surrogate.detach())``. The surrogate is logged
as ``free_energy_gap``.

log Z is exact by enumerating the hidden states for small H (:meth:`RBM.log_partition_exact`)
and otherwise estimated by annealed importance sampling from a base-rate model
(:meth:`RBM.log_partition_ais`); :meth:`RBM.log_prob` uses the cached value, so for large
models it is an *estimate* (AIS is unbiased in Z, hence tends to under-estimate log Z and
over-estimate log p on average).

References:
    Hinton, "Training products of experts by minimizing contrastive divergence", Neural Comput. 2002.
    Tieleman, "Training RBMs using approximations to the likelihood gradient", ICML 2008.
    Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks", ICML 2008.
    Hinton, "A practical guide to training restricted Boltzmann machines", UTML TR 2010-003.
"""

from __future__ import annotations

import math
from typing import Annotated, Callable, Iterable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import PosFloat, Size, Range
from ..data.base import Batch, DataInfo
from ..divergences import log_mean_exp
from ..errors import GenzooError
from ..registry import MODELS, SAMPLERS
from .base import GenerativeModel, Player


def ais_schedule(segments: Sequence[tuple[float, int]] = ((0.5, 500), (0.9, 4000), (1.0, 10000))) -> Tensor:
    """Inverse temperatures 0 = β_0 < ... < β_K = 1, linear within segments ``(end β, steps)``.

    The default is Salakhutdinov & Murray's: steps of 1e-3 up to 0.5, 1e-4 up to 0.9 and
    1e-5 up to 1 (14 500 intermediate distributions).
    """
    parts, start = [torch.zeros(1, dtype=torch.float64)], 0.0
    for end, n in segments:
        parts.append(torch.linspace(start, end, n + 1, dtype=torch.float64)[1:])
        start = end
    betas = torch.cat(parts)
    if abs(float(betas[-1]) - 1.0) > 1e-12:
        raise GenzooError(f"an AIS schedule must end at beta = 1, got {float(betas[-1])}")
    return betas


class RBM(GenerativeModel):
    """Bernoulli-Bernoulli or Gaussian-Bernoulli RBM on flattened data.

    Args:
        info: the data's metadata.
        n_hidden: H.
        visible: ``"bernoulli"`` (binary or [0, 1] data) or ``"gaussian"`` (fixed std ``sigma``).
        sigma: visible standard deviation of the Gaussian RBM (standardise data or set it).
        k: Gibbs steps per negative phase (CD-k / PCD-k).
        pcd: keep ``n_chains`` persistent chains instead of restarting at the data.
        n_chains: persistent chains (PCD only).
        sample_steps: Gibbs steps :meth:`sample` runs from random states.
    """

    def __init__(
        self, info: DataInfo, n_hidden: int, visible: str = "bernoulli", sigma: float = 1.0, k: int = 1,
        pcd: bool = False, n_chains: int = 100, sample_steps: int = 1000,
    ) -> None:
        super().__init__()
        if visible not in ("bernoulli", "gaussian"):
            raise GenzooError(f"visible must be bernoulli or gaussian, got {visible!r}")
        if k < 1 or n_hidden < 1:
            raise GenzooError(f"k and n_hidden must be at least 1, got k={k}, n_hidden={n_hidden}")
        self.info, self.visible, self.sigma, self.k, self.pcd = info, visible, sigma, k, pcd
        self.sample_steps = sample_steps
        D = info.dim
        self.W = nn.Parameter(0.01 * torch.randn(D, n_hidden))  # small weights (Hinton 2010, §8)
        self.b = nn.Parameter(torch.zeros(D))
        self.c = nn.Parameter(torch.zeros(n_hidden))
        self.register_buffer("chains", self._random_visible(n_chains if pcd else 0, torch.zeros(())))
        # cached log Z and whether it matches the current weights (a flag, not NaN, so that
        # saved/loaded state compares equal)
        self.register_buffer("log_z", torch.zeros((), dtype=torch.float64))
        self.register_buffer("log_z_valid", torch.zeros((), dtype=torch.uint8))

    @property
    def n_hidden(self) -> int:
        return self.c.numel()

    # -- conditionals and free energy -------------------------------------------------------------
    def _random_visible(self, n: int, ref: Tensor) -> Tensor:
        D = self.info.dim
        if self.visible == "bernoulli":
            return torch.bernoulli(torch.full((n, D), 0.5, device=ref.device, dtype=ref.dtype))
        return torch.randn(n, D, device=ref.device, dtype=ref.dtype) * self.sigma

    def _vis_in(self, v: Tensor) -> Tensor:
        return v if self.visible == "bernoulli" else v / self.sigma

    def p_h(self, v: Tensor) -> Tensor:
        """p(h_j = 1 | v) = σ(c_j + v^T W_{:j}) -> ``(B, H)``."""
        return torch.sigmoid(self.c + self._vis_in(v.flatten(1)) @ self.W)

    def mean_v(self, h: Tensor) -> Tensor:
        """E[v | h]: σ(b + W h) (Bernoulli) or b + σ W h (Gaussian) -> ``(B, D)``."""
        a = h @ self.W.T
        return torch.sigmoid(self.b + a) if self.visible == "bernoulli" else self.b + self.sigma * a

    def sample_v(self, h: Tensor) -> Tensor:
        m = self.mean_v(h)
        return torch.bernoulli(m) if self.visible == "bernoulli" else m + self.sigma * torch.randn_like(m)

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) per example ``(B,)`` (see the module docstring)."""
        v = v.flatten(1)
        hidden = F.softplus(self.c + self._vis_in(v) @ self.W).sum(1)
        if self.visible == "bernoulli":
            return -(v @ self.b) - hidden
        return (v - self.b).pow(2).sum(1) / (2 * self.sigma**2) - hidden

    @torch.no_grad()
    def gibbs(self, v: Tensor, steps: int) -> Tensor:
        """``steps`` rounds of block Gibbs sampling v -> h -> v from ``v`` ``(B, D)``."""
        for _ in range(steps):
            v = self.sample_v(torch.bernoulli(self.p_h(v)))
        return v

    # -- training ---------------------------------------------------------------------------------
    @torch.no_grad()
    def negative_phase(self, v_data: Tensor) -> Tensor:
        """Model samples for the CD gradient: k Gibbs steps from the data, or from the persistent chains."""
        if self.pcd:
            self.chains.copy_(self.gibbs(self.chains, self.k))
            return self.chains.clone()
        return self.gibbs(v_data, self.k)

    def cd_surrogate(self, v_data: Tensor, v_model: Tensor, weight: Tensor | None = None) -> Tensor:
        """mean F(v_data) - mean F(v_model); its gradient w.r.t. W is -(<v p(h|v)>_data - <v p(h|v)>_model).

        ``weight (B,)`` weighs the data term (a weighted empirical distribution). CD's chains
        start at the data, so chain i carries example i's weight; persistent chains are the
        model's own and weigh equally.
        """
        data_mean = Batch(v_data, weight=weight).mean
        model_mean = torch.mean if self.pcd else data_mean
        return data_mean(self.free_energy(v_data)) - model_mean(self.free_energy(v_model.detach()))

    def reconstruction_error(self, v: Tensor) -> Tensor:
        """Mean-field reconstruction error per example ``(B,)``: v -> p(h|v) -> E[v|h]."""
        v = v.flatten(1)
        a = self.p_h(v) @ self.W.T
        if self.visible == "bernoulli":
            return F.binary_cross_entropy_with_logits(self.b + a, v, reduction="none").sum(1)
        return (v - self.b - self.sigma * a).pow(2).sum(1) / (2 * self.sigma**2)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        v = batch.x.flatten(1)  # (B, D)
        surrogate = self.cd_surrogate(v, self.negative_phase(v), batch.weight)
        with torch.no_grad():
            rec = batch.mean(self.reconstruction_error(v))
        # value: the reconstruction error (a monitor that falls as the RBM learns);
        # gradient: exactly the CD / PCD gradient of the surrogate
        return {"loss": rec + (surrogate - surrogate.detach()), "rec_loss": rec, "free_energy_gap": surrogate.detach()}

    def _invalidate_log_z(self) -> None:
        self.log_z_valid.zero_()

    def players(self) -> list[Player]:
        return [Player("model", [self.W, self.b, self.c], self.loss, after_step=self._invalidate_log_z,
                       optim={"name": "sgd", "lr": 0.05, "momentum": 0.5})]

    # -- partition function -----------------------------------------------------------------------
    @torch.no_grad()
    def log_partition_exact(self, chunk: int = 4096) -> Tensor:
        """log Z by enumerating all 2^H hidden states (float64; H <= 24).

        Bernoulli: Z = Σ_h e^{c^T h} Π_i (1 + e^{b_i + (W h)_i});
        Gaussian: Z = Σ_h e^{c^T h + (‖b + σWh‖² - ‖b‖²)/(2σ²)} (2πσ²)^{D/2}.
        """
        H = self.n_hidden
        if H > 24:
            raise GenzooError(f"exact log Z enumerates 2^{H} hidden states; use log_partition_ais for more than 24 hidden units")
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        bits = 2 ** torch.arange(H, device=W.device)
        terms = []
        for start in range(0, 2**H, chunk):
            idx = torch.arange(start, min(start + chunk, 2**H), device=W.device)
            h = ((idx[:, None] & bits) > 0).double()  # (n, H)
            if self.visible == "bernoulli":
                terms.append(h @ c + F.softplus(b + h @ W.T).sum(1))
            else:
                m = b + self.sigma * (h @ W.T)
                terms.append(h @ c + (m.pow(2).sum(1) - b.pow(2).sum()) / (2 * self.sigma**2))
        log_z = torch.logsumexp(torch.cat(terms), 0)
        if self.visible == "gaussian":
            log_z = log_z + 0.5 * self.info.dim * math.log(2 * math.pi * self.sigma**2)
        return log_z

    @torch.no_grad()
    def log_partition_ais(self, x: Tensor | None = None, n_runs: int = 100, betas: Tensor | None = None,
                          progress: Callable[[range], Iterable[int]] | None = None) -> tuple[Tensor, Tensor]:
        """AIS estimate of log Z (Salakhutdinov & Murray 2008) and its ± 3 std error width.

        The base model p_0(v) ∝ exp(b_A^T v) (Bernoulli, b_A = logit of the data marginals of
        ``x``) or N(b_A, σ²) (Gaussian, b_A = data mean), with H disconnected hidden units,
        has a closed-form Z_0. Intermediate targets are
        log p*_β(v) = (1-β) b_A^T v + β b^T v + Σ_j softplus(β (c_j + v^T W_{:j})) (and the
        Gaussian analogue), each sampled by one Gibbs sweep that leaves it invariant.

        Args:
            x: data ``(N, ...)`` for the base rates (``None``: the base is uniform / N(0, σ²)).
            n_runs: independent annealing runs.
            betas: inverse temperatures from 0 to 1 (default :func:`ais_schedule`).
            progress: wraps the loop over temperatures (e.g. a progress bar).

        Returns:
            ``(log_z, width)``: the estimate log Z_0 + log mean w and 3 standard errors of
            log mean w (delta method), both float64 scalars.
        """
        betas = (ais_schedule() if betas is None else betas).to(self.W.device, torch.float64)
        W, b, c, s = self.W.double(), self.b.double(), self.c.double(), self.sigma
        D = self.info.dim
        if x is None:
            b_a = torch.zeros(D, dtype=torch.float64, device=W.device)
        else:
            m = x.flatten(1).double().mean(0).to(W.device)
            b_a = torch.logit(m.clamp(1e-3, 1 - 1e-3)) if self.visible == "bernoulli" else m
        gauss = self.visible == "gaussian"
        R, H = n_runs, self.n_hidden
        if gauss:
            v = b_a + s * torch.randn(n_runs, D, dtype=torch.float64, device=W.device)
            log_z0 = 0.5 * D * math.log(2 * math.pi * s**2)
        else:
            v = torch.bernoulli(torch.sigmoid(b_a).expand(n_runs, D))
            log_z0 = F.softplus(b_a).sum()
        # at β = 0 every hidden unit contributes softplus(0) = log 2: the base RBM has H
        # hidden units with zero weights and biases, as in Salakhutdinov & Murray
        log_z0 = log_z0 + self.n_hidden * math.log(2.0)
        log_w = torch.zeros(n_runs, dtype=torch.float64, device=W.device)
        # log p*_βk(v) - log p*_βk-1(v) = (βk - βk-1) v·(b - b_A) [- (βk - βk-1)(‖b‖² - ‖b_A‖²)/2σ² for
        # Gaussian visibles, whose -‖v‖²/2σ² cancels] + Σ_j softplus(βk pre_j) - softplus(βk-1 pre_j).
        # Every (R, H) and (R, D) temporary is one buffer allocated here and reused at each of the
        # ~10⁴ temperatures.
        db = (b - b_a) / s**2 if gauss else b - b_a
        dnorm = float((b.pow(2).sum() - b_a.pow(2).sum()) / (2 * s**2)) if gauss else 0.0
        opts = {"dtype": torch.float64, "device": W.device}
        pre, act, sp, h = (torch.empty(R, H, **opts) for _ in range(4))  # (R, H) each
        mean, noise = torch.empty(R, D, **opts), torch.empty(R, D, **opts)  # (R, D) each
        vs = torch.empty(R, D, **opts) if gauss else v  # the visibles as the hidden units see them (v / σ)
        softplus = torch.ops.aten.softplus.out  # F.softplus (β 1, threshold 20) into a buffer
        beta = betas.tolist()
        temperatures = range(1, len(betas))
        for k in progress(temperatures) if progress is not None else temperatures:
            bk, bp = beta[k], beta[k - 1]
            if gauss:
                torch.div(v, s, out=vs)
            torch.addmm(c, vs, W, out=pre)  # (R, H)
            log_w.add_((v @ db - dnorm) * (bk - bp))
            log_w.sub_(softplus(torch.mul(pre, bp, out=act), 1, 20, out=sp).sum(1))
            log_w.add_(softplus(torch.mul(pre, bk, out=act), 1, 20, out=sp).sum(1))
            torch.bernoulli(act.sigmoid_(), out=h)  # one Gibbs sweep invariant for p_βk
            torch.addmm(b, h, W.T, alpha=s if gauss else 1.0, out=mean).mul_(bk).add_(b_a, alpha=1 - bk)
            if gauss:
                torch.add(mean, torch.randn(R, D, out=noise, **opts), alpha=s, out=v)
            else:
                torch.bernoulli(mean.sigmoid_(), out=v)
        est = log_mean_exp(log_w)
        w = torch.exp(log_w - log_w.max())
        width = 3 * w.std() / (w.mean() * math.sqrt(n_runs))
        return log_z0 + est, width

    @torch.no_grad()
    def set_log_partition(self, x: Tensor | None = None, **ais: object) -> Tensor:
        """Compute log Z (exact if H <= 20, else AIS with base rates from ``x``) and cache it."""
        log_z = self.log_partition_exact() if self.n_hidden <= 20 else self.log_partition_ais(x, **ais)[0]  # type: ignore[arg-type]
        self.log_z.copy_(log_z)
        self.log_z_valid.fill_(1)
        return log_z

    @property
    def log_prob_is_exact(self) -> bool:
        """Whether :meth:`log_prob` is exact: log Z by enumeration needs H <= 20; above that it is AIS's."""
        return self.n_hidden <= 20

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """log p(x) = -F(x) - log Z ``(B,)`` with the cached log Z (an AIS *estimate* when H > 20)."""
        if not bool(self.log_z_valid):
            if self.n_hidden > 20:
                raise GenzooError("log Z of this RBM is not computed for its current weights; call model.set_log_partition(x_train) first")
            self.set_log_partition()
        return -self.free_energy(x).double() - self.log_z

    # -- capabilities -----------------------------------------------------------------------------
    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """p(h = 1 | x) ``(B, H)``."""
        return self.p_h(x)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """E[v | h = z] shaped like the data."""
        return self.mean_v(z).reshape(z.shape[0], *self.info.shape)

    def chain_start(self, n: int) -> Tensor:
        """Random visible states ``(n, D)`` where Gibbs chains start (:class:`~genzoo.samplers.chains.Gibbs`)."""
        return self._random_visible(n, self.W)

    def chain_readout(self, v: Tensor) -> Tensor:
        """E[v | h], h ~ p(h | v): the mean image of a last half-sweep, shaped like the data."""
        return self.decode(torch.bernoulli(self.p_h(v)))

    default_sampler = "gibbs"

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None, steps: int | None = None, sampler: object = None) -> Tensor:
        """``steps`` (default ``sample_steps``) Gibbs sweeps from random states, read out as E[v | h] (the ``gibbs`` sampler)."""
        if sampler is None and steps is not None:
            sampler = SAMPLERS.get("gibbs")(steps)
        return self.sampler(sampler)(self, n, c)


@MODELS.register("rbm", help="restricted Boltzmann machine (Bernoulli or Gaussian visibles) by CD-k or PCD; AIS log-likelihood",
                 data_kinds=("image",))
def rbm(
    info: DataInfo,
    n_hidden: Size = 500,
    visible: Literal["bernoulli", "gaussian"] = "bernoulli",
    sigma: PosFloat = 1.0,
    k: Annotated[int, Range(1, 10_000)] = 1,
    pcd: bool = False,
    n_chains: Annotated[int, Range(1, 10**6)] = 100,
    sample_steps: Annotated[int, Range(0, 10**7)] = 1000,
) -> RBM:
    return RBM(info, n_hidden, visible, sigma, k, pcd, n_chains, sample_steps)
