"""Time-conditioned denoisers: a UNet for images and a residual MLP for points.

Both take ``(x, t, c=None)`` the way zuko's transforms take a ``context``: ``t`` is a ``(B,)``
tensor of (integer-valued) diffusion timesteps and ``c`` an optional condition, either int
labels ``(B,)`` or a float tensor ``(B, cond_dim)`` (a property value, a semantic code...).
Conditions go through :class:`ConditionEmbedding`, which also holds the learned *null*
condition used by classifier-free guidance: a label ``-1``, a row of NaNs, or ``c=None``
select it.

References:
    Ronneberger, Fischer & Brox, "U-Net", MICCAI 2015.
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (App. B: the
    PixelCNN++-style UNet with sinusoidal time embedding, GroupNorm and 16x16 attention).
    Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021 (adaptive
    GroupNorm: the time/condition embedding scales and shifts each normalised block).
    Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022 (the null condition).
"""

from __future__ import annotations

import math
from typing import Annotated, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Range, Size
from ..errors import GenzooError
from ..registry import NETS


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding of timesteps ``t (B,)`` -> ``(B, dim)`` (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], 1)
    return F.pad(emb, (0, dim % 2))


class ConditionEmbedding(nn.Module):
    """Embed int labels or float condition vectors into ``dim``; a learned null embedding for "no condition".

    Args:
        dim: embedding width.
        num_classes: > 0 for int labels ``(B,)`` in ``0 .. num_classes-1``; ``-1`` marks "none".
        cond_dim: > 0 for float conditions ``(B, cond_dim)``; a row of NaNs marks "none".

    With neither, every call returns zeros (an unconditional network).
    """

    def __init__(self, dim: int, num_classes: int = 0, cond_dim: int = 0) -> None:
        super().__init__()
        if num_classes and cond_dim:
            raise GenzooError("a condition is either int labels (num_classes) or a float vector (cond_dim), not both")
        self.dim, self.num_classes, self.cond_dim = dim, num_classes, cond_dim
        if num_classes:
            self.table = nn.Embedding(num_classes + 1, dim)  # the last row is the null condition
        elif cond_dim:
            self.proj = nn.Sequential(nn.Linear(cond_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
            self.null = nn.Parameter(torch.zeros(dim))

    @property
    def conditional(self) -> bool:
        return bool(self.num_classes or self.cond_dim)

    def forward(self, c: Tensor | None, batch: int, ref: Tensor) -> Tensor:
        """``(B, dim)`` embedding of ``c`` (``None``: the null condition for the whole batch)."""
        if not self.conditional:
            return torch.zeros(batch, self.dim, device=ref.device, dtype=ref.dtype)
        if self.num_classes:
            idx = torch.full((batch,), self.num_classes, device=ref.device, dtype=torch.long) if c is None else c.long().reshape(batch)
            if c is not None and bool(((idx < -1) | (idx >= self.num_classes)).any()):
                raise GenzooError(f"labels must lie in 0..{self.num_classes - 1} (or -1 for none), got {idx.min().item()}..{idx.max().item()}")
            return self.table(torch.where(idx < 0, self.num_classes, idx))
        null = self.null.to(ref.dtype).expand(batch, -1)
        if c is None:
            return null
        c = c.to(device=ref.device, dtype=ref.dtype).reshape(batch, self.cond_dim)
        drop = torch.isnan(c).all(1, keepdim=True)  # (B, 1)
        return torch.where(drop, null, self.proj(torch.nan_to_num(c)))


def _groups(ch: int, groups: int) -> int:
    g = min(groups, ch)
    while ch % g:
        g -= 1
    return g


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding scaling and shifting the second norm, plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (Ho et al.'s zero-init)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, 1)  # (B, C, 1, 1) each
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.drop(F.silu(h)))


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a (low-resolution) feature map, with a residual."""

    def __init__(self, ch: int, heads: int = 4, groups: int = 8) -> None:
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm = nn.GroupNorm(_groups(ch, groups), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).transpose(-1, -2).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        return x + self.out(h.transpose(-1, -2).reshape(B, C, H, W))


class UNet(nn.Module):
    """A denoiser ``(x (B, C, H, W), t (B,), c) -> (B, out_channels, H, W)``.

    Args:
        in_channels / out_channels: image channels in and out (``out`` = 2C when the model
            also predicts variances).
        width: channels of the first level; level i has ``width * mults[i]``.
        mults: channel multipliers, one per resolution (each level after the first halves H and W).
        blocks: residual blocks per level (the decoder has one more, taking the skips).
        attention: levels (0-based) that get self-attention after each block; the default
            ``None`` puts it at the lowest resolution only.
        num_classes / cond_dim: condition embedding (see :class:`ConditionEmbedding`).
        dropout: in every residual block.
        heads: attention heads.
        image_size: ``(H, W)``, to check the levels divide it.

    Example:
        >>> net = UNet(1, 1, width=16, mults=(1, 2), blocks=1, image_size=(8, 8))
        >>> net(torch.zeros(2, 1, 8, 8), torch.tensor([0, 999])).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        mults: Sequence[int] = (1, 2, 2),
        blocks: int = 2,
        attention: Sequence[int] | None = None,
        num_classes: int = 0,
        cond_dim: int = 0,
        dropout: float = 0.0,
        heads: int = 4,
        image_size: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        mults = tuple(int(m) for m in mults)
        if not mults or width < 1 or blocks < 1:
            raise GenzooError(f"a UNet needs width >= 1, blocks >= 1 and at least one level, got width={width}, blocks={blocks}, mults={mults}")
        if image_size is not None:
            f = 2 ** (len(mults) - 1)
            if any(s % f for s in image_size):
                raise GenzooError(f"a UNet with {len(mults)} levels halves the image {len(mults) - 1} times, so H and W must be "
                                  f"divisible by {f}; got {tuple(image_size)}; use fewer mults")
        attn = {len(mults) - 1} if attention is None else {int(a) for a in attention}
        if any(a < 0 or a >= len(mults) for a in attn):
            raise GenzooError(f"attention levels {sorted(attn)} must index the UNet's {len(mults)} levels (0..{len(mults) - 1})")
        bad = [width * mults[a] for a in sorted(attn) if (width * mults[a]) % heads]
        if bad:
            raise GenzooError(f"attention with {heads} heads needs channels divisible by {heads}, but a level has {bad[0]}; "
                              "change heads or width")
        self.in_channels, self.out_channels = in_channels, out_channels
        emb_dim = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.cond = ConditionEmbedding(emb_dim, num_classes, cond_dim)
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        chans = [width * m for m in mults]
        self.down = nn.ModuleList()
        skips = [width]
        ch = width
        for i, c_out in enumerate(chans):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(ch, c_out, emb_dim, dropout))
                ch = c_out
                if i in attn:
                    level.append(Attention(ch, heads))
                skips.append(ch)
            if i < len(chans) - 1:
                level.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
            self.down.append(level)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, dropout), Attention(ch, heads), ResBlock(ch, ch, emb_dim, dropout)])
        self.up = nn.ModuleList()
        for i, c_out in reversed(list(enumerate(chans))):
            level = nn.ModuleList()
            for _ in range(blocks + 1):
                level.append(ResBlock(ch + skips.pop(), c_out, emb_dim, dropout))
                ch = c_out
                if i in attn:
                    level.append(Attention(ch, heads))
            if i > 0:
                level.append(nn.Upsample(scale_factor=2, mode="nearest"))
                level.append(nn.Conv2d(ch, ch, 3, padding=1))
            self.up.append(level)
        self.head = nn.Sequential(nn.GroupNorm(_groups(ch, 8), ch), nn.SiLU(), nn.Conv2d(ch, out_channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def embed(self, t: Tensor, c: Tensor | None, ref: Tensor) -> Tensor:
        """Time plus condition embedding ``(B, 4 * width)``."""
        t = t.reshape(-1).expand(ref.shape[0]) if t.numel() == 1 else t
        e = self.time(timestep_embedding(t, self.width).to(ref.dtype))
        return e + self.cond(c, ref.shape[0], e)

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        emb = self.embed(t, c, x)
        h = self.stem(x)
        hs = [h]
        for level in self.down:
            for layer in level:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
                if not isinstance(layer, Attention):
                    hs.append(h)
                else:
                    hs[-1] = h
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for level in self.up:
            for layer in level:
                if isinstance(layer, ResBlock):
                    h = layer(torch.cat([h, hs.pop()], 1), emb)
                else:
                    h = layer(h)
        return self.head(h)


class UNetEncoder(nn.Module):
    """``(x (B, C, H, W), t (B,), c) -> (B, out_dim)``: the down path and middle of :class:`UNet`, then global pooling.

    The noise-aware classifier of classifier guidance (Dhariwal & Nichol 2021 use the UNet's
    encoder half with attention pooling; this one averages).
    """

    def __init__(self, in_channels: int, out_dim: int, width: int = 32, mults: Sequence[int] = (1, 2, 2), blocks: int = 1,
                 attention: Sequence[int] | None = None, num_classes: int = 0, cond_dim: int = 0, dropout: float = 0.0,
                 heads: int = 4, image_size: Sequence[int] | None = None) -> None:
        super().__init__()
        unet = UNet(in_channels, 1, width, mults, blocks, attention, num_classes, cond_dim, dropout, heads, image_size)
        self.width = width
        self.time, self.cond, self.stem, self.down, self.mid = unet.time, unet.cond, unet.stem, unet.down, unet.mid
        ch = width * tuple(mults)[-1]
        self.head = nn.Sequential(nn.GroupNorm(_groups(ch, 8), ch), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, out_dim))

    embed = UNet.embed

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        emb = self.embed(t, c, x)
        h = self.stem(x)
        for level in [*self.down, self.mid]:
            for layer in level:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return self.head(h)


class TimeMLP(nn.Module):
    """A denoiser for flat data ``(x (B, D), t (B,), c) -> (B, out_dim)``.

    ``x -> Linear -> [h + Linear(SiLU(LayerNorm(h) + emb))] x depth -> Linear``, the embedding
    being the sinusoidal time embedding (through a small MLP) plus the condition embedding.

    Args:
        in_dim / out_dim: data dimension in and out (``out`` = 2D with learned variances).
        width: hidden width; depth: residual blocks.
        num_classes / cond_dim: condition embedding (see :class:`ConditionEmbedding`).
        dropout: inside each block.
        out_shape: reshape the output to ``(B, *out_shape)`` (default ``(B, out_dim)``).
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 256, depth: int = 3, num_classes: int = 0,
                 cond_dim: int = 0, dropout: float = 0.0, out_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape) if out_shape is not None else (out_dim,)
        if math.prod(self.out_shape) != out_dim:
            raise GenzooError(f"out_shape {self.out_shape} does not hold {out_dim} values")
        if width < 1 or depth < 1:
            raise GenzooError(f"time_mlp needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
        self.in_dim, self.width = in_dim, width
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = ConditionEmbedding(width, num_classes, cond_dim)
        self.inp = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"norm": nn.LayerNorm(width), "fc1": nn.Linear(width, width), "fc2": nn.Linear(width, width),
                           "drop": nn.Dropout(dropout)})
            for _ in range(depth)
        )
        self.out = nn.Linear(width, out_dim)

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        x = x.flatten(1)  # (B, D)
        t = t.reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t
        e = self.time(timestep_embedding(t, self.width).to(x.dtype))
        e = e + self.cond(c, x.shape[0], e)
        h = self.inp(x)
        for b in self.blocks:
            h = h + b["fc2"](b["drop"](F.silu(b["fc1"](F.silu(b["norm"](h) + e)))))
        return self.out(h).reshape(x.shape[0], *self.out_shape)


# -- registered factories: NETS's calling convention (in_shape, out_shape, the condition's size, options) --------


Width = Annotated[int, Range(1, 4096)]
Mults = tuple[Annotated[int, Range(1, 64)], ...]
Levels = tuple[Annotated[int, Range(0, 16)], ...]
Blocks = Annotated[int, Range(1, 16)]
Dropout = Annotated[float, Range(0, 1, hi_open=True)]
Heads = Annotated[int, Range(1, 64)]


def _image_shapes(name: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, int, tuple[int, int]]:
    if len(in_shape) != 3 or len(out_shape) != 3 or tuple(in_shape[1:]) != tuple(out_shape[1:]):
        raise GenzooError(f"network '{name}' maps images (C, H, W) to images of the same size, not {tuple(in_shape)} -> "
                          f"{tuple(out_shape)}; use time_mlp for other data")
    return in_shape[0], out_shape[0], (in_shape[1], in_shape[2])


@NETS.register("unet", time=True, help="time-conditioned UNet: residual blocks, GroupNorm, attention at low resolution, condition embedding")
def unet(in_shape: tuple[int, ...], out_shape: tuple[int, ...], width: Width = 32, mults: Mults = (1, 2, 2),
         blocks: Blocks = 1, attention: Levels | None = None, dropout: Dropout = 0.0, heads: Heads = 4,
         num_classes: int = 0, cond_dim: int = 0) -> UNet:
    """A :class:`UNet` denoiser ``(B, C, H, W), t, c -> (B, C', H, W)``.

    Args:
        width: channels of the first level.
        mults: channel multiplier per level (each level after the first halves H and W).
        blocks: residual blocks per level.
        attention: levels with self-attention (default: the lowest resolution only).
        dropout: inside every residual block.
        heads: attention heads.
    """
    c_in, c_out, size = _image_shapes("unet", in_shape, out_shape)
    return UNet(c_in, c_out, width, mults, blocks, attention, num_classes, cond_dim, dropout, heads, size)


@NETS.register("unet_encoder", time=True, help="the UNet's down path pooled to a vector: a time-conditioned classifier of noisy images")
def unet_encoder(in_shape: tuple[int, ...], out_shape: tuple[int, ...], width: Width = 32, mults: Mults = (1, 2, 2),
                 blocks: Blocks = 1, attention: Levels | None = None, dropout: Dropout = 0.0, heads: Heads = 4,
                 num_classes: int = 0, cond_dim: int = 0) -> UNetEncoder:
    """A :class:`UNetEncoder` ``(B, C, H, W), t, c -> (B, K)``.

    Args:
        width: channels of the first level.
        mults: channel multiplier per level.
        blocks: residual blocks per level.
        attention: levels with self-attention (default: the lowest resolution only).
        dropout: inside every residual block.
        heads: attention heads.
    """
    if len(in_shape) != 3:
        raise GenzooError(f"network 'unet_encoder' reads images (C, H, W), not {tuple(in_shape)}; use time_mlp for other data")
    return UNetEncoder(in_shape[0], math.prod(out_shape), width, mults, blocks, attention, num_classes, cond_dim, dropout, heads,
                       tuple(in_shape[1:]))


@NETS.register("time_mlp", time=True, flat=True, help="time-conditioned residual MLP (sinusoidal time embedding, condition embedding)")
def time_mlp(in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: Size = 256, depth: Blocks = 3, dropout: Dropout = 0.0,
             num_classes: int = 0, cond_dim: int = 0) -> TimeMLP:
    """A :class:`TimeMLP` on flattened inputs ``(B, *in_shape), t, c -> (B, *out_shape)``.

    Args:
        hidden: width of every residual block.
        depth: residual blocks.
        dropout: inside each block.
    """
    return TimeMLP(math.prod(in_shape), math.prod(out_shape), hidden, depth, num_classes, cond_dim, dropout, tuple(out_shape))
