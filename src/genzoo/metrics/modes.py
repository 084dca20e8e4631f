"""Mode coverage on 2-D Gaussian mixtures with known centres: the VEEGAN / PacGAN rules.

For a mixture of M equally weighted isotropic Gaussians with centres c_m and standard
deviation σ (``data.info.extras["centers"]`` and ``["std"]``, as the toy datasets
``8gaussians`` and ``25gaussians`` store them), on n model samples:

- a sample is *high quality* if it lies within 3σ of some centre;
- a mode is *captured* if at least one sample lies within 3σ of it (such a sample is high
  quality by definition);
- *reverse KL* is KL(q ‖ u) = Σ_m q_m log(q_m M) between the histogram q of the high-quality
  samples over their nearest centres and the uniform true mode weights u_m = 1/M. Modes with
  no sample contribute q_m log q_m = 0 (nothing is added for them, as in PacGAN's code);
  with no high-quality sample at all the histogram is undefined and the value is +inf.

References:
    Srivastava, Valkov, Russell, Gutmann & Sutton, "VEEGAN: Reducing mode collapse in GANs
    using implicit variational learning", NeurIPS 2017 (§5.1).
    Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative adversarial
    networks", NeurIPS 2018 (§5.1, Table 1).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..config import PosFloat, PosInt
from ..errors import GenzooError
from .base import EvalContext, NotApplicable, metric
from .quality import model_samples


def assign_modes(x: Tensor, centers: Tensor, std: float, k: float = 3.0) -> Tensor:
    """Index of the nearest centre for samples within ``k`` σ of it, else -1: ``(N,)``."""
    d = torch.cdist(x.double(), centers.double().to(x.device))  # (N, M)
    dist, idx = d.min(1)
    return torch.where(dist < k * std, idx, torch.full_like(idx, -1))


def mode_coverage(samples: Tensor, centers: Tensor | list, std: float, k: float = 3.0) -> dict[str, float]:
    """Modes captured, high-quality fraction and reverse KL (nats) of ``samples (N, D)`` against a mixture.

    Args:
        samples: model samples ``(N, D)``.
        centers: the mixture's centres ``(M, D)``.
        std: the components' standard deviation σ.
        k: the radius in units of σ (3 in VEEGAN and PacGAN).

    Returns:
        ``modes`` (number captured, 0..M), ``high_quality`` (fraction of samples within kσ of a
        centre, in [0, 1]), ``reverse_kl`` (KL(q ‖ uniform), +inf without high-quality samples)
        and ``total_modes`` (M). See the module docstring for the rules.
    """
    centers = torch.as_tensor(centers, dtype=torch.float64)
    x = samples.flatten(1).double()
    if x.shape[1] != centers.shape[1]:
        raise GenzooError(f"samples have {x.shape[1]} dimensions but the mixture centres have {centers.shape[1]}")
    if len(x) == 0:
        raise GenzooError("mode coverage needs at least one sample")
    M = len(centers)
    a = assign_modes(x, centers, std, k)  # (N,)
    counts = torch.bincount(a[a >= 0], minlength=M).double()  # (M,) high-quality samples per nearest centre
    captured = (torch.cdist(x, centers.to(x.device)) < k * std).any(0)  # (M,) some sample within kσ of the mode
    hq = float(counts.sum())
    q = counts / max(hq, 1.0)
    nz = q > 0
    rkl = float((q[nz] * torch.log(q[nz] * M)).sum()) if hq > 0 else math.inf
    return {"modes": float(captured.sum()), "high_quality": hq / len(x), "reverse_kl": rkl, "total_modes": float(M)}


@metric("modes", needs=("sample", "points"), higher_is_better=True,
        help="modes captured on a 2-D Gaussian mixture (VEEGAN/PacGAN 3σ rules), with high-quality fraction and reverse KL")
def modes_metric(ctx: EvalContext, n_samples: PosInt = 2500, k: PosFloat = 3.0) -> dict[str, Any]:
    """Number of captured modes (value) of ``n_samples`` model samples on a mixture with known centres.

    Options:
        n_samples: samples drawn (2 500 in VEEGAN and PacGAN).
        k: radius in σ of the high-quality and capture rules (3).
    """
    extras = ctx.data.info.extras
    if "centers" not in extras or "std" not in extras:
        raise NotApplicable(f"metric 'modes' needs a mixture with known centres and std, which {ctx.data.info.name} does not record")
    x = model_samples(ctx, n_samples).to(ctx.device)
    out = mode_coverage(x, extras["centers"], float(extras["std"]), k)
    return {"value": out["modes"], "high_quality": out["high_quality"], "reverse_kl": out["reverse_kl"],
            "total_modes": out["total_modes"],
            "protocol": {"n_samples": n_samples, "radius_std": k, "std": float(extras["std"]), "total_modes": int(out["total_modes"]),
                         "rules": "VEEGAN/PacGAN: high quality within kσ of a centre; captured if >=1 sample within kσ; KL(q || uniform)"}}
