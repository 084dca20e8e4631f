"""Resizing image datasets once, at load: the ``size=`` option of every image dataset.

The DCGAN paper and most GAN code (PyTorch-GAN, the DCGAN tutorial) train on 32x32 or 64x64
MNIST; genzoo's datasets take ``size=N`` and resize every image to ``N x N`` once, when the
data is loaded, so the training loop never resizes. ``DataInfo.shape`` follows and
``extras["size"]`` records it (so metrics key their cached feature network on it).

The filter is chosen by direction, the same way for every dataset:

* shrinking (both sides get smaller): **area** averaging, each output pixel the mean of the
  input area it covers. It is the exact box filter, keeps the mean intensity and does not
  alias thin strokes (28 -> 14 averages 2x2 blocks exactly).
* otherwise (enlarging, e.g. MNIST 28 -> 32 or 64): **bilinear** interpolation with
  ``align_corners=False`` and antialiasing, what torchvision's ``Resize`` does and therefore
  what the PyTorch-GAN and DCGAN-tutorial 32x32 MNIST protocols trained on.

Both are convex combinations of input pixels, so values stay within the input's range. The result is put
back on the dataset's grid of ``levels`` values (``round(x (L-1)) / (L-1)``; 256 for 8-bit
images), as resizing the 8-bit image itself would, so dequantization and bits/dim keep their
meaning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import GenzooError

#: Images resized per call of ``F.interpolate``: bounds the temporary float memory.
CHUNK = 8192


def check_size(size: object, name: str) -> int | None:
    """``size`` as a positive int (or ``None``); anything else is one GenzooError sentence."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise GenzooError(f"{name}: size must be a positive number of pixels (e.g. size=32), got {size!r}")
    return size


def resize_method(src: tuple[int, int], size: int) -> str:
    """``"area"`` when both sides of ``src = (H, W)`` shrink to ``size``, else ``"bilinear"``."""
    return "area" if src[0] >= size and src[1] >= size else "bilinear"


def resize_images(x: Tensor, size: int, levels: int = 0) -> Tensor:
    """Images ``x (N, C, H, W)`` resized to ``(N, C, size, size)`` (see the module notes).

    Args:
        x: float images.
        size: output side in pixels.
        levels: put the result back on the grid of this many values in [0, 1] (for images
            scaled to [0, 1]); 0 keeps it continuous.

    Returns:
        A new contiguous float tensor (``x`` itself when it already has the size and no
        re-quantization is needed).

    Example:
        >>> resize_images(torch.ones(2, 1, 28, 28), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    if x.dim() != 4:
        raise GenzooError(f"size= applies to images (N, C, H, W), got a tensor of shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    method = resize_method((h, w), size)
    out = torch.empty(len(x), x.shape[1], size, size, dtype=x.dtype, device=x.device)
    for i in range(0, len(x), CHUNK):
        part = x[i : i + CHUNK]
        if method == "area":
            out[i : i + CHUNK] = F.interpolate(part, size=(size, size), mode="area")
        else:
            out[i : i + CHUNK] = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    if levels > 1:
        out.mul_(levels - 1).round_().div_(levels - 1)
    return out


def resized_extras(extras: dict, src: tuple[int, int], size: int | None) -> dict:
    """``extras`` plus ``size``, ``resized_from`` and the filter used, when ``size`` changes the images."""
    if size is None or tuple(src) == (size, size):
        return dict(extras)
    return {**extras, "size": size, "resized_from": list(src), "resize": resize_method(src, size)}
