"""Reconstruction error of models with an encoder and a decoder, on the test set.

x̂ = decode(encode(x)) with the model's deterministic code (the posterior mean for a VAE,
the nearest codebook vectors for a VQ-VAE, p(h | v) for an RBM, f(x) for a flow), compared
with x on the data's own scale (binarized test images for binarized data).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..config import PosInt
from .base import EvalContext, metric
from .two_sample import data_examples, mean_stderr, per_example


@metric("recon", needs=("encode",), help="test reconstruction error decode(encode(x)): squared error per example (and per dimension)")
def recon_metric(ctx: EvalContext, n: PosInt | None = None) -> dict[str, Any]:
    r"""Mean over test examples of :math:`\|\hat x - x\|^2` summed over dimensions (value), with its standard error.

    Also ``mse_per_dim``: the same divided by the data dimension D (the mean squared error per
    pixel / coordinate). Uses the first ``n`` (default ``ctx.n``) test examples.
    """
    x = data_examples(ctx, n)
    model = ctx.model

    def sq_err(xb: Tensor) -> Tensor:
        xr = model.decode(model.encode(xb)).reshape(xb.shape)
        return (xr.float() - xb).pow(2).flatten(1).sum(1)  # (B,)

    err = per_example(ctx, x, sq_err, "reconstruction")
    mean, se = mean_stderr(err)
    D = ctx.data.info.dim
    return {"value": mean, "stderr": se, "mse_per_dim": mean / D,
            "protocol": {"n_test": len(x), "split": "test", "code": "encode (deterministic)", "error": "squared, summed over dims"}}
