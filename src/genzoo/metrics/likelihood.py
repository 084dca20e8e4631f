"""Test log-likelihoods: importance-sampled and exact NLL, bits per dimension, Parzen windows, AIS.

Every figure is on the test split (``data.x_test``, first ``n`` examples; for binarized data
the test set binarized once with a fixed seed, DESIGN §8) and in nats unless it is bits/dim:

- ``nll``: -log p(x), one metric for every model that has it, by the best means it has; the
  protocol's ``kind`` says which:

  * ``exact``: ``-model.log_prob(x)`` of models with an exact density (flows; RBMs small
    enough for an exact log Z);
  * ``bound``: importance sampling with ``k`` posterior samples, ``model.nll_bound(x, k)``
    (Burda et al. 2016), an upper bound in expectation tightening as k grows (papers report
    k = 5000 or 1000; genzoo defaults to 1000);
  * ``estimate``: F(x) + log Z of an energy model with log Z by annealed importance sampling
    (Salakhutdinov & Murray 2008), which tends to under-estimate log Z and so the NLL.
- ``bpd``: bits per dimension of discrete data (see :func:`bits_per_dim`).
- ``parzen``: Parzen-window log-likelihood of model samples (Breuleux et al. 2011;
  Goodfellow et al. 2014; Li et al. 2015). Poor in high dimension (Theis et al. 2016): kept
  for comparison with those papers only.

References:
    Burda, Grosse & Salakhutdinov, "Importance weighted autoencoders", ICLR 2016.
    Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks", ICML 2008.
    Breuleux, Bengio & Vincent, "Quickly generating representative samples from an RBM-derived process", Neural Comput. 2011.
    Goodfellow et al., "Generative adversarial nets", NeurIPS 2014.
    Li, Swersky & Zemel, "Generative moment matching networks", ICML 2015.
    Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016.
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
"""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Any, Sequence

import torch
from torch import Tensor

from ..config import PosFloat, PosInt, Range
from ..data.base import Data
from ..distributions import Bernoulli
from ..models.base import HasLogProb, HasNLLBound
from ..models.rbm import ais_schedule
from .base import EvalContext, HasEnergy, NotApplicable, metric
from .features import track
from .quality import model_samples
from .two_sample import data_examples, mean_stderr, per_example, seeded

# -- Parzen windows ----------------------------------------------------------------------------


@torch.no_grad()
def parzen_log_likelihood(samples: Tensor, x: Tensor, sigma: float | Sequence[float] | Tensor, batch: int = 100) -> Tensor:
    r"""Log-density of each row of ``x (M, ...)`` under a Gaussian kernel density estimate on ``samples (N, ...)``.

    .. math::
        \log \hat p_\sigma(x) = \log \frac1N \sum_{i=1}^N \mathcal N(x; s_i, \sigma^2 I)
        = \operatorname{logsumexp}_i\Big(-\frac{\|x - s_i\|^2}{2\sigma^2}\Big) - \log N - \frac D2 \log(2\pi\sigma^2)

    Squared distances are computed once per block of ``batch`` rows (float64) and reused for
    every σ, so a grid of σ costs hardly more than one.

    Args:
        samples: kernel centres (model samples), flattened to ``(N, D)``.
        x: evaluation points, flattened to ``(M, D)``.
        sigma: one bandwidth, or a grid of S bandwidths.

    Returns:
        ``(M,)`` for one σ, ``(S, M)`` for a grid; float64.
    """
    sig = torch.as_tensor(sigma, dtype=torch.float64).to(samples.device)
    single = sig.dim() == 0
    sig = sig.reshape(-1)  # (S,)
    s = samples.flatten(1).double()
    s2 = s.pow(2).sum(1)
    D, N = s.shape[1], s.shape[0]
    const = -math.log(N) - 0.5 * D * torch.log(2 * math.pi * sig.pow(2))  # (S,)
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].flatten(1).double().to(s.device)
        d2 = (xb.pow(2).sum(1, keepdim=True) + s2 - 2 * xb @ s.T).clamp_min(0)  # (b, N)
        out.append(torch.stack([torch.logsumexp(d2 / (-2 * float(sj) ** 2), 1) for sj in sig]) + const[:, None])  # (S, b)
    ll = torch.cat(out, 1)
    return ll[0] if single else ll


def default_sigma_grid(x_val: Tensor, image: bool) -> Tensor:
    """The σ grid :func:`select_sigma` searches by default.

    Images on [0, 1]: 20 log-spaced values from 0.05 to 1 (the range where the GAN/GMMN
    papers' MNIST bandwidths, about 0.1-0.3, lie). Other data: 25 log-spaced values from
    10⁻³ to 1 times the mean per-dimension standard deviation of ``x_val``, wide enough for
    mixtures of very narrow components (8 Gaussians with σ = 0.01 on a ring of radius 1).
    """
    if image:
        return torch.logspace(math.log10(0.05), 0.0, 20, dtype=torch.float64)
    scale = float(x_val.flatten(1).double().std(0).mean()) if len(x_val) > 1 else 1.0
    return torch.logspace(-3.0, 0.0, 25, dtype=torch.float64) * (scale if scale > 0 else 1.0)


def select_sigma(samples: Tensor, x_val: Tensor, sigmas: Sequence[float] | Tensor | None = None, batch: int = 100) -> tuple[float, float]:
    """The σ of the grid ``sigmas`` maximising the mean validation Parzen log-likelihood, and that maximum.

    ``None`` uses the image grid of :func:`default_sigma_grid` (0.05 .. 1, 20 values).
    """
    grid = default_sigma_grid(x_val, image=True) if sigmas is None else torch.as_tensor(sigmas, dtype=torch.float64)
    scores = parzen_log_likelihood(samples, x_val, grid.reshape(-1), batch).mean(1)  # (S,)
    best = int(scores.argmax())
    return float(grid.reshape(-1)[best]), float(scores[best])


# -- bits per dimension ------------------------------------------------------------------------


def bits_per_dim(nll: Tensor, dim: int, levels: int = 0) -> Tensor:
    r"""Bits per dimension from a per-example negative log-likelihood ``nll`` in nats.

    For a probability mass (``levels = 0``): :math:`-\log P(x) / (D \ln 2)`. For a density p_Y on
    the unit cube evaluated at the dequantized point y = (k + u)/L (``levels = L``): the density
    of k + u on the integer scale is p_Y(y)/L^D, so

    .. math::
        \mathrm{bpd} = \frac{-\log p_Y(y) + D \log L}{D \ln 2},

    an upper bound, in expectation over u, on the bits/dim of the discrete k (Theis et al.
    2016). A uniform density on [0, 1]^D gives exactly log2 L (8 for 8-bit data).
    """
    extra = dim * math.log(levels) if levels else 0.0
    return (nll.double() + extra) / (dim * math.log(2.0))


def dequantize(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """y = (k + u) / L with k = round(x (L - 1)) the integer level of ``x`` on [0, 1] and u ~ U[0, 1)."""
    k = torch.round(x.double() * (levels - 1))
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x.device)
    return ((k + u) / levels).to(x.dtype)


# -- the test set ------------------------------------------------------------------------------


def binarized_test(ctx: EvalContext, n: int | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The first ``n`` test examples, binarized once (fixed seed) when ``info.binarize`` is set, and the protocol note."""
    x = data_examples(ctx, n)
    info = ctx.data.info
    if not info.binarize:
        return x, {}
    seed = int(info.extras.get("test_binarization_seed", 0))
    if bool(((x != 0) & (x != 1)).any()):  # stored as intensities: binarize once, as binarized-mnist does
        from ..data.mnist import binarize_once

        x = binarize_once(x, seed).to(ctx.device)
    return x, {"test_binarization": f"fixed Bernoulli draw, seed {seed}"}


def _require_exact(model: object, metric: str) -> None:
    """Models whose ``log_prob`` rests on an estimated normaliser (a large RBM's AIS log Z) say so."""
    if getattr(model, "log_prob_is_exact", True) is False:
        raise NotApplicable(f"metric '{metric}': {type(model).__name__}'s log Z is not exact at this size; use nll (its AIS estimate)")


def _intensity_caveat(ctx: EvalContext) -> dict[str, str]:
    """A Bernoulli likelihood (VAE decoder, RBM visibles) scored on 8-bit intensities is not a
    normalised likelihood of the data; the figure is still the common one, so it is kept and labelled."""
    info, model = ctx.data.info, ctx.model
    bernoulli = isinstance(getattr(model, "likelihood", None), Bernoulli) or getattr(model, "visible", None) == "bernoulli"
    if bernoulli and not _discrete(ctx.data) and info.levels > 2:
        return {"caveat": f"Bernoulli likelihood of {info.levels}-level intensities, not a normalised likelihood; "
                          "use binarized data for figures comparable with papers"}
    return {}


def _discrete(data: Data) -> bool:
    return bool(data.info.binarize) or data.info.levels == 2


# -- metrics -----------------------------------------------------------------------------------


#: Importance samples (``k``) of the ``nll`` and ``bpd`` bounds.
K = Annotated[int, Range(1, 10**6)]


def _exact(model: object) -> bool:
    return isinstance(model, HasLogProb) and getattr(model, "log_prob_is_exact", True) is not False


@metric("nll", help="test NLL in nats, -log p(x): exact (flows), an importance-sampled bound with k samples (VAEs) or an AIS estimate (RBMs)")
def nll_metric(ctx: EvalContext, k: K = 1000, n: PosInt | None = None, ais_scale: PosFloat = 1.0,
               ais_runs: Annotated[int, Range(1, 100_000)] = 100) -> dict[str, Any]:
    """Mean -log p(x) (nats) over the first ``n`` (default ``ctx.n``) test examples, as stored (binarized for binarized data).

    The model's best means decides, and ``protocol["kind"]`` says which (so figures of
    different kinds are never mistaken for each other):

    - ``exact``: ``-model.log_prob(x)`` (flows; RBMs small enough for an exact log Z). A density
      for continuous data, a probability for binary data; for 8-bit images use ``bpd``.
    - ``bound``: ``model.nll_bound(x, k)``, importance sampling with ``k`` posterior samples
      (Burda et al. 2016): an upper bound in expectation.
    - ``estimate``: mean free energy + log Z by annealed importance sampling (energy models;
      Salakhutdinov & Murray's schedule, see :func:`ais_nll`).

    Options:
        k: importance samples per example for ``bound`` (1000; Burda et al. and most later
            papers use 5000). The model splits the k samples itself, so k = 5000 fits.
        n: test examples (default ``-n``).
        ais_scale: multiplies the AIS step counts for ``estimate`` (1 = the paper's schedule).
        ais_runs: independent annealing runs for ``estimate`` (100 as in the paper).
    """
    model = ctx.model
    x, note = binarized_test(ctx, n)
    if _exact(model):
        nll = per_example(ctx, x, lambda xb: -model.log_prob(xb), "exact NLL")
        mean, se = mean_stderr(nll)
        return {"value": mean, "stderr": se, "protocol": {"kind": "exact", "n_test": len(x), "split": "test",
                                                          "estimator": "exact log_prob", **note}}
    if isinstance(model, HasNLLBound):
        with seeded(ctx):
            nll = per_example(ctx, x, lambda xb: model.nll_bound(xb, k=k), f"NLL (k={k})")
        mean, se = mean_stderr(nll)
        protocol = {"kind": "bound", "k": k, "n_test": len(x), "split": "test", "estimator": "importance sampling (IWAE bound)",
                    **note, **_intensity_caveat(ctx)}
        describe = getattr(model, "nll_protocol", None)  # bounds of other kinds (diffusion's VLB) describe themselves
        if callable(describe):
            protocol.update(describe(k))
        return {"value": mean, "stderr": se, "protocol": protocol}
    if isinstance(model, HasEnergy):
        return ais_nll(ctx, x, note, ais_scale, ais_runs)
    raise NotApplicable(f"metric 'nll' needs an exact log_prob, an nll_bound or an energy with AIS, which {type(model).__name__} lacks")


@metric("bpd", help="test bits per dimension of discrete data (uniform dequantization for densities; IS bound without log_prob)")
def bpd_metric(ctx: EvalContext, k: K = 1000, n: PosInt | None = None) -> dict[str, Any]:
    """Bits per dimension on the first ``n`` (default ``ctx.n``) test examples.

    - Binary data (``info.binarize`` or 2 levels): -log P(x) / (D ln 2) with the model's
      probability of the binarized test image (``log_prob``, else ``nll_bound`` with ``k``).
    - L-level data with ``log_prob``: one uniform dequantization y = (k + u)/L per example and
      (-log p(y) + D log L)/(D ln 2) (:func:`bits_per_dim`). ``log_prob`` must be a density on
      the unit cube, which is what RealNVP's is: it applies its logit transform
      s = logit(α + (1 - 2α) y) internally and includes its log-Jacobian, so p(y) here is
      the density of y itself and the formula matches ``RealNVP.bits_per_dim``.
    - L-level data without ``log_prob`` but with ``nll_bound``: a decoder with a discretized
      likelihood (``likelihood.levels``) gives a probability of the grid point x, so
      -log P(x)/(D ln 2); a continuous (Gaussian) decoder is a density, evaluated at the
      dequantized y with + D log L. The estimator is stated in the protocol.

    Not applicable to continuous data (``info.levels = 0``), or when neither capability exists.
    """
    info, model = ctx.data.info, ctx.model
    if not info.levels:
        raise NotApplicable(f"metric 'bpd' needs discrete data (info.levels > 0), which {info.name} is not; use exact_nll or nll")
    has_lp, has_nb = isinstance(model, HasLogProb), isinstance(model, HasNLLBound)
    if not (has_lp or has_nb):
        raise NotApplicable(f"metric 'bpd' needs 'log_prob' or 'nll_bound', which {type(model).__name__} lacks")
    if has_lp:
        _require_exact(model, "bpd")
    D = info.dim
    x, note = binarized_test(ctx, n)
    lik = getattr(model, "likelihood", None)

    def nll_of(xb: Tensor) -> Tensor:
        return -model.log_prob(xb) if has_lp else model.nll_bound(xb, k=k)

    with seeded(ctx):
        if _discrete(ctx.data) or (not has_lp and hasattr(lik, "levels")):
            levels, how = 0, "probability of the stored test values"
            nll = per_example(ctx, x, nll_of, "bpd")
        else:
            if not has_lp and isinstance(lik, Bernoulli):
                raise NotApplicable(f"metric 'bpd': a Bernoulli decoder on {info.levels}-level data is not a normalised density; "
                                    "train with likelihood=logistic or gaussian")
            gen = torch.Generator().manual_seed(ctx.seed)
            levels, how = info.levels, f"uniform dequantization y = (k + u)/{info.levels}, density on [0, 1]^D, + D log {info.levels}"
            nll = per_example(ctx, x, lambda xb: nll_of(dequantize(xb, info.levels, gen)), "bpd")
    bpd = bits_per_dim(nll, D, levels)
    mean, se = mean_stderr(bpd)
    est = "exact log_prob" if has_lp else f"importance-sampled nll_bound, k={k}"
    proto = {"n_test": len(x), "split": "test", "levels": info.levels, "estimator": est, "scale": how, **note}
    if not has_lp:
        proto["k"] = k
    return {"value": mean, "stderr": se, "protocol": proto}


@metric("parzen", needs=("sample",), higher_is_better=True,
        help="Parzen-window test log-likelihood of model samples, σ chosen on a validation split (Goodfellow et al. 2014)")
def parzen_metric(ctx: EvalContext, n_samples: PosInt | None = None, n_val: PosInt | None = None,
                  sigmas: tuple[PosFloat, ...] | None = None, n: PosInt | None = None) -> dict[str, Any]:
    """Parzen log-likelihood (nats) of the first ``n`` test examples under a KDE on ``n_samples`` model samples.

    σ maximises the mean log-likelihood of a validation split: the last ``n_val`` training
    examples (at most a fifth of the training set for small data). In the GAN/GMMN papers
    that split was held out of training; a genzoo model trained on the whole training split
    has seen it, which can only favour a smaller σ slightly.

    Options:
        n_samples: model samples (kernel centres); default ``-n`` (the papers used 10 000).
        n_val: validation examples for σ; default ``-n``.
        sigmas: the σ grid (default :func:`default_sigma_grid`); ``sigma_at_edge`` in the
            result flags a σ on the grid's boundary (widen the grid).
        n: test examples; default ``-n``.
    """
    n_samples = ctx.n if n_samples is None else n_samples
    n_val = ctx.n if n_val is None else n_val
    samples = model_samples(ctx, n_samples).to(ctx.device)
    x, note = binarized_test(ctx, n)
    x_train = ctx.data.x_train
    m = max(1, n_val if len(x_train) >= 5 * n_val else len(x_train) // 5)
    x_val = x_train[-m:].to(ctx.device).float()
    if ctx.data.info.binarize:
        from ..data.mnist import binarize_once

        x_val = binarize_once(x_val, ctx.seed).to(ctx.device)
    grid = default_sigma_grid(x_val, ctx.data.info.kind == "image") if sigmas is None else torch.as_tensor(sigmas, dtype=torch.float64)
    sigma, val_ll = select_sigma(samples, x_val, grid)
    ll = parzen_log_likelihood(samples, x, sigma)
    mean, se = mean_stderr(ll)
    flat = grid.reshape(-1)
    return {"value": mean, "stderr": se, "sigma": sigma, "val_ll": val_ll,
            "sigma_at_edge": sigma in (float(flat.min()), float(flat.max())),
            "protocol": {"n_samples": n_samples, "n_val": m, "n_test": len(x), "split": "test", "validation": f"last {m} training examples",
                         "sigma_grid": [round(float(s), 6) for s in flat], **note}}


#: Salakhutdinov & Murray's schedule as (end β, steps) segments: the default of ``ais_schedule``.
SM_SEGMENTS: tuple[tuple[float, int], ...] = inspect.signature(ais_schedule).parameters["segments"].default


def ais_nll(ctx: EvalContext, x: Tensor, note: dict[str, Any], scale: float = 1.0, n_runs: int = 100) -> dict[str, Any]:
    r"""-log p(x) = F(x) + log Z of an energy model averaged over the test examples ``x``, log Z by AIS.

    The schedule is Salakhutdinov & Murray's (β steps of 10⁻³ to 0.5, 10⁻⁴ to 0.9, 10⁻⁵ to 1:
    14 500 temperatures) with every segment's step count multiplied by ``scale``; the base
    model has the training data's marginals as visible biases. AIS is unbiased for Z, so
    log Z tends to be under-estimated and the NLL with it; ``log_z_width`` is the model's
    3-standard-error width of log Z (delta method over the ``n_runs`` weights), and
    ``stderr`` covers only the spread of F(x) over the test set.
    """
    segments = tuple((b, max(1, round(k * scale))) for b, k in SM_SEGMENTS)
    betas = ais_schedule(segments)
    with seeded(ctx):
        bar = (lambda r: track(r, len(r), "AIS", True)) if ctx.progress else None  # noqa: E731
        log_z, width = ctx.model.log_partition_ais(ctx.data.x_train.to(ctx.device), n_runs=n_runs, betas=betas,
                                                   **({"progress": bar} if bar else {}))
    f = per_example(ctx, x, ctx.model.free_energy, "free energy")
    mean, se = mean_stderr(f + log_z.double().cpu().to(f.device))
    return {"value": mean, "stderr": se, "log_z": float(log_z), "log_z_width": float(width),
            "protocol": {"kind": "estimate", "n_test": len(x), "split": "test", "estimator": "free energy + AIS log Z",
                         "ais_runs": n_runs, "ais_temperatures": len(betas) - 1, "ais_scale": scale,
                         "ais_base": "training-data marginals", **note, **_intensity_caveat(ctx)}}
