"""DCGAN convolutional networks for small square images of any channel count.

The generator projects ``z`` linearly to a ``(ch, s0, s0)`` map and doubles the resolution
with fractionally-strided (transposed) convolutions; the discriminator mirrors it with
strided convolutions. Following Radford et al. (2016): no pooling, no fully connected hidden
layers, batch norm everywhere except the generator's output and the discriminator's input
layer, ReLU in the generator, LeakyReLU(0.2) in the discriminator, weights ~ N(0, 0.02).

The base size ``s0`` is ``side / 2^k`` for the largest ``k`` leaving ``s0 >= 4`` and whole:
64 -> 4 (four doublings), 32 -> 4, 28 -> 7 (two), 16 -> 4, 8 -> 4 (one). Sides with no such
``k`` (odd sides such as 7) keep ``s0 = side`` with one stride-1 convolution.

References:
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks", ICLR 2016.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import torch
from torch import Tensor, nn

from ..config import Range
from ..errors import GenzooError
from ..registry import NETS


def dcgan_plan(shape: Sequence[int]) -> tuple[int, int]:
    """``(s0, k)``: the base side and the number of resolution doublings for image ``shape``."""
    if len(shape) != 3:
        raise GenzooError(f"DCGAN networks need an image shape (C, H, W), got {tuple(shape)}; use an MLP for vectors")
    _, h, w = shape
    if h != w:
        raise GenzooError(f"DCGAN networks need square images, got {h}x{w}; resize or crop the data to a square")
    k = 0
    while h % (2 ** (k + 1)) == 0 and h // 2 ** (k + 1) >= 4:
        k += 1
    return h // 2**k, k


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z (B, latent_dim) -> (B, out_channels or C, H, W)`` raw outputs (no final activation).

    The caller applies a sigmoid/tanh or reads the outputs as logits/means.

    Args:
        latent_dim: size of the input code.
        shape: ``(C, H, W)`` of the images (square).
        width: channels of the last hidden layer; layer ``i`` from the output has
            ``width * 2^i`` channels (DCGAN's 64x64 net is ``width=128``: 1024-512-256-128).
        out_channels: output channels (e.g. ``2 * C`` for a Gaussian mean and log-scale).
        batch_norm: batch norm after the projection and every hidden layer (DCGAN's choice).

    Example:
        >>> g = DCGANGenerator(16, (1, 28, 28), width=8)
        >>> g(torch.zeros(3, 16)).shape
        torch.Size([3, 1, 28, 28])
    """

    def __init__(self, latent_dim: int, shape: tuple[int, int, int], width: int = 64, out_channels: int | None = None,
                 batch_norm: bool = True) -> None:
        super().__init__()
        s0, k = dcgan_plan(shape)
        self.latent_dim, self.shape = latent_dim, tuple(shape)
        out_c = out_channels or shape[0]
        ch = width * 2 ** max(k - 1, 0)
        self.base = (ch, s0, s0)
        # a linear projection of z "reshaped into a 4-dimensional tensor" is DCGAN's first layer
        self.project = nn.Linear(latent_dim, ch * s0 * s0, bias=not batch_norm)
        norm = (lambda n: nn.BatchNorm2d(n)) if batch_norm else (lambda n: nn.Identity())
        layers: list[nn.Module] = [norm(ch), nn.ReLU(inplace=True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=not batch_norm), norm(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers.append(nn.ConvTranspose2d(ch, out_c, 4, 2, 1) if k > 0 else nn.Conv2d(ch, out_c, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z.flatten(1)).view(z.shape[0], *self.base)  # (B, ch, s0, s0)
        return self.body(h)  # (B, out_c, H, W)


class DCGANDiscriminator(nn.Module):
    """``x (B, C, H, W) -> (B, out_dim)`` raw scores; :meth:`features` gives the body's output.

    The final linear map over the flattened ``(ch, s0, s0)`` features is DCGAN's last
    ``s0 x s0`` valid convolution written as a matrix product.

    Args:
        shape: ``(C, H, W)`` of the inputs (square); flat ``(B, C*H*W)`` inputs are reshaped.
        out_dim: outputs per example (1 for a GAN discriminator, a code size for an encoder).
        width: channels of the first layer, doubled at every stride-2 layer.
        batch_norm: batch norm after every layer but the first (turn off for WGAN-GP critics,
            whose per-example gradient penalty batch norm would invalidate).

    Example:
        >>> d = DCGANDiscriminator((3, 32, 32), width=8)
        >>> d(torch.zeros(2, 3, 32, 32)).shape, d.features(torch.zeros(2, 3, 32, 32)).shape
        (torch.Size([2, 1]), torch.Size([2, 512]))
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int = 1, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        s0, k = dcgan_plan(shape)
        self.shape = tuple(shape)
        c = shape[0]
        if k == 0:
            layers: list[nn.Module] = [nn.Conv2d(c, width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        else:
            layers = [nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(k - 1):
            layers.append(nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(2 * ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.feature_dim = ch * s0 * s0
        self.head = nn.Linear(self.feature_dim, out_dim)
        dcgan_init(self)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, feature_dim)`` (shared by InfoGAN's Q head)."""
        if x.dim() == 2:
            x = x.view(x.shape[0], *self.shape)
        return self.body(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (B, out_dim)


@NETS.register("conv", help="DCGAN-style convolutions: strided (image -> vector) or transposed (vector -> image)")
def conv(in_shape: tuple[int, ...], out_shape: tuple[int, ...], width: Annotated[int, Range(1, 4096)] = 64, batch_norm: bool = True) -> nn.Module:
    """A :class:`DCGANDiscriminator` for ``(C, H, W) -> (d,)`` or a :class:`DCGANGenerator` for ``(d,) -> (C, H, W)``.

    Args:
        width: channels of the layer at the image side; each layer towards the vector side
            doubles them (DCGAN's 64x64 networks: 128).
        batch_norm: batch norm in the hidden layers (a WGAN-GP critic turns it off).

    Example:
        >>> conv((1, 28, 28), (16,), width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 16])
        >>> conv((16,), (2, 28, 28), width=8)(torch.zeros(2, 16)).shape
        torch.Size([2, 2, 28, 28])
    """
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if len(in_shape) == 3 and len(out_shape) == 1:
        return DCGANDiscriminator(in_shape, out_shape[0], width, batch_norm)  # type: ignore[arg-type]
    if len(in_shape) == 1 and len(out_shape) == 3:
        return DCGANGenerator(in_shape[0], out_shape, width, out_shape[0], batch_norm)  # type: ignore[arg-type]
    raise GenzooError(f"a conv network maps images (C, H, W) to vectors or vectors to images, not {in_shape} -> {out_shape}; "
                      "use type mlp for this network")
