"""Two-sample distances between model samples and test data: MMD with a permutation test, sliced and exact Wasserstein.

All three compare ``n`` model samples with ``n`` test examples in the data's own space (pixels
for images, coordinates for points), flattened to vectors:

- ``mmd``: the unbiased MMD² of Gretton et al. (2012) with a mixture of kernels whose
  bandwidths follow the median heuristic, and a permutation p-value for H0: p_model = p_data;
- ``sliced_wasserstein``: the sliced W2 (and W1) of Rabin et al. (2011) / Bonneel et al. (2015),
  a Monte-Carlo average over random directions of closed-form 1-D distances;
- ``wasserstein``: the exact W1 and W2 between the two empirical measures by the network
  simplex of POT (optional extra ``genzoo[ot]``); O(n³), so ``n`` is capped (2 000 by default).

Model samples come from :func:`genzoo.metrics.quality.model_samples` (seeded by ``ctx.seed``,
memoised in ``ctx.cache``), so every sample-based metric of one evaluation sees the same draw.

References:
    Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A kernel two-sample test", JMLR 2012.
    Rabin, Peyré, Delon & Bernot, "Wasserstein barycenter and its application to texture mixing", SSVM 2011.
    Bonneel, Rabin, Peyré & Pfister, "Sliced and Radon Wasserstein barycenters of measures", JMIV 2015.
    Flamary et al., "POT: Python Optimal Transport", JMLR 2021.
    Phipson & Smyth, "Permutation p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 2010.
"""

from __future__ import annotations

import contextlib
import math
from typing import Annotated, Any, Callable, Iterator, Sequence

import torch
from torch import Tensor

from ..config import PosFloat, PosInt, Range
from ..divergences import KERNELS, kernel_mixture
from ..errors import GenzooError
from .base import EvalContext, NotApplicable, metric
from .features import track
from .quality import model_samples



# -- shared helpers ----------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(ctx: EvalContext) -> Iterator[None]:
    """Seed torch's global generators with ``ctx.seed`` inside, restoring the caller's state after."""
    devices = [ctx.device] if torch.device(ctx.device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(ctx.seed)
        yield


def data_examples(ctx: EvalContext, n: int | None = None) -> Tensor:
    """The first ``min(n or ctx.n, test size)`` test examples on ``ctx.device``."""
    m = min(ctx.n if n is None else n, len(ctx.data.x_test))
    if m < 1:
        raise GenzooError(f"{ctx.data.info.name} has no test examples; evaluate on data with a test split")
    return ctx.data.x_test[:m].to(ctx.device).float()


def mean_stderr(v: Tensor) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); NaN for n = 1) of per-example values ``(n,)``."""
    v = v.double().flatten()
    se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se


@torch.no_grad()
def per_example(ctx: EvalContext, x: Tensor, fn: Callable[[Tensor], Tensor], description: str, batch_size: int | None = None) -> Tensor:
    """``fn`` applied to ``x`` in chunks of ``batch_size`` (default ``ctx.batch_size``), concatenated: ``(N,)`` float64."""
    bs = batch_size or ctx.batch_size
    starts = range(0, len(x), bs)
    return torch.cat([fn(x[i : i + bs]).double().flatten() for i in track(starts, len(starts), description, ctx.progress)])


# -- MMD ---------------------------------------------------------------------------------------


def median_distance(z: Tensor, max_points: int = 1000, generator: torch.Generator | None = None) -> float:
    """Median of the pairwise Euclidean distances among at most ``max_points`` rows of ``z (N, D)``.

    The median heuristic of Gretton et al. (2012, §8); a random subset keeps it O(max_points²).
    """
    z = z.flatten(1).double()
    if len(z) > max_points:
        z = z[torch.randperm(len(z), generator=generator)[:max_points].to(z.device)]
    d = torch.cdist(z, z)
    iu = torch.triu_indices(len(z), len(z), 1, device=z.device)
    med = float(d[iu[0], iu[1]].median())
    return med if med > 0 else 1.0  # all points equal: any bandwidth gives MMD 0


@torch.no_grad()
def mmd_permutation_test(
    x: Tensor,
    y: Tensor,
    kernel: str = "gaussian",
    bandwidths: Sequence[float] | None = None,
    multipliers: Sequence[float] = (0.5, 1.0, 2.0),
    permutations: int = 200,
    generator: torch.Generator | None = None,
    block: int = 512,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Unbiased MMD² between ``x (N, ...)`` and ``y (M, ...)`` and its permutation p-value.

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{\sum_{i\ne j} k(x_i,x_j)}{N(N-1)}
        + \frac{\sum_{i\ne j} k(y_i,y_j)}{M(M-1)} - \frac{2\sum_{i,j} k(x_i,y_j)}{NM}

    with k a sum of kernels (:func:`~genzoo.divergences.kernel_mixture`) at ``bandwidths``
    (default: the median pooled distance times ``multipliers``). Under H0 (same distribution)
    the pooled sample is exchangeable, so the statistic recomputed on random relabellings of
    the pooled points is a draw from its null distribution; the p-value is
    (1 + #{permuted ≥ observed}) / (1 + permutations), which is never 0 and is valid (its
    probability of being ≤ α is ≤ α) for any number of permutations.

    The pooled kernel matrix is never stored: it is built in row blocks of ``block``, and
    every permutation's three block sums come from one product with a (N+M, 1+permutations)
    matrix of 0/1 group indicators (column 0 is the observed split). Cost O((N+M)² (D +
    permutations)), memory O(block (N+M) + (N+M) permutations).

    Args:
        x, y: the two samples (flattened to vectors); at least 2 each.
        kernel: ``gaussian``, ``laplacian`` or ``imq``.
        bandwidths: kernel scales; ``None``: median heuristic times ``multipliers``.
        permutations: random relabellings (0: no test, p-value NaN).
        generator: seeds the bandwidth subset and the permutations.

    Returns:
        ``(mmd2, p_value)``, float64 scalars.
    """
    if kernel not in KERNELS:
        raise GenzooError(f"unknown MMD kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    N, M = len(x), len(y)
    if N < 2 or M < 2:
        raise GenzooError(f"the unbiased MMD needs at least 2 points per set, got {N} and {M}; draw more samples")
    z = torch.cat([x.flatten(1), y.flatten(1)]).double()  # (T, D)
    T, dev = N + M, z.device
    if bandwidths is None:
        med = median_distance(z, generator=generator)
        bandwidths = [m * med for m in multipliers]
    bandwidths = [float(b) for b in bandwidths]
    ind = torch.zeros(T, 1 + permutations, dtype=torch.float64, device=dev)  # 1 where the point is in group "x"
    ind[:N, 0] = 1.0
    for p in range(1, 1 + permutations):
        ind[torch.randperm(T, generator=generator)[:N].to(dev), p] = 1.0
    xx = torch.zeros(1 + permutations, dtype=torch.float64, device=dev)
    xy = torch.zeros_like(xx)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    starts = range(0, T, block)
    for i in track(starts, len(starts), "MMD", progress):
        kb = kernel_mixture(z[i : i + block], z, bandwidths, kernel)  # (b, T)
        r = torch.arange(kb.shape[0], device=dev)
        kb[r, r + i] = 0.0  # the U-statistic leaves out k(z_i, z_i)
        ke = kb @ ind  # (b, 1 + P): row sums over each permutation's x group
        e = ind[i : i + block]
        xx += (e * ke).sum(0)
        xy += ((1.0 - e) * ke).sum(0)
        total += kb.sum()
    yy = total - xx - 2.0 * xy
    stats = xx / (N * (N - 1)) + yy / (M * (M - 1)) - 2.0 * xy / (N * M)
    if permutations == 0:
        return stats[0], torch.tensor(math.nan, dtype=torch.float64)
    p = (1.0 + (stats[1:] >= stats[0]).sum()) / (1.0 + permutations)
    return stats[0], p.to(torch.float64)


def _n_pair(ctx: EvalContext, n: int | None, cap: int | None = None) -> int:
    n = ctx.n if n is None else int(n)
    n = min(n, len(ctx.data.x_test)) if cap is None else min(n, cap, len(ctx.data.x_test))
    if n < 2:
        raise GenzooError(f"a two-sample distance needs at least 2 test examples, {ctx.data.info.name} gives {n}; raise -n or use a larger test split")
    return n


@metric("mmd", needs=("sample",), help="unbiased MMD² (Gaussian-mixture kernel, median heuristic) between samples and test data, with a permutation p-value")
def mmd_metric(
    ctx: EvalContext,
    kernel: str = "gaussian",
    bandwidths: tuple[PosFloat, ...] | None = None,
    multipliers: tuple[PosFloat, ...] = (0.5, 1.0, 2.0),
    permutations: Annotated[int, Range(0, 10**6)] = 200,
    n: PosInt | None = None,
) -> dict[str, Any]:
    """Unbiased MMD² of ``n`` (default ``ctx.n``, capped at the test size) samples vs test examples.

    Options:
        kernel: ``gaussian`` (default), ``laplacian`` or ``imq``.
        bandwidths: explicit kernel scales (data units); default median heuristic × ``multipliers``.
        multipliers: factors of the median pooled distance (default 0.5, 1, 2).
        permutations: relabellings for the p-value (200; 0 skips the test).
    """
    n = _n_pair(ctx, n)
    x = model_samples(ctx, n).to(ctx.device)
    y = data_examples(ctx, n)
    gen = torch.Generator().manual_seed(ctx.seed)
    if bandwidths is None:
        med = median_distance(torch.cat([x.flatten(1), y.flatten(1)]), generator=gen)
        bandwidths = [m * med for m in multipliers]
    mmd2, p = mmd_permutation_test(x, y, kernel, bandwidths, permutations=permutations, generator=gen, progress=ctx.progress)
    return {
        "value": float(mmd2),
        "p_value": float(p),
        "protocol": {"statistic": "unbiased MMD²", "n_samples": n, "n_test": n, "split": "test", "kernel": kernel,
                     "bandwidths": [round(float(b), 6) for b in bandwidths], "permutations": permutations,
                     "space": "data (flattened)"},
    }


# -- Wasserstein -------------------------------------------------------------------------------


def _wp_pow_sorted(u: Tensor, v: Tensor, p: float) -> Tensor:
    """W_p^p between 1-D empirical measures whose sorted atoms are the columns of ``u (N, P)``, ``v (M, P)`` -> ``(P,)``.

    W_p^p = ∫_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p dt; both quantile functions are step functions,
    constant between the merged breakpoints {i/N} ∪ {j/M}, so the integral is an exact finite sum.
    """
    N, M = len(u), len(v)
    if N == M:
        return (u - v).abs().pow(p).mean(0)
    t = torch.cat([torch.arange(1, N + 1, dtype=torch.float64) / N, torch.arange(1, M + 1, dtype=torch.float64) / M])
    t = torch.unique(t.clamp(max=1.0))  # sorted breakpoints, last = 1
    w = torch.diff(t, prepend=torch.zeros(1, dtype=torch.float64))  # interval lengths
    mid = t - w / 2
    iu = (mid * N).floor().long().clamp(max=N - 1).to(u.device)
    iv = (mid * M).floor().long().clamp(max=M - 1).to(v.device)
    return ((u[iu] - v[iv]).abs().pow(p) * w.to(u.device, u.dtype)[:, None]).sum(0)


def wasserstein_1d(u: Tensor, v: Tensor, p: float = 2.0) -> Tensor:
    """Exact W_p between 1-D samples ``u (N,)`` and ``v (M,)`` (or column-wise for ``(N, P)``, ``(M, P)``)."""
    squeeze = u.dim() == 1
    u, v = u.double().reshape(len(u), -1), v.double().reshape(len(v), -1)
    w = _wp_pow_sorted(u.sort(0).values, v.sort(0).values, p).pow(1.0 / p)
    return w[0] if squeeze else w


def sliced_wasserstein(x: Tensor, y: Tensor, projections: int = 128, p: float = 2.0,
                       generator: torch.Generator | None = None) -> Tensor:
    r"""Sliced Wasserstein distance SW_p between samples ``x (N, ...)`` and ``y (M, ...)``.

    .. math::
        SW_p(\mu, \nu) = \Big(\mathbb E_{\theta \sim U(S^{D-1})} W_p^p(\theta_\# \mu, \theta_\# \nu)\Big)^{1/p}

    estimated with ``projections`` random unit directions (normalised Gaussian draws from
    ``generator``); each 1-D distance is exact (sorted samples, :func:`wasserstein_1d`). For
    D = 1 every direction is ±1 and SW_p is the exact 1-D W_p. Float64.
    """
    x, y = x.flatten(1).double(), y.flatten(1).double()
    if x.shape[1] != y.shape[1]:
        raise GenzooError(f"sliced Wasserstein needs samples of equal dimension, got {x.shape[1]} and {y.shape[1]}")
    theta = torch.randn(projections, x.shape[1], generator=generator, dtype=torch.float64).to(x.device)
    theta = theta / theta.norm(dim=1, keepdim=True)  # (P, D)
    u = (x @ theta.T).sort(0).values  # (N, P)
    v = (y @ theta.T).sort(0).values  # (M, P)
    return _wp_pow_sorted(u, v, p).mean().pow(1.0 / p)


def wasserstein_exact(x: Tensor, y: Tensor, p: int = 2) -> Tensor:
    """Exact W_p (p = 1 or 2) between the empirical measures of ``x (N, ...)`` and ``y (M, ...)`` by POT's network simplex.

    Uniform weights 1/N and 1/M; ground cost ‖x - y‖^p. Needs the optional ``ot`` package.
    """
    try:
        import ot
    except ImportError as e:
        raise GenzooError('the exact Wasserstein distance needs the POT package; install it with pip install "genzoo[ot]"') from e
    if p not in (1, 2):
        raise GenzooError(f"exact Wasserstein supports p = 1 or 2, got {p}")
    xn = x.flatten(1).double().cpu().numpy()
    yn = y.flatten(1).double().cpu().numpy()
    cost = ot.dist(xn, yn, metric="sqeuclidean" if p == 2 else "euclidean")
    a = torch.full((len(xn),), 1.0 / len(xn), dtype=torch.float64).numpy()
    b = torch.full((len(yn),), 1.0 / len(yn), dtype=torch.float64).numpy()
    wpp = float(ot.emd2(a, b, cost, numItermax=10_000_000))
    return torch.tensor(max(wpp, 0.0) ** (1.0 / p), dtype=torch.float64)


@metric("sliced_wasserstein", needs=("sample",), help="sliced Wasserstein SW2 (and SW1) between samples and test data over random directions")
def sliced_wasserstein_metric(ctx: EvalContext, projections: Annotated[int, Range(1, 10**6)] = 128, n: PosInt | None = None) -> dict[str, Any]:
    """SW2 (value) and SW1 of ``n`` (default ``ctx.n``, capped at the test size) samples vs test examples, same directions for both."""
    n = _n_pair(ctx, n)
    x, y = model_samples(ctx, n).to(ctx.device), data_examples(ctx, n)
    sw2 = sliced_wasserstein(x, y, projections, 2.0, torch.Generator().manual_seed(ctx.seed))
    sw1 = sliced_wasserstein(x, y, projections, 1.0, torch.Generator().manual_seed(ctx.seed))
    return {"value": float(sw2), "sw1": float(sw1),
            "protocol": {"projections": projections, "n_samples": n, "n_test": n, "split": "test", "p": 2, "space": "data (flattened)"}}


@metric("wasserstein", needs=("sample",), help="exact W2 (and W1) between samples and test data by optimal transport (needs genzoo[ot])")
def wasserstein_metric(ctx: EvalContext, max_n: PosInt = 2000, n: PosInt | None = None) -> dict[str, Any]:
    """Exact W2 (value) and W1 of ``min(n or ctx.n, max_n, test size)`` samples vs test examples.

    Options:
        max_n: cap on both set sizes (default 2 000): the network simplex is roughly cubic in n.
    """
    try:
        import ot  # noqa: F401
    except ImportError:  # an optional extra that is missing: a capability this install lacks
        raise NotApplicable('metric \'wasserstein\' needs the optional POT package; pip install "genzoo[ot]", or use sliced_wasserstein') from None
    n = _n_pair(ctx, n, cap=max_n)
    x, y = model_samples(ctx, n).to(ctx.device), data_examples(ctx, n)
    w2 = wasserstein_exact(x, y, 2)
    w1 = wasserstein_exact(x, y, 1)
    return {"value": float(w2), "w1": float(w1),
            "protocol": {"n_samples": n, "n_test": n, "split": "test", "solver": "POT emd (exact)", "max_n": max_n, "space": "data (flattened)"}}
