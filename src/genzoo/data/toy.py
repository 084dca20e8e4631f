"""2-D toy distributions: Gaussian mixtures (mode collapse), manifolds and checkerboards.

Every set is sampled from a ``torch.Generator`` seeded with ``seed`` (train first, then test,
from one stream), so the same options always give the same points. Where the structure is
known it is stored in ``DataInfo.extras`` as plain lists and floats (YAML-safe): the Gaussian
mixtures' ``centers`` and ``std``, the checkerboard's ``squares`` and ``cell``. From these
:func:`toy_log_density` gives the exact log-density, e.g. to plot it or score samples.

References:
    Gaussian ring and grid: Metz et al. 2017, "Unrolled Generative Adversarial Networks"
    (ring of 8, radius 2, std 0.02); Lin et al. 2018, "PacGAN" (grid of 25 at
    {-4,-2,0,2,4}^2, std 0.05; PacGAN's own ring is radius 1, std 0.01).
    Swiss roll, checkerboard, spirals, circles: Grathwohl et al. 2019, "FFJORD".
    Pinwheel: Johnson et al. 2016, "Composing graphical models with neural networks" (SVAE).
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated

import torch
from torch import Tensor

from ..config import Range, Seed
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo


#: Sizes of the toy sets: at most 10^7 points per split (160 MB as float64 while generated).
NTrain = Annotated[int, Range(1, 10**7)]
NTest = Annotated[int, Range(0, 10**7)]
#: A spread (standard deviation) or a noise level; positive and below 10^6.
Spread = Annotated[float, Range(0, 1e6, lo_open=True)]
Noise = Annotated[float, Range(0, 1e6)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _check_sizes(name: str, n_train: int, n_test: int) -> int:
    if n_train < 1 or n_test < 0:
        raise GenzooError(f"{name}: n_train must be >= 1 and n_test >= 0, got {n_train} and {n_test}")
    return n_train + n_test


def _plain(values: Tensor) -> list:
    """A tensor as nested Python floats, rounded so YAML shows 2.0 rather than 1.9999999999999998."""
    return [[round(float(v), 12) + 0.0 for v in row] for row in values.tolist()]


def _make(
    name: str, x: Tensor, n_train: int, y: Tensor | None = None, num_classes: int = 0, extras: dict | None = None
) -> Data:
    """Split ``x`` (float64, ``(N, 2)``) into train/test and attach metadata."""
    x = x.to(torch.float32)
    info = DataInfo(
        name=name,
        shape=(2,),
        kind="points",
        value_range=(float(x.min()), float(x.max())),
        num_classes=num_classes,
        extras=extras or {},
    )
    y_train = None if y is None else y[:n_train]
    y_test = None if y is None else y[n_train:]
    return Data(x[:n_train], x[n_train:], info, y_train, y_test)


def _mixture(name: str, centers: Tensor, std: float, n_train: int, n_test: int, seed: int) -> Data:
    """Equal-weight isotropic Gaussian mixture; labels are the component (mode) index."""
    n = _check_sizes(name, n_train, n_test)
    if std <= 0:
        raise GenzooError(f"{name}: std must be positive, got {std}")
    g = _gen(seed)
    labels = torch.randint(len(centers), (n,), generator=g)
    x = centers[labels] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    extras = {"centers": _plain(centers), "std": float(std)}
    return _make(name, x, n_train, labels, len(centers), extras)


@DATASETS.register("8gaussians", help="ring of 8 Gaussians (radius 1, std 0.01: PacGAN's 2D-ring), mode-collapse benchmark")
def eight_gaussians(
    n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, radius: Spread = 1.0, std: Spread = 0.01
) -> Data:
    """Eight equal Gaussians with means ``radius * (cos 2πk/8, sin 2πk/8)``, ``k = 0..7``.

    Defaults follow PacGAN's 2D-ring (Lin et al. 2018, whose "high-quality sample" rule is a
    distance of at most 3 std from a centre); ``radius=2, std=0.02`` gives Metz et al. 2017's.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        radius: radius of the ring of centres.
        std: standard deviation of every component (isotropic).
    """
    k = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centers = radius * torch.stack([torch.cos(k), torch.sin(k)], dim=1)  # (8, 2)
    return _mixture("8gaussians", centers, std, n_train, n_test, seed)


@DATASETS.register("25gaussians", help="5x5 grid of Gaussians at {-4,-2,0,2,4}^2 (std 0.05), PacGAN's 2D-grid")
def twenty_five_gaussians(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, std: Spread = 0.05) -> Data:
    """25 equal Gaussians centred on ``{-4, -2, 0, 2, 4}^2``: PacGAN's 2D-grid (Lin et al. 2018).

    Component ``5 i + j`` is centred at ``(-4 + 2 i, -4 + 2 j)``.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        std: standard deviation of every component (isotropic).
    """
    grid = [-4.0, -2.0, 0.0, 2.0, 4.0]
    centers = torch.tensor(list(itertools.product(grid, grid)), dtype=torch.float64)  # (25, 2)
    return _mixture("25gaussians", centers, std, n_train, n_test, seed)


@DATASETS.register("swissroll", help="2-D swiss roll spiral (FFJORD's), unlabelled")
def swissroll(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, noise: Noise = 0.2) -> Data:
    """Swiss roll ``(t cos t, t sin t) / 5`` with ``t ~ U[1.5π, 4.5π]`` plus Gaussian noise.

    Equivalent to FFJORD's ``make_swiss_roll(noise=1.0)[:, [0, 2]] / 5``.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        noise: standard deviation of the added Gaussian noise.
    """
    n = _check_sizes("swissroll", n_train, n_test)
    g = _gen(seed)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g, dtype=torch.float64))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 5
    x = x + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _make("swissroll", x, n_train)


@DATASETS.register("moons", help="two interleaving half circles, labelled by moon")
def moons(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, noise: Noise = 0.05) -> Data:
    """scikit-learn's two moons, centred on the origin; label 0 upper moon, 1 lower moon.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        noise: standard deviation of the added Gaussian noise.
    """
    n = _check_sizes("moons", n_train, n_test)
    g = _gen(seed)
    y = torch.randint(2, (n,), generator=g)
    theta = math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    upper = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    lower = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower) - torch.tensor([0.5, 0.25], dtype=torch.float64)
    x = x + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _make("moons", x, n_train, y, 2)


@DATASETS.register("circles", help="two concentric noisy circles (radii 3 and 1.5), labelled by circle")
def circles(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, noise: Noise = 0.24) -> Data:
    """Two concentric circles of radii 3 (label 0) and 1.5 (label 1), as FFJORD's ``circles``.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        noise: standard deviation of the added Gaussian noise (FFJORD: 0.08 before scaling by 3).
    """
    n = _check_sizes("circles", n_train, n_test)
    g = _gen(seed)
    y = torch.randint(2, (n,), generator=g)
    theta = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    r = torch.where(y == 0, 3.0, 1.5).to(torch.float64)
    x = r[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _make("circles", x, n_train, y, 2)


@DATASETS.register("checkerboard", help="uniform on the 8 dark squares of a 4x4 board over [-4,4]^2")
def checkerboard(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0) -> Data:
    """Uniform density on the squares ``[x0, x0+2) x [y0, y0+2)`` of a 4x4 board whose cell
    indices ``(i, j)`` have ``i + j`` even (8 squares of area 4 covering half of [-4, 4]^2).

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
    """
    n = _check_sizes("checkerboard", n_train, n_test)
    cell = 2.0
    corners = torch.tensor(
        [[-4 + cell * i, -4 + cell * j] for i in range(4) for j in range(4) if (i + j) % 2 == 0], dtype=torch.float64
    )  # (8, 2) lower-left corners
    g = _gen(seed)
    which = torch.randint(len(corners), (n,), generator=g)
    x = corners[which] + cell * torch.rand(n, 2, generator=g, dtype=torch.float64)
    return _make("checkerboard", x, n_train, extras={"squares": _plain(corners), "cell": cell})


@DATASETS.register("spirals", help="two intertwined spirals (FFJORD's 2spirals), labelled by arm")
def spirals(n_train: NTrain = 50_000, n_test: NTest = 10_000, seed: Seed = 0, noise: Noise = 0.1) -> Data:
    """Two point-symmetric spiral arms ``±(-t cos t, t sin t) / 3``, ``t = 3π sqrt(u)``.

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        noise: standard deviation of the added Gaussian noise.
    """
    n = _check_sizes("spirals", n_train, n_test)
    g = _gen(seed)
    y = torch.randint(2, (n,), generator=g)
    # sqrt(u) spreads points evenly along the arm length, which grows with t.
    t = 3 * math.pi * torch.sqrt(torch.rand(n, generator=g, dtype=torch.float64))
    arm = torch.stack([-t * torch.cos(t), t * torch.sin(t)], dim=1) / 3
    sign = 1.0 - 2.0 * y.to(torch.float64)
    x = sign[:, None] * arm + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _make("spirals", x, n_train, y, 2)


@DATASETS.register("pinwheel", help="pinwheel of 5 curved arms (Johnson et al. 2016), labelled by arm")
def pinwheel(
    n_train: NTrain = 50_000,
    n_test: NTest = 10_000,
    seed: Seed = 0,
    arms: Annotated[int, Range(1, 1000)] = 5,
    radial_std: Noise = 0.3,
    tangential_std: Noise = 0.1,
    rate: Annotated[float, Range(-100, 100)] = 0.25,
) -> Data:
    """Pinwheel: Gaussian blobs at ``(1, 0)`` bent by a rotation growing with the radius.

    A point ``f ~ N((1, 0), diag(radial_std², tangential_std²))`` of arm ``k`` is rotated by
    ``2πk/arms + rate * exp(f_0)`` and scaled by 2 (as in FFJORD).

    Args:
        n_train: number of training points.
        n_test: number of test points.
        seed: seed of the sampling generator.
        arms: number of arms (classes).
        radial_std: spread along an arm.
        tangential_std: spread across an arm.
        rate: how strongly the arms curl.
    """
    n = _check_sizes("pinwheel", n_train, n_test)
    if arms < 1:
        raise GenzooError(f"pinwheel: arms must be >= 1, got {arms}")
    g = _gen(seed)
    y = torch.randint(arms, (n,), generator=g)
    f = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([radial_std, tangential_std], dtype=torch.float64)
    f[:, 0] += 1.0
    angle = 2 * math.pi * y.to(torch.float64) / arms + rate * torch.exp(f[:, 0])
    c, s = torch.cos(angle), torch.sin(angle)
    x = 2 * torch.stack([c * f[:, 0] - s * f[:, 1], s * f[:, 0] + c * f[:, 1]], dim=1)
    return _make("pinwheel", x, n_train, y, arms)


def toy_log_density(info: DataInfo, points: Tensor) -> Tensor | None:
    """Exact log-density of a toy set at ``points`` ``(..., 2)``, or None where it is unknown.

    Known for the Gaussian mixtures (``extras`` has ``centers`` and ``std``: equal weights)
    and the checkerboard (``extras`` has ``squares`` and ``cell``: uniform on the squares,
    ``-inf`` off them). The answer depends only on ``info.extras``, never on the name.

    Args:
        info: the dataset's metadata.
        points: query points ``(..., 2)``.

    Returns:
        Log-densities ``(...)`` in the dtype and on the device of ``points``, or None.

    Example:
        >>> info = eight_gaussians(n_train=10, n_test=0).info
        >>> toy_log_density(info, torch.tensor([[2.0, 0.0]])).shape
        torch.Size([1])
    """
    extras = info.extras
    if "centers" in extras and "std" in extras:
        centers = torch.tensor(extras["centers"], dtype=points.dtype, device=points.device)  # (K, D)
        std = float(extras["std"])
        k, d = centers.shape
        sq = ((points[..., None, :] - centers) ** 2).sum(-1)  # (..., K)
        log_comp = -0.5 * sq / std**2 - d * math.log(std) - 0.5 * d * math.log(2 * math.pi)
        return torch.logsumexp(log_comp, dim=-1) - math.log(k)
    if "squares" in extras and "cell" in extras:
        corners = torch.tensor(extras["squares"], dtype=points.dtype, device=points.device)  # (S, 2)
        cell = float(extras["cell"])
        rel = points[..., None, :] - corners  # (..., S, 2)
        inside = ((rel >= 0) & (rel < cell)).all(-1).any(-1)  # (...)
        log_p = -math.log(len(corners) * cell**2)
        full = torch.full(inside.shape, log_p, dtype=points.dtype, device=points.device)
        return full.masked_fill(~inside, -math.inf)
    return None
