"""Sample quality: FID, KID, precision/recall on classifier features, and stacked-MNIST modes.

The maths are plain functions of two feature sets ``(N, D)`` (:func:`fid_from_features`,
:func:`kid`, :func:`precision_recall`); the registered metrics draw ``ctx.n`` model samples
and take the first ``min(ctx.n, len(x_test))`` test examples, embed both with the dataset's
feature network (:mod:`genzoo.metrics.features`: a classifier genzoo trains itself, the raw
coordinates for points data, or Inception with ``features="inception"``), and share the
samples and features through ``ctx.cache`` so evaluating all four metrics samples and embeds
once. Class-conditional models are sampled with ``c=None``: genzoo's cvae / cgan then draw
labels uniformly at random.

Numbers on genzoo's classifier features are *not* comparable with Inception-based FIDs in
papers; they compare across genzoo runs that share the feature network id recorded in each
result's protocol.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from ..config import PosInt, Range
from ..divergences import mmd2_from_kernels
from ..errors import GenzooError
from .base import EvalContext, NotApplicable, metric
from .features import CHANNELWISE, embed, feature_id, feature_net, inception_features, raw_features, track

# -- Fréchet distance ---------------------------------------------------------------------------


def _sqrtm_psd(a: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix via ``eigh`` (negative eigenvalues -> 0)."""
    lam, v = torch.linalg.eigh(a)
    return (v * lam.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> Tensor:
    r"""Fréchet (2-Wasserstein) distance² between N(mu1, cov1) and N(mu2, cov2), in float64.

    .. math::
        d^2 = \|\mu_1-\mu_2\|^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2\operatorname{tr}\big(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\big)^{1/2}

    The cross term uses :math:`\operatorname{tr}(\Sigma_1\Sigma_2)^{1/2} =
    \operatorname{tr}(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})^{1/2}` (the two matrices are
    similar), computed from symmetric eigen-decompositions (``torch.linalg.eigh``) rather than
    ``scipy.linalg.sqrtm`` of the non-symmetric product: the symmetric form has real,
    non-negative eigenvalues (tiny negative round-off is clamped to 0), so no imaginary parts
    arise, and it runs on any torch device. The result is clamped at 0.

    References:
        Dowson & Landau, "The Fréchet distance between multivariate normal distributions", 1982.
        Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
        equilibrium", NeurIPS 2017 (FID).
    """
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    s1 = _sqrtm_psd(cov1)
    m = s1 @ cov2 @ s1
    cross = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    d2 = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross
    return d2.clamp_min(0)


def gaussian_stats(f: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of features ``f (N, D)``, in float64."""
    f = f.double()
    if len(f) < 2:
        raise GenzooError(f"FID needs at least 2 examples per set, got {len(f)}; raise the sample count (-n)")
    mu = f.mean(0)
    fc = f - mu
    return mu, fc.T @ fc / (len(f) - 1)


def fid_from_features(f1: Tensor, f2: Tensor) -> Tensor:
    """Fréchet distance between Gaussians fitted to features ``f1 (N, D)`` and ``f2 (M, D)``."""
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))


# -- kernel inception distance ------------------------------------------------------------------


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """KID's cubic kernel ``k(x, y) = (x·y / d + 1)^3`` -> ``(N, M)``."""
    return (x @ y.T / x.shape[1] + 1.0).pow(3)


def kid(f1: Tensor, f2: Tensor, subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float | None]:
    r"""Kernel inception distance: unbiased MMD² with the cubic polynomial kernel, on subsets.

    Each of ``subsets`` rounds draws ``m = min(subset_size, N, M)`` rows of each set without
    replacement and computes the unbiased estimate

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)}\sum_{i\ne j}[k(x_i,x_j) + k(y_i,y_j)]
            - \frac{2}{m^2}\sum_{i,j}k(x_i,y_j),\qquad k(x,y) = (x^\top y/d + 1)^3,

    whose expectation is 0 for equal distributions (so it can be slightly negative).

    When ``m`` equals both set sizes every "subset" is the whole of both sets, so every round
    would give the same number (up to rounding): it is computed once and there is no spread.

    Returns:
        Mean and standard deviation over the subsets (the spread papers report as ±; subsets
        overlap, so ``std / sqrt(subsets)`` would understate the standard error); the standard
        deviation is ``None`` when the subsets cannot differ (one subset, or whole sets).

    References:
        Bińkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018.
    """
    f1, f2 = f1.double(), f2.double()
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise GenzooError(f"KID needs at least 2 examples per set, got {min(len(f1), len(f2))}; raise the sample count (-n)")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    whole = m == len(f1) == len(f2)
    vals = []
    for _ in range(1 if whole else subsets):
        x = f1[torch.randperm(len(f1), generator=gen)[:m]]  # (m, D)
        y = f2[torch.randperm(len(f2), generator=gen)[:m]]
        vals.append(mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y), unbiased=True))
    v = torch.stack(vals)
    return float(v.mean()), float(v.std()) if len(v) > 1 else None


# -- improved precision and recall --------------------------------------------------------------


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T).clamp_min(0)  # (A, B)


def knn_radii(x: Tensor, k: int = 3, chunk: int = 1000) -> Tensor:
    """Distance from each row of ``x (N, D)`` to its ``k``-th nearest other row: ``(N,)``."""
    if len(x) <= k:
        raise GenzooError(f"precision/recall with k={k} needs more than {k} examples per set, got {len(x)}; raise -n or lower k")
    out = [_sq_dists(x[i : i + chunk], x).topk(k + 1, dim=1, largest=False).values[:, k] for i in range(0, len(x), chunk)]
    return torch.cat(out).sqrt()  # index k skips the point itself (distance 0)


def in_manifold(query: Tensor, ref: Tensor, radii: Tensor, chunk: int = 1000) -> Tensor:
    """Whether each query row lies in some ball ``B(ref_j, radii_j)``: bool ``(Nq,)``."""
    r2 = radii.pow(2)
    return torch.cat([(_sq_dists(query[i : i + chunk], ref) <= r2).any(1) for i in range(0, len(query), chunk)])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    r"""Improved precision and recall of ``fake`` against ``real`` features via k-NN manifolds.

    Each set's manifold is the union of balls around its points with radius the distance to
    the point's ``k``-th nearest neighbour in the same set. Precision is the fraction of fake
    points inside the real manifold (quality), recall the fraction of real points inside the
    fake manifold (coverage). Features are centred on the real mean first, which leaves
    distances unchanged but reduces float32 cancellation.

    References:
        Kynkäänniemi, Karras, Laine, Lehtinen & Aila, "Improved precision and recall metric for
        assessing generative models", NeurIPS 2019.
    """
    c = real.float().mean(0)
    real, fake = real.float() - c, fake.float() - c
    precision = in_manifold(fake, real, knn_radii(real, k)).double().mean()
    recall = in_manifold(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)


# -- shared sampling and features for the registered metrics ------------------------------------

FEATURES = ("auto", "classifier", "inception", "raw")


def model_samples(ctx: EvalContext, n: int) -> Tensor:
    """``n`` samples of ``ctx.model`` (CPU float32), drawn once per evaluation with ``ctx.seed``.

    Drawn in chunks of ``ctx.batch_size`` with ``c=None`` (class-conditional models choose
    labels uniformly); cached in ``ctx.cache[("samples", n)]``.
    """
    key = ("samples", n)
    if key not in ctx.cache:
        dev = torch.device(ctx.device)
        out = []
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(ctx.seed)
            starts = range(0, n, ctx.batch_size)
            with torch.no_grad():
                for i in track(starts, len(starts), "sampling", ctx.progress):
                    out.append(ctx.sample(min(ctx.batch_size, n - i)).detach().float().cpu())
        ctx.cache[key] = torch.cat(out)
    return ctx.cache[key]


def _net(ctx: EvalContext, train_features: bool) -> tuple[Any, str]:
    """The dataset's feature network and its id (``ctx.cache["feature_net"]`` may preset one)."""
    if "feature_net" not in ctx.cache:
        try:
            net = feature_net(ctx.data, train=train_features, progress=ctx.progress)
        except GenzooError as e:
            if ctx.data.info.num_classes < 2 and ctx.data.info.name not in CHANNELWISE:
                raise NotApplicable(f"{ctx.data.info.name} has no labels to train a feature classifier on; pass features=inception or raw") from e
            raise
        ctx.cache["feature_net"] = net.to(torch.device(ctx.device))
    net = ctx.cache["feature_net"]
    if "feature_id" not in ctx.cache:
        ctx.cache["feature_id"] = feature_id(net)
    return net, ctx.cache["feature_id"]


def quality_features(ctx: EvalContext, features: str = "auto", train_features: bool = True) -> dict[str, Any]:
    """Real (test) and fake (model) features plus the protocol fields they imply, cached in ``ctx``."""
    if features not in FEATURES:
        raise GenzooError(f"unknown features {features!r}; choose one of: {', '.join(FEATURES)}")
    kind = ctx.data.info.kind
    if features == "auto":
        features = "raw" if kind == "points" else "classifier" if kind == "image" else ""
        if not features:
            raise NotApplicable(f"sample-quality metrics have no feature space for {kind} data")
    key = ("quality", features, ctx.n)
    if key in ctx.cache:
        return ctx.cache[key]
    n_real = min(ctx.n, len(ctx.data.x_test))
    real_x, fake_x = ctx.data.x_test[:n_real], model_samples(ctx, ctx.n)
    if features == "raw":
        fid_name, real, fake = "raw coordinates", raw_features(real_x), raw_features(fake_x)
    elif features == "inception":
        fid_name, real, fake = "inception-v3 (torch-fidelity, 2048-d)", inception_features(real_x), inception_features(fake_x)
    else:
        net, fid_name = _net(ctx, train_features)
        real = embed(net, real_x, batch_size=ctx.batch_size, progress=ctx.progress)
        fake = embed(net, fake_x, batch_size=ctx.batch_size, progress=ctx.progress)
    protocol = {"n_fake": len(fake), "n_real": n_real, "split": "test", "feature_net": fid_name, "seed": ctx.seed}
    if ctx.sampler is not None:
        protocol["sampler"] = repr(ctx.sampler)
    out = {"real": real, "fake": fake, "protocol": protocol}
    ctx.cache[key] = out
    return out


# -- registered metrics -------------------------------------------------------------------------


@metric("fid", needs=("sample",), help="Fréchet distance between test and sample features (classifier / raw / inception)")
def fid_metric(ctx: EvalContext, features: str = "auto", train_features: bool = True) -> dict[str, Any]:
    q = quality_features(ctx, features, train_features)
    return {"value": float(fid_from_features(q["real"], q["fake"])), "protocol": dict(q["protocol"])}


@metric("kid", needs=("sample",), help="kernel inception distance: unbiased cubic-kernel MMD² on features, mean over subsets")
def kid_metric(ctx: EvalContext, features: str = "auto", train_features: bool = True,
               subsets: Annotated[int, Range(1, 100_000)] = 100, subset_size: Annotated[int, Range(2, 10**6)] = 1000) -> dict[str, Any]:
    """KID on ``subsets`` random subsets of ``subset_size`` (capped at the set sizes) of each set.

    ``std`` (the spread over subsets) is reported only where subsets can differ: with
    ``-n`` at most ``subset_size`` (and as many test examples) every subset is the whole of
    both sets, so KID is computed once and the protocol says ``subsets: 1``.
    """
    q = quality_features(ctx, features, train_features)
    m = min(int(subset_size), len(q["real"]), len(q["fake"]))
    mean, std = kid(q["real"], q["fake"], int(subsets), m, torch.Generator().manual_seed(ctx.seed))
    out: dict[str, Any] = {"value": mean, "protocol": {**q["protocol"], "subsets": int(subsets) if std is not None else 1, "subset_size": m}}
    if std is not None:
        out["std"] = std
    else:
        out["protocol"]["spread"] = "none: every subset is the whole of both sets (raise -n above subset_size for one)"
    return out


def _pr(ctx: EvalContext, features: str, train_features: bool, k: int) -> tuple[tuple[float, float], dict[str, Any]]:
    q = quality_features(ctx, features, train_features)
    key = ("precision_recall", features, ctx.n, int(k))
    if key not in ctx.cache:
        ctx.cache[key] = precision_recall(q["real"], q["fake"], int(k))
    return ctx.cache[key], {**q["protocol"], "k": int(k)}


@metric("precision", needs=("sample",), higher_is_better=True, help="improved precision (k-NN manifold of test features): sample quality")
def precision_metric(ctx: EvalContext, features: str = "auto", train_features: bool = True, k: Annotated[int, Range(1, 1000)] = 3) -> dict[str, Any]:
    (p, r), protocol = _pr(ctx, features, train_features, k)
    return {"value": p, "recall": r, "protocol": protocol}


@metric("recall", needs=("sample",), higher_is_better=True, help="improved recall (k-NN manifold of sample features): coverage")
def recall_metric(ctx: EvalContext, features: str = "auto", train_features: bool = True, k: Annotated[int, Range(1, 1000)] = 3) -> dict[str, Any]:
    (p, r), protocol = _pr(ctx, features, train_features, k)
    return {"value": r, "precision": p, "protocol": protocol}


# -- stacked MNIST mode counting ----------------------------------------------------------------


def stacked_mode_stats(digits: Tensor, num_modes: int = 1000) -> dict[str, float]:
    r"""Modes covered and KL(mode histogram || uniform) of per-channel digits ``(N, 3)``.

    A sample's mode is the digit triple ``100 d_1 + 10 d_2 + d_3``; with histogram ``q`` over
    the 1000 modes, :math:`\mathrm{KL}(q\,\|\,u) = \sum_m q_m \log(1000\, q_m)` in nats.

    References:
        Srivastava et al., "VEEGAN", NeurIPS 2017; Lin et al., "PacGAN", NeurIPS 2018.
    """
    modes = (digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]).long()  # (N,)
    q = torch.bincount(modes, minlength=num_modes).double() / max(len(modes), 1)
    nz = q > 0
    return {"modes": float(nz.sum()), "kl": float((q[nz] * torch.log(q[nz] * num_modes)).sum())}


@torch.no_grad()
def classify_channels(net: Any, x: Tensor, batch_size: int = 500, progress: bool = False) -> Tensor:
    """Arg-max digit of each channel of stacked images ``x (N, 3, H, W)``: ``(N, 3)``."""
    dev = next(net.parameters()).device
    starts = range(0, len(x), batch_size)
    return torch.cat([net(x[i : i + batch_size].to(dev)).argmax(-1).cpu() for i in track(starts, len(starts), "classifying", progress)])


@metric("stacked_modes", needs=("sample",), higher_is_better=True, help="stacked MNIST: digit-triple modes (of 1000) covered by samples, and KL to uniform")
def stacked_modes_metric(ctx: EvalContext, n_samples: PosInt = 26_000, train_features: bool = True) -> dict[str, Any]:
    if ctx.data.info.name != "stacked-mnist":
        raise NotApplicable(f"stacked_modes counts digit triples of stacked-mnist, not {ctx.data.info.name}")
    net, fid_name = _net(ctx, train_features)
    x = model_samples(ctx, int(n_samples))
    stats = stacked_mode_stats(classify_channels(net, x, ctx.batch_size, ctx.progress))
    return {"value": stats["modes"], "kl": stats["kl"], "protocol": {"n_samples": int(n_samples), "num_modes": 1000,
            "classifier": fid_name, "seed": ctx.seed, "kl": "KL(q || uniform), nats"}}


__all__ = [
    "classify_channels", "fid_from_features", "frechet_distance", "gaussian_stats", "in_manifold", "kid", "knn_radii",
    "model_samples", "polynomial_kernel", "precision_recall", "quality_features", "stacked_mode_stats",
]
