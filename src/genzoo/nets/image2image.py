"""Networks for image-to-image translation and for small digit classifiers.

Registered in :data:`~genzoo.registry.NETS` as ``resnet_generator`` (image -> image of the
same shape), ``patch_critic`` (image -> patch scores ``(1, h, w)``) and ``lenet`` (image ->
features), so a model takes them as components: ``--set model.generator.n_blocks=9``.

- :class:`ResnetGenerator`: CycleGAN's generator (Johnson et al. 2016's style-transfer net):
  a 7x7 stem, ``n_down`` stride-2 convolutions, ``n_blocks`` residual blocks, as many
  fractionally-strided convolutions back up, a 7x7 output convolution; instance norm and ReLU,
  reflection padding. Zhu et al. use 9 blocks at 256 px and 6 at 128 px with 64 base
  channels; at 28 x 28 two down-samplings leave a 7 x 7 map, so fewer channels suffice.
- :class:`PatchCritic`: the PatchGAN discriminator: 4x4 convolutions, stride 2 then 1,
  LeakyReLU(0.2), instance norm except on the first layer; it scores every overlapping patch
  (``(B, 1, h, w)`` raw scores), so it judges local texture and style rather than the layout.
- :class:`LeNetEncoder`: the LeNet of ADDA's digit experiments: two 5x5 convolutions (20, 50
  channels) each followed by 2x2 max-pooling and ReLU, then a 500-unit ReLU layer (the
  features a domain critic sees).

References:
    Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks", ICCV 2017, §4 and appendix 7.2 (architectures).
    Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", ECCV 2016.
    Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
    Networks", CVPR 2017 (PatchGAN).
    LeCun et al., "Gradient-based learning applied to document recognition", 1998;
    Tzeng et al., "Adversarial Discriminative Domain Adaptation", CVPR 2017, §5.1.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import torch
from torch import Tensor, nn

from ..config import Range
from ..errors import GenzooError
from ..registry import NETS


def _image_shape(shape: Sequence[int], what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise GenzooError(f"{what} needs images (C, H, W), got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


class ResidualBlock(nn.Module):
    """``x + conv-norm-relu-conv-norm(x)`` with reflection padding, channels unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Images ``(B, C, H, W) -> (B, C, H, W)`` raw outputs (the caller applies sigmoid/tanh).

    Args:
        shape: image shape ``(C, H, W)``.
        width: channels of the stem; each down-sampling doubles them.
        n_blocks: residual blocks at the lowest resolution.
        n_down: stride-2 down-samplings (fewer when the sides do not divide by ``2**n_down``).

    Example:
        >>> g = ResnetGenerator((1, 28, 28), width=8, n_blocks=2)
        >>> g(torch.zeros(3, 1, 28, 28)).shape
        torch.Size([3, 1, 28, 28])
    """

    def __init__(self, shape: Sequence[int], width: int = 32, n_blocks: int = 6, n_down: int = 2) -> None:
        super().__init__()
        c, h, w = _image_shape(shape, "a ResNet generator")
        while n_down > 0 and (h % 2**n_down or w % 2**n_down or min(h, w) // 2**n_down < 2):
            n_down -= 1
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c, width, 7), nn.InstanceNorm2d(width), nn.ReLU(inplace=True)]
        ch = width
        for _ in range(n_down):  # (ch, H, W) -> (2ch, H/2, W/2)
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1), nn.InstanceNorm2d(2 * ch), nn.ReLU(inplace=True)]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(n_blocks)]
        for _ in range(n_down):  # (ch, H, W) -> (ch/2, 2H, 2W)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, c, 7)]
        self.net = nn.Sequential(*layers)
        for m in self.modules():  # Zhu et al.'s code: weights ~ N(0, 0.02)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchCritic(nn.Module):
    """Images ``(B, C, H, W)`` -> raw patch scores ``(B, 1, h, w)``.

    ``n_layers`` stride-2 convolutions (channels ``width, 2 width, ...``), one stride-1
    convolution, then a 1-channel stride-1 convolution. With the 70 x 70 PatchGAN's three
    stride-2 layers at 256 px; at 28 px two leave 7 x 7 maps and 5 x 5 patch scores, each
    seeing a 22 x 22 window.

    Example:
        >>> PatchCritic((1, 28, 28), width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 1, 5, 5])
    """

    def __init__(self, shape: Sequence[int], width: int = 64, n_layers: int = 2) -> None:
        super().__init__()
        c, h, w = _image_shape(shape, "a PatchGAN critic")
        while n_layers > 1 and min(h, w) // 2**n_layers < 3:
            n_layers -= 1
        layers: list[nn.Module] = [nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.InstanceNorm2d(2 * ch), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 2 * ch, 4, 1, 1), nn.InstanceNorm2d(2 * ch), nn.LeakyReLU(0.2, inplace=True),
                   nn.Conv2d(2 * ch, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class LeNetEncoder(nn.Module):
    """Images ``(B, C, H, W)`` -> features ``(B, features)`` (after ReLU).

    Args:
        shape: image shape ``(C, H, W)``; sides of at least 16 pixels (two 5x5 convolutions and
            two poolings).
        features: width of the feature layer (500 in ADDA).

    Example:
        >>> LeNetEncoder((1, 28, 28))(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 500])
    """

    def __init__(self, shape: Sequence[int], features: int = 500) -> None:
        super().__init__()
        c, h, w = _image_shape(shape, "a LeNet encoder")
        if min(h, w) < 16:
            raise GenzooError(f"a LeNet encoder needs images of at least 16x16, got {h}x{w}; resize the data with size=28")
        self.conv = nn.Sequential(
            nn.Conv2d(c, 20, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True), nn.Flatten(),
        )
        flat = 50 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)  # 800 at 28 x 28
        self.fc = nn.Sequential(nn.Linear(flat, features), nn.ReLU(inplace=True))
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))


def _same_image(in_shape: Sequence[int], out_shape: Sequence[int], what: str) -> tuple[int, int, int]:
    if tuple(in_shape) != tuple(out_shape):
        raise GenzooError(f"{what} maps images to images of the same shape, not {tuple(in_shape)} -> {tuple(out_shape)}")
    return _image_shape(in_shape, what)


@NETS.register("resnet_generator", help="CycleGAN ResNet generator: 7x7 stem, stride-2 downs, residual blocks, ups (image -> image)")
def resnet_generator(in_shape: tuple[int, ...], out_shape: tuple[int, ...], width: Annotated[int, Range(1, 4096)] = 32,
                     n_blocks: Annotated[int, Range(0, 64)] = 6, n_down: Annotated[int, Range(0, 8)] = 2) -> ResnetGenerator:
    """A :class:`ResnetGenerator` for images of ``in_shape`` (= ``out_shape``).

    Args:
        width: channels of the stem (64 in the paper at 256 px); doubled by each down-sampling.
        n_blocks: residual blocks (9 at 256 px, 6 at 128 px in the paper).
        n_down: stride-2 down-samplings (2: 28 x 28 -> 7 x 7).
    """
    return ResnetGenerator(_same_image(in_shape, out_shape, "a ResNet generator"), width, n_blocks, n_down)


@NETS.register("patch_critic", help="PatchGAN critic: 4x4 convolutions scoring overlapping patches (image -> (1, h, w))")
def patch_critic(in_shape: tuple[int, ...], out_shape: tuple[int, ...] = (1,), width: Annotated[int, Range(1, 4096)] = 64,
                 n_layers: Annotated[int, Range(1, 8)] = 2) -> PatchCritic:
    """A :class:`PatchCritic`: one raw score per patch, ``(B, 1, h, w)`` (``out_shape`` must be ``(1,)``;
    roles that score examples average their per-patch losses over the patches).

    Args:
        width: channels of the first layer.
        n_layers: stride-2 layers (3 in the 70 x 70 PatchGAN at 256 px; 2 at 28 px).
    """
    if tuple(out_shape) != (1,):
        raise GenzooError(f"a patch critic gives one score per patch, so its role must expect (1,) scores, not {tuple(out_shape)}")
    return PatchCritic(_image_shape(in_shape, "a PatchGAN critic"), width, n_layers)


@NETS.register("lenet", help="LeNet of ADDA's digit experiments: conv 20, conv 50, a ReLU feature layer (image -> vector)")
def lenet(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> LeNetEncoder:
    """A :class:`LeNetEncoder` from images of ``in_shape`` to ``out_shape = (features,)`` (500 in ADDA)."""
    if len(tuple(out_shape)) != 1:
        raise GenzooError(f"a LeNet maps images to feature vectors (D,), not to {tuple(out_shape)}")
    return LeNetEncoder(_image_shape(in_shape, "a LeNet"), int(out_shape[0]))
