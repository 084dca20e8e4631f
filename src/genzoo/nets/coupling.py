"""Affine coupling flows (RealNVP) for flat vectors and images.

A coupling layer keeps the masked part ``x_m = m ⊙ x`` of its input and transforms the rest
elementwise with a scale and shift predicted from it:

.. math::
    y = x_m + (1 - m) \\odot \\big(x \\odot e^{s(x_m)} + t(x_m)\\big), \\qquad
    \\log\\left|\\det \\tfrac{\\partial y}{\\partial x}\\right| = \\sum_i (1 - m_i)\\, s_i(x_m)

so the Jacobian is triangular and both directions cost one network evaluation. Stacking
layers with complementary masks lets every variable be transformed. ActNorm (Glow) is a
per-feature affine map initialised from the first batch to zero mean, unit variance.

Every flow module here maps data to latent: ``forward(x) -> (z, logdet)`` with ``logdet``
of shape ``(B,)`` and ``inverse(z) -> x``.

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018.
"""

from __future__ import annotations

import math
from typing import Annotated, Sequence

import torch
from torch import Tensor, nn

from ..config import Range, Sizes
from ..errors import GenzooError
from ..registry import Registry
from .mlp import MLP

#: flows ``forward(x) -> (z (B, D), logdet (B,))``, ``inverse(z) -> x``, built for examples of ``shape``
FLOWS = Registry("flow", context=("shape",))


class ActNorm(nn.Module):
    """y = (x - loc) * exp(-log_scale) per feature (dim 1), data-initialised on first use.

    The ``initialized`` buffer is saved with the weights, so a loaded model is never
    re-initialised from a different batch.

    Args:
        num_features: size of dimension 1 (features for vectors, channels for images).
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(num_features))
        self.log_scale = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))

    def _view(self, p: Tensor, x: Tensor) -> Tensor:
        return p.view(1, -1, *([1] * (x.dim() - 2)))

    @torch.no_grad()
    def _init(self, x: Tensor) -> None:
        dims = [0] + list(range(2, x.dim()))
        self.loc.copy_(x.mean(dims))
        self.log_scale.copy_(x.std(dims).clamp_min(1e-6).log() if x.shape[0] > 1 else torch.zeros_like(self.log_scale))
        self.initialized.fill_(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self._init(x)
        z = (x - self._view(self.loc, x)) * self._view(torch.exp(-self.log_scale), x)
        spatial = math.prod(x.shape[2:])  # every pixel of a channel shares the scale
        logdet = (-self.log_scale.sum() * spatial).expand(x.shape[0])
        return z, logdet

    def inverse(self, z: Tensor) -> Tensor:
        return z * self._view(self.log_scale.exp(), z) + self._view(self.loc, z)


class AffineCoupling(nn.Module):
    """One affine coupling layer on ``(B, D)`` vectors with a fixed binary mask.

    The scale is ``s = scale * tanh(raw)`` with a learned per-feature ``scale`` (as in RealNVP),
    which keeps early training stable. The network's last layer starts at zero, so a fresh
    layer is the identity.

    Args:
        mask: ``(D,)`` of 0/1; features with 1 are kept and condition the others.
        hidden: hidden widths of the conditioner MLP.
        act: its activation.
    """

    def __init__(self, mask: Tensor, hidden: Sequence[int] = (64, 64), act: str = "relu") -> None:
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.float().reshape(1, dim))
        self.net = MLP(dim, 2 * dim, tuple(hidden), act)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def _st(self, x_masked: Tensor) -> tuple[Tensor, Tensor]:
        raw_s, t = self.net(x_masked).chunk(2, dim=1)
        inv = 1.0 - self.mask
        return self.scale * torch.tanh(raw_s) * inv, t * inv

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._st(x * self.mask)
        return x * torch.exp(s) + t, s.sum(1)

    def inverse(self, z: Tensor) -> Tensor:
        s, t = self._st(z * self.mask)  # the masked part passes through unchanged
        return (z - t) * torch.exp(-s)


def half_masks(dim: int, n_layers: int) -> list[Tensor]:
    """Alternating masks on the first / second half of the features (dim >= 2)."""
    first = (torch.arange(dim) < dim // 2).float()
    return [first if i % 2 == 0 else 1.0 - first for i in range(n_layers)]


class CouplingFlow(nn.Module):
    """A RealNVP flow on ``(B, dim)`` vectors: ActNorm + affine coupling, alternating masks.

    ``forward`` maps data x to latent z and returns log|det ∂z/∂x| per example, so under a
    base density p_Z, log p_X(x) = log p_Z(z) + logdet.

    Args:
        dim: number of features (at least 2).
        n_layers: coupling layers (masks alternate between the two halves).
        hidden: hidden widths of each conditioner MLP.
        act: their activation.
        actnorm: put a data-initialised ActNorm before each coupling.

    Example:
        >>> flow = CouplingFlow(4, n_layers=4, hidden=(16,))
        >>> x = torch.randn(3, 4)
        >>> z, logdet = flow(x)
        >>> torch.allclose(flow.inverse(z), x, atol=1e-5), logdet.shape
        (True, torch.Size([3]))
    """

    def __init__(self, dim: int, n_layers: int = 6, hidden: tuple[int, ...] = (64, 64), act: str = "relu", actnorm: bool = True) -> None:
        super().__init__()
        if dim < 2:
            raise GenzooError(f"a coupling flow needs at least 2 features, got dim={dim}; use a 1-D density instead")
        if n_layers < 1:
            raise GenzooError(f"n_layers must be at least 1, got {n_layers}")
        self.dim = dim
        layers: list[nn.Module] = []
        for m in half_masks(dim, n_layers):
            if actnorm:
                layers.append(ActNorm(dim))
            layers.append(AffineCoupling(m, hidden, act))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet  # (B, dim), (B,)

    def inverse(self, z: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


# -- images: checkerboard and channel masks, squeeze, multi-scale --------------------------------


class ConvResNet(nn.Module):
    """Conditioner for image couplings: 3x3 conv, ``n_blocks`` residual blocks, 3x3 conv to out."""

    def __init__(self, c_in: int, c_out: int, width: int = 64, n_blocks: int = 2) -> None:
        super().__init__()
        self.inp = nn.Conv2d(c_in, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 1))
            for _ in range(n_blocks)
        )
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(width, c_out, 3, padding=1))
        nn.init.zeros_(self.out[1].weight)  # identity layer at initialisation
        nn.init.zeros_(self.out[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x)
        for b in self.blocks:
            h = h + b(h)
        return self.out(h)


class ImageCoupling(nn.Module):
    """Affine coupling on ``(B, C, H, W)`` with a checkerboard or a channel mask.

    Checkerboard: pixels with (i + j + parity) even are kept; the conditioner sees the masked
    image plus the mask as an extra channel (so it knows which pixels are visible).
    Channel: the first (or, with ``parity=1``, the second) half of the channels is kept.

    Args:
        channels: C.
        kind: ``"checkerboard"`` or ``"channel"``.
        parity: 0 or 1, which half is kept.
        width, n_blocks: conditioner size.
    """

    def __init__(self, channels: int, kind: str, parity: int, width: int = 64, n_blocks: int = 2) -> None:
        super().__init__()
        if kind not in ("checkerboard", "channel"):
            raise GenzooError(f"coupling mask must be checkerboard or channel, got {kind!r}")
        if kind == "channel" and channels % 2:
            raise GenzooError(f"a channel coupling needs an even number of channels, got {channels}")
        self.kind, self.parity, self.channels = kind, parity, channels
        c_in = channels + 1 if kind == "checkerboard" else channels // 2
        c_out = 2 * channels if kind == "checkerboard" else channels
        self.net = ConvResNet(c_in, c_out, width, n_blocks)
        self.scale = nn.Parameter(torch.ones(c_out // 2, 1, 1))

    def _mask(self, x: Tensor) -> Tensor:
        H, W = x.shape[2:]
        i = torch.arange(H, device=x.device).view(H, 1)
        j = torch.arange(W, device=x.device).view(1, W)
        return ((i + j + self.parity) % 2 == 0).to(x.dtype).expand(1, 1, H, W)  # (1, 1, H, W)

    def _st(self, kept: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        inp = kept if mask is None else torch.cat([kept, mask.expand(kept.shape[0], 1, *kept.shape[2:])], 1)
        raw_s, t = self.net(inp).chunk(2, dim=1)
        return self.scale * torch.tanh(raw_s), t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "checkerboard":
            m = self._mask(x)
            s, t = self._st(x * m, m)
            s, t = s * (1 - m), t * (1 - m)
            return x * torch.exp(s) + t, s.flatten(1).sum(1)
        a, b = x.chunk(2, dim=1)
        keep, change = (a, b) if self.parity == 0 else (b, a)
        s, t = self._st(keep, None)
        change = change * torch.exp(s) + t
        y = torch.cat([keep, change] if self.parity == 0 else [change, keep], 1)
        return y, s.flatten(1).sum(1)

    def inverse(self, z: Tensor) -> Tensor:
        if self.kind == "checkerboard":
            m = self._mask(z)
            s, t = self._st(z * m, m)
            s, t = s * (1 - m), t * (1 - m)
            return (z - t) * torch.exp(-s)
        a, b = z.chunk(2, dim=1)
        keep, change = (a, b) if self.parity == 0 else (b, a)
        s, t = self._st(keep, None)
        change = (change - t) * torch.exp(-s)
        return torch.cat([keep, change] if self.parity == 0 else [change, keep], 1)


def squeeze(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, 4C, H/2, W/2)``: each 2x2 block of pixels becomes 4 channels."""
    B, C, H, W = x.shape
    x = x.view(B, C, H // 2, 2, W // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(B, 4 * C, H // 2, W // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Inverse of :func:`squeeze`."""
    B, C, H, W = x.shape
    x = x.view(B, C // 4, 2, 2, H, W).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(B, C // 4, 2 * H, 2 * W)


class MultiScaleFlow(nn.Module):
    """RealNVP multi-scale architecture on ``(B, C, H, W)`` images.

    Each of the ``n_scales - 1`` scales applies 3 checkerboard couplings (alternating parity),
    a squeeze, 3 channel couplings, then factors out half of the channels, which go straight
    to the latent. The last scale applies 4 checkerboard couplings. Every coupling is preceded
    by ActNorm. ``forward`` returns the latent flattened to ``(B, C*H*W)`` (factored-out parts
    first, in order), ``inverse`` takes it back.

    Args:
        shape: ``(C, H, W)``; H and W must be divisible by ``2 ** (n_scales - 1)``.
        n_scales: number of scales.
        width: channels of the conditioner ResNets.
        n_blocks: residual blocks per conditioner.
    """

    def __init__(self, shape: Sequence[int], n_scales: int = 2, width: int = 64, n_blocks: int = 2) -> None:
        super().__init__()
        C, H, W = shape
        f = 2 ** (n_scales - 1)
        if n_scales < 1 or H % f or W % f:
            raise GenzooError(f"images of size {H}x{W} cannot be squeezed {n_scales - 1} times; lower n_scales")
        self.shape = (C, H, W)
        self.scales = nn.ModuleList()
        self.split_shapes: list[tuple[int, int, int]] = []
        for k in range(n_scales):
            layers: list[nn.Module] = []
            last = k == n_scales - 1
            for i in range(4 if last else 3):
                layers += [ActNorm(C), ImageCoupling(C, "checkerboard", i % 2, width, n_blocks)]
            if not last:
                C, H, W = 4 * C, H // 2, W // 2
                for i in range(3):
                    layers += [ActNorm(C), ImageCoupling(C, "channel", i % 2, width, n_blocks)]
                self.split_shapes.append((C // 2, H, W))
                C = C // 2
            self.scales.append(nn.ModuleList(layers))
        self.final_shape = (C, H, W)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        outs: list[Tensor] = []
        for k, layers in enumerate(self.scales):
            for i, layer in enumerate(layers):
                if k < len(self.split_shapes) and i == 6:
                    x = squeeze(x)
                x, ld = layer(x)
                logdet = logdet + ld
            if k < len(self.split_shapes):
                z_out, x = x.chunk(2, dim=1)
                outs.append(z_out.flatten(1))
        outs.append(x.flatten(1))
        return torch.cat(outs, 1), logdet  # (B, C*H*W), (B,)

    def inverse(self, z: Tensor) -> Tensor:
        sizes = [math.prod(s) for s in self.split_shapes] + [math.prod(self.final_shape)]
        parts = list(z.split(sizes, dim=1))
        x = parts[-1].view(z.shape[0], *self.final_shape)
        for k in reversed(range(len(self.scales))):
            layers = self.scales[k]
            if k < len(self.split_shapes):
                x = torch.cat([parts[k].view(z.shape[0], *self.split_shapes[k]), x], 1)
            for i in reversed(range(len(layers))):
                x = layers[i].inverse(x)
                if k < len(self.split_shapes) and i == 6:
                    x = unsqueeze(x)
        return x


@FLOWS.register("coupling", flat=True, help="RealNVP stack of affine couplings on the flattened examples")
def coupling(shape: tuple[int, ...], n_layers: Annotated[int, Range(1, 1000)] = 8, hidden: Sizes = (64, 64), act: str = "relu",
             actnorm: bool = True) -> CouplingFlow:
    """A :class:`CouplingFlow` on ``prod(shape)`` features.

    Args:
        n_layers: coupling layers (masks alternate between the two halves).
        hidden: hidden widths of each conditioner MLP.
        act: their activation.
        actnorm: a data-initialised ActNorm before each coupling.
    """
    return CouplingFlow(math.prod(shape), n_layers, hidden, act, actnorm)


@FLOWS.register("multiscale", help="RealNVP multi-scale image flow (checkerboard/channel couplings, squeeze, factor-out)")
def multiscale(shape: tuple[int, ...], n_scales: Annotated[int, Range(1, 8)] = 2, width: Annotated[int, Range(1, 4096)] = 64, n_blocks: Annotated[int, Range(1, 100)] = 2) -> MultiScaleFlow:
    """A :class:`MultiScaleFlow` on ``(C, H, W)`` images.

    Args:
        n_scales: scales; H and W must be divisible by ``2 ** (n_scales - 1)``.
        width: channels of the conditioner ResNets.
        n_blocks: residual blocks per conditioner.
    """
    if len(shape) != 3:
        raise GenzooError(f"the multiscale flow needs images (C, H, W), got shape {tuple(shape)}; use flow type coupling")
    return MultiScaleFlow(shape, n_scales, width, n_blocks)
