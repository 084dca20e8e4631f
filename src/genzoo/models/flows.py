"""Normalizing flows: exact likelihood by change of variables (RealNVP).

A flow is a bijection f from data to latent with a tractable Jacobian; under a standard
normal base density

.. math::
    \\log p_X(x) = \\log \\mathcal N(f(x); 0, I) + \\log\\left|\\det \\tfrac{\\partial f}{\\partial x}\\right|

and sampling is x = f^{-1}(z), z ~ N(0, I). Training minimises the mean negative log-density.

Discrete images (``info.levels = L > 0``) follow DESIGN §8: the integer value k = x (L - 1)
is dequantised to y = (k + u) / L, u ~ U(0, 1)^D, a point of the unit cube; the flow models
y through the logit transform s = logit(α + (1 - 2α) y), whose log-Jacobian
Σ log((1 - 2α) / (p (1 - p))) with p = α + (1 - 2α) y is part of :meth:`RealNVP.log_prob`. As
p(k) = ∫ p_{k+u} du over a unit cell and the density of k + u is p_Y(y) / L^D,
E_u[log p_Y(y)] - D log L is a lower bound on log p(k) (Theis et al. 2016), reported in bits
per dimension by :meth:`RealNVP.bits_per_dim`.

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from ..config import Component, Range, Spec
from ..data.base import Batch, DataInfo
from ..divergences import log_standard_normal
from ..errors import GenzooError
from ..nets.coupling import FLOWS
from ..registry import MODELS
from .base import GenerativeModel


class RealNVP(GenerativeModel):
    """A flow ``flow: x -> (z, logdet)`` under a N(0, I) base, optionally on dequantised images.

    Args:
        flow: any module with ``forward(x) -> (z (B, D), logdet (B,))`` and ``inverse(z) -> x``,
            taking inputs shaped like the data (a :class:`~genzoo.nets.coupling.CouplingFlow` is given flat vectors).
        info: the data's metadata.
        flat: feed the flow ``(B, D)`` vectors (else ``(B, *shape)``).
        alpha: logit-transform margin; ``None`` models the data as continuous (no dequantisation).
    """

    def __init__(self, flow: nn.Module, info: DataInfo, flat: bool, alpha: float | None = 0.05) -> None:
        super().__init__()
        if alpha is not None and not 0.0 <= alpha < 0.5:
            raise GenzooError(f"alpha must lie in [0, 0.5), got {alpha}")
        self.flow, self.info, self.flat, self.alpha = flow, info, flat, alpha
        self.levels = info.levels if alpha is not None else 0
        self.register_buffer("_ref", torch.zeros(()), persistent=False)

    # -- preprocessing ----------------------------------------------------------------------------
    def dequantize(self, x: Tensor) -> Tensor:
        """y = (k + u) / L with k = round(x (L - 1)), u ~ U(0, 1): a point of the unit cube."""
        k = torch.round(x * (self.levels - 1))
        return (k + torch.rand_like(x)) / self.levels

    def _to_logit(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """s = logit(α + (1 - 2α) y) and log|ds/dy| summed per example."""
        a = self.alpha or 0.0
        p = a + (1 - 2 * a) * y
        s = torch.log(p) - torch.log1p(-p)
        ld = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return s, ld

    def _from_logit(self, s: Tensor) -> Tensor:
        a = self.alpha or 0.0
        return ((torch.sigmoid(s) - a) / (1 - 2 * a)).clamp(0.0, 1.0)

    # -- the flow ---------------------------------------------------------------------------------
    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ld0 = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        if self.levels:
            x, ld0 = self._to_logit(x)
        z, ld = self.flow(x.flatten(1) if self.flat else x)
        return z, ld + ld0  # (B, D), (B,)

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Exact log-density ``(B,)`` of continuous x (for images: of a point y of the unit cube).

        For discrete images pass a dequantised point (:meth:`dequantize`); the discrete
        log-likelihood bound is ``log_prob(y) - D log L`` (see :meth:`bits_per_dim`).
        """
        z, ld = self._forward(x)
        return log_standard_normal(z) + ld

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """-(log p_Y(y) - D log L) / (D ln 2) per example ``(B,)`` for one dequantisation y of x."""
        if not self.levels:
            raise GenzooError("bits_per_dim needs discrete data (info.levels > 0) and alpha set; use log_prob for continuous data")
        D = self.info.dim
        return -(self.log_prob(self.dequantize(x)) - D * math.log(self.levels)) / (D * math.log(2.0))

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        x = self.dequantize(batch.x) if self.levels else batch.x
        nll = batch.mean(-self.log_prob(x))
        out = {"loss": nll, "nll": nll}
        if self.levels:
            D = self.info.dim
            out["bpd"] = (nll.detach() + D * math.log(self.levels)) / (D * math.log(2.0))
        return out

    # -- capabilities -----------------------------------------------------------------------------
    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """z = f(x), ``(B, D)`` (images go through the logit transform first)."""
        return self._forward(x)[0]

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """x = f^{-1}(z), shaped like the data (images mapped back to [0, 1])."""
        x = self.flow.inverse(z).reshape(z.shape[0], *self.info.shape)  # both flows take flat z
        return self._from_logit(x) if self.levels else x

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None, temperature: float = 1.0) -> Tensor:
        """Draws x = f^{-1}(T z), z ~ N(0, I) (``temperature`` T < 1 trades diversity for quality)."""
        z = torch.randn(n, self.info.dim, device=self._ref.device, dtype=self._ref.dtype) * temperature
        return self.decode(z)


def auto_flow(info: Any) -> str:
    """multiscale for images, coupling otherwise."""
    return "multiscale" if info.kind == "image" and len(info.shape) == 3 else "coupling"


@MODELS.register("realnvp", help="RealNVP affine-coupling flow (Dinh et al. 2017): exact log-likelihood, multi-scale for images")
def realnvp(
    info: DataInfo,
    flow: Spec = Component(FLOWS, auto_flow, help="the bijection: coupling (flat vectors) or multiscale (images)"),
    alpha: Annotated[float, Range(0, 0.5, lo_open=True, hi_open=True)] = 0.05,
    dequantize: bool = True,
) -> RealNVP:
    """RealNVP on points (``coupling``: affine couplings with MLP conditioners) or images (``multiscale``).

    Args:
        flow: ``--set model.flow.n_layers=8`` (coupling), ``--set model.flow.n_scales=3`` (multiscale).
        alpha: logit-transform margin for images (RealNVP uses 0.05).
        dequantize: for images with ``info.levels > 0``: uniform dequantisation + logit
            transform; off models the values as continuous.
    """
    discrete = dequantize and info.kind == "image" and info.levels > 1
    return RealNVP(flow.build(shape=tuple(info.shape)), info, flat=bool(flow.meta.get("flat", False)),
                   alpha=alpha if discrete else None)
