"""dSprites, generated procedurally: 2-D shapes on the original grid of five independent factors.

Every combination of

==========  ====  ===========================================
factor      size  values
==========  ====  ===========================================
shape       3     square, ellipse, heart
scale       6     linspace(0.5, 1, 6)
orientation 40    linspace(0, 2π, 40) radians
pos_x       32    linspace(0, 1, 32)
pos_y       32    linspace(0, 1, 32)
==========  ====  ===========================================

appears exactly once: 737,280 binary 64 × 64 images (Matthey et al. 2017). genzoo draws them
itself, no download: each pixel centre is mapped into the shape's own frame (translated,
rotated by −θ, divided by the scale) and tested against the shape's implicit region, so the
geometry is the same at every ``size`` (``size=32`` draws the same scene on a coarser grid).
The pictures follow the original's conventions (white sprite on black, a sprite of scale 1
about a quarter of the image wide, positions keeping it inside the frame) but are not
pixel-identical to DeepMind's files.

The whole grid is rendered on first use and cached as packed bits (``<cache>/dsprites/``,
94 MB at 32 × 32, 377 MB at 64 × 64); the training split then streams it
(:attr:`~genzoo.data.Data.stream`). With ``n_train`` it is a seeded random subset of the grid
held in memory (drawn directly, or read from the cache when there is one); the test split is
a seeded random sample of the grid with its factors. dSprites
has no held-out split — the factors are the point — so the two overlap, as in the papers'
disentanglement protocols. Labels are the factor *indices* ``(N, 5)`` int64, their names and
sizes in ``info.extras["factors"]`` and ``["factor_sizes"]``; ``info.num_classes`` is 0 (these
are factors, not classes).

References:
    Matthey, Higgins, Hassabis & Lerchner, "dSprites: Disentanglement testing Sprites dataset",
    https://github.com/deepmind/dsprites-dataset/, 2017.
    Higgins et al., "β-VAE", ICLR 2017.
"""

from __future__ import annotations

from typing import Annotated

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..config import Range, Seed, atomic_write_bytes
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo

FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
N_IMAGES = math.prod(FACTOR_SIZES)  # 737,280


def factor_values(index: Tensor) -> Tensor:
    """Factor indices ``(N, 5)`` -> their values ``(N, 5)``: shape id, scale, angle (rad), x, y in [0, 1]."""
    i = index.double()
    return torch.stack([i[:, 0], 0.5 + 0.5 * i[:, 1] / 5, 2 * math.pi * i[:, 2] / 39, i[:, 3] / 31, i[:, 4] / 31], 1)


def grid_index(n: Tensor) -> Tensor:
    """Image numbers ``(N,)`` in the original order (shape slowest, pos_y fastest) -> factor indices ``(N, 5)``."""
    out = []
    n = n.long()
    for size in reversed(FACTOR_SIZES):
        out.append(n % size)
        n = n // size
    return torch.stack(out[::-1], 1)


def render(index: Tensor, size: int = 64) -> Tensor:
    r"""Images ``(N, size, size)`` (bool) of the factor indices ``index (N, 5)``.

    A pixel centre p (in units of the 64-pixel frame) is inside the sprite when its shape-frame
    coordinates u = R(−θ)(p − c) / (8 s) fall in the unit shape: the square max(|u₁|, |u₂|) ≤ 1,
    the ellipse u₁² + (u₂/0.5)² ≤ 1, the heart (x² + y² − 1)³ ≤ x² y³ for (x, y) = 1.15·(u₁, −u₂) + (0, 0.1).
    The centre c = 12 + 40·(x, y), so a rotated square of scale 1 (half-diagonal 11.3) stays inside.
    """
    v = factor_values(index).float()  # (N, 5)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) * (64.0 / size)  # pixel centres in 64-frame units
    py, px = torch.meshgrid(coords, coords, indexing="ij")  # (S, S): row = y (down), column = x
    out = torch.zeros(len(index), size, size, dtype=torch.bool)
    for shape in range(3):
        rows = torch.nonzero(index[:, 0] == shape).flatten()
        if len(rows) == 0:
            continue
        w = v[rows]
        dx = px[None] - (12 + 40 * w[:, 3, None, None])  # (n, S, S)
        dy = py[None] - (12 + 40 * w[:, 4, None, None])
        cos, sin = w[:, 2].cos()[:, None, None], w[:, 2].sin()[:, None, None]
        s = 8.0 * w[:, 1, None, None]
        u1 = (cos * dx + sin * dy) / s  # rotate by -θ, then undo the scale
        u2 = (cos * dy - sin * dx) / s
        if shape == 0:
            inside = torch.maximum(u1.abs(), u2.abs()) <= 1
        elif shape == 1:
            inside = u1.square() + (2 * u2).square() <= 1
        else:
            hx2, hy = (1.15 * u1).square(), 0.1 - 1.15 * u2
            inside = (hx2 + hy.square() - 1).pow(3) <= hx2 * hy.pow(3)
        out[rows] = inside
    return out


def _cache_dir() -> Path:
    root = os.environ.get("GENZOO_CACHE") or str(Path.home() / ".cache" / "genzoo")
    return Path(root) / "dsprites"


def packed_grid(size: int = 64, cache_dir: str | Path | None = None, chunk: int = 4096) -> np.ndarray:
    """All 737,280 images as packed bits ``(N, size*size/8)`` uint8, memory-mapped from the cache.

    Rendered (a minute or a few on one core) and written atomically on first use.
    """
    if size < 8 or size % 8 or size > 64:
        raise GenzooError(f"dsprites size must be a multiple of 8 from 8 to 64, got {size}")
    path = Path(cache_dir) if cache_dir is not None else _cache_dir()
    path = path / f"dsprites_{size}.bits"
    row = size * size // 8
    if not path.is_file() or path.stat().st_size != N_IMAGES * row:
        out = np.empty((N_IMAGES, row), dtype=np.uint8)
        for start in range(0, N_IMAGES, chunk):
            idx = grid_index(torch.arange(start, min(start + chunk, N_IMAGES)))
            out[start : start + len(idx)] = np.packbits(render(idx, size).reshape(len(idx), -1).numpy(), axis=1)
        atomic_write_bytes(path, out.tobytes())
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(N_IMAGES, row))


def unpack(bits: np.ndarray, size: int) -> Tensor:
    """Packed rows ``(N, size*size/8)`` -> float images ``(N, 1, size, size)`` in {0, 1}."""
    return torch.from_numpy(np.unpackbits(np.asarray(bits), axis=1).astype(np.float32)).view(-1, 1, size, size)


class DspritesStream(Dataset):
    """The whole grid as a map-style dataset of ``(image (1, size, size), factor indices (5,))`` (unpacked on access)."""

    def __init__(self, bits: np.ndarray, size: int) -> None:
        self.bits, self.size = bits, size

    def __len__(self) -> int:
        return len(self.bits)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        factors, n = [], int(i)
        for s in reversed(FACTOR_SIZES):
            n, r = divmod(n, s)
            factors.append(r)
        return unpack(self.bits[i : i + 1], self.size)[0], torch.tensor(factors[::-1])


@DATASETS.register("dsprites", help="dSprites (procedural, no download): 737,280 binary sprites on the grid shape x scale x "
                   "orientation x x x y, factors as labels; size=32 draws them on a 32x32 grid")
def dsprites(size: Annotated[int, Range(8, 64)] = 64, n_train: Annotated[int, Range(1, N_IMAGES)] | None = None,
             n_test: Annotated[int, Range(1, 10**7)] = 10_000, seed: Seed = 0,
             cache_dir: str | None = None) -> Data:
    """Args:
        size: image side (64 as the original; 32 or 16 draw the same scene coarser).
        n_train: ``None`` streams the whole grid from the cache; a number holds a seeded random
            subset of the grid in memory (float32: ``n_train * size² * 4`` bytes).
        n_test: a seeded random sample of the grid with factor labels, for the metrics.
        seed: seeds both samples.
        cache_dir: where the rendered bits live (default ``$GENZOO_CACHE/dsprites`` or
            ``~/.cache/genzoo/dsprites``).
    """
    if n_test < 1 or (n_train is not None and not 1 <= n_train <= N_IMAGES):
        raise GenzooError(f"dsprites: n_train must be 1..{N_IMAGES} (or null for all) and n_test >= 1, got {n_train}, {n_test}")
    if size < 8 or size % 8 or size > 64:
        raise GenzooError(f"dsprites size must be a multiple of 8 from 8 to 64, got {size}")
    g = torch.Generator().manual_seed(seed)
    test_idx = torch.randperm(N_IMAGES, generator=g)[:n_test].sort().values
    info = DataInfo("dsprites", (1, size, size), kind="image", value_range=(0.0, 1.0), num_classes=0, levels=2,
                    extras={"factors": list(FACTORS), "factor_sizes": list(FACTOR_SIZES), "shapes": list(SHAPES)})
    if n_train is None:  # the whole grid, streamed from the cache
        bits = packed_grid(size, cache_dir)
        ref = torch.randperm(N_IMAGES, generator=g)[:10_000].sort().values
        return Data(unpack(bits[ref.numpy()], size), unpack(bits[test_idx.numpy()], size), info, grid_index(ref),
                    grid_index(test_idx), stream=DspritesStream(bits, size))
    train_idx = torch.randperm(N_IMAGES, generator=g)[:n_train].sort().values
    return Data(images(train_idx, size, cache_dir), images(test_idx, size, cache_dir), info, grid_index(train_idx), grid_index(test_idx))


def images(numbers: Tensor, size: int, cache_dir: str | Path | None = None, chunk: int = 4096) -> Tensor:
    """Float images ``(N, 1, size, size)`` of grid numbers ``(N,)``: from the cache when it exists, else drawn."""
    path = (Path(cache_dir) if cache_dir is not None else _cache_dir()) / f"dsprites_{size}.bits"
    if path.is_file() and path.stat().st_size == N_IMAGES * size * size // 8:
        return unpack(packed_grid(size, cache_dir)[numbers.numpy()], size)
    return torch.cat([render(grid_index(numbers[i : i + chunk]), size).float().unsqueeze(1) for i in range(0, len(numbers), chunk)])
