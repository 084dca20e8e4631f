"""RealNVP: inverse round trips, log-determinants vs autograd Jacobians, normalisation."""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.data.base import DataInfo
from genzoo.divergences import log_standard_normal
from genzoo.nets.coupling import CouplingFlow, MultiScaleFlow, squeeze, unsqueeze


from helpers import one_thread  # noqa: E402,F401  (autouse: one torch thread in this module)


def _perturbed(flow: torch.nn.Module, x: torch.Tensor, scale: float) -> torch.nn.Module:
    """Initialise ActNorm on ``x``, then move every parameter off its identity initialisation."""
    torch.manual_seed(1)
    flow(x)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn_like(p))
    return flow.eval()


def _check_logdet(fn, x: torch.Tensor, logdet: torch.Tensor) -> None:
    for i in range(x.shape[0]):
        J = torch.autograd.functional.jacobian(lambda v: fn(v.unsqueeze(0))[0], x[i], vectorize=True)
        n = x[i].numel()
        exact = torch.linalg.slogdet(J.reshape(n, n))[1]
        assert torch.allclose(logdet[i], exact, atol=1e-8), (logdet[i], exact)


def test_coupling_flow_round_trip_and_logdet() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 5, dtype=torch.float64)
    flow = _perturbed(CouplingFlow(5, n_layers=4, hidden=(16,)).double(), x, 0.3)
    z, logdet = flow(x[:4])
    assert torch.allclose(flow.inverse(z), x[:4], atol=1e-10)
    _check_logdet(lambda v: flow(v)[0], x[:4], logdet)


def test_multiscale_flow_round_trip_and_logdet() -> None:
    torch.manual_seed(0)
    x = torch.rand(32, 1, 4, 4, dtype=torch.float64)
    assert torch.equal(unsqueeze(squeeze(x)), x)
    flow = _perturbed(MultiScaleFlow((1, 4, 4), n_scales=2, width=8, n_blocks=1).double(), x, 0.1)
    z, logdet = flow(x[:2])
    assert z.shape == (2, 16)
    assert torch.allclose(flow.inverse(z), x[:2], atol=1e-10)
    _check_logdet(lambda v: flow(v)[0], x[:2], logdet)


def test_realnvp_2d_density_integrates_to_one() -> None:
    torch.manual_seed(0)
    info = DataInfo("pts", (2,), kind="points")
    model = genzoo.build("realnvp", info, flow={"n_layers": 4, "hidden": (16,)}).double()
    _perturbed(model.flow, torch.randn(256, 2, dtype=torch.float64), 0.2)
    g = torch.linspace(-10, 10, 501, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        mass = float(model.log_prob(grid).exp().sum() * (g[1] - g[0]) ** 2)
    # the density's mass in the box equals the share of the flow's samples that land in it
    # (the perturbed flow has heavy tails, so that share is not quite 1)
    inside = float((model.sample(20000).abs().amax(1) <= 10).double().mean())
    assert 0.9 < mass <= 1.0 and abs(mass - inside) < 0.01, (mass, inside)
    x = model.sample(5)
    assert x.shape == (5, 2) and torch.allclose(model.decode(model.encode(x)), x, atol=1e-8)


def test_image_log_prob_includes_the_logit_jacobian_and_bpd_bounds_the_discrete_likelihood() -> None:
    torch.manual_seed(0)
    info = DataInfo("img", (1, 1, 2), levels=2)
    model = genzoo.build("realnvp", info, flow={"type": "coupling", "n_layers": 4, "hidden": (16,)}, alpha=0.05).double()
    dequantised = model.dequantize(torch.randint(0, 2, (256, 1, 1, 2)).double())
    _perturbed(model.flow, model._to_logit(dequantised)[0].flatten(1), 0.3)
    # log_prob(y) = log N(z) + log|det dz/dy| for the whole map y -> logit -> flow
    y = torch.rand(3, 1, 1, 2, dtype=torch.float64)
    lp = model.log_prob(y)
    z = model.encode(y)
    _check_logdet(lambda v: model.encode(v), y, lp - log_standard_normal(z))
    # exact discrete P(k) = ∫_cell p_Y(y) dy by a midpoint rule. With y = (k + u) / L,
    # E_u[2^(-D bpd)] = E_u[p_Y(y) / L^D] = P(k) exactly, and by Jensen E_u[bpd] >= -log2 P(k) / D
    n = 100
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / (2 * n)
    cell = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 1, 1, 2)
    probs = []
    for k in ([0, 0], [0, 1], [1, 0], [1, 1]):
        kk = torch.tensor(k, dtype=torch.float64).view(1, 1, 1, 2)
        with torch.no_grad():
            pk = model.log_prob(cell + kk / 2).exp().mean() / 4  # cell volume (1/2)^2
            bpd = model.bits_per_dim(kk.expand(10000, 1, 1, 2))
        probs.append(pk)
        assert abs(float(torch.exp2(-2 * bpd).mean() / pk) - 1) < 0.05, (k, pk)
        assert float(bpd.mean()) >= -math.log2(float(pk)) / 2 - 0.01, (k, bpd.mean(), pk)
    # part of the y-density lies in the logit margin outside the unit cube, so the P(k) of
    # the 2^D cells sum to at most 1
    assert float(sum(probs)) <= 1.0 + 1e-6, probs
