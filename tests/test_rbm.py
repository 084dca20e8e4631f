"""RBM: free energy and log Z vs brute-force enumeration, AIS vs exact, the CD gradient."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import genzoo
from genzoo.data.base import Batch, DataInfo
from genzoo.models.rbm import RBM, ais_schedule


from helpers import one_thread  # noqa: E402,F401  (autouse: one torch thread in this module)


def _random_rbm(visible: str = "bernoulli", D: int = 6, H: int = 4, scale: float = 1.0, **kw) -> RBM:
    torch.manual_seed(0)
    m = RBM(DataInfo("t", (D,), kind="points"), H, visible=visible, **kw).double()
    with torch.no_grad():
        for p in (m.W, m.b, m.c):
            p.normal_(0.0, scale)
    return m


def _all_binary(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def test_free_energy_and_log_partition_match_brute_force() -> None:
    m = _random_rbm()
    V, Hs = _all_binary(6), _all_binary(4)
    neg_energy = V @ m.b[:, None] + (Hs @ m.c)[None] + V @ m.W @ Hs.T  # -E(v, h): (64, 16)
    with torch.no_grad():
        assert torch.allclose(-m.free_energy(V), torch.logsumexp(neg_energy, 1), atol=1e-10)
        assert torch.allclose(m.log_partition_exact(), torch.logsumexp(neg_energy.flatten(), 0), atol=1e-10)
        assert torch.allclose(m.log_prob(V).exp().sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-10)


def test_gaussian_rbm_log_partition_matches_numerical_integration() -> None:
    m = _random_rbm("gaussian", D=2, H=3, scale=0.7, sigma=0.8)
    g = torch.linspace(-9, 9, 901, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        numeric = torch.logsumexp(-m.free_energy(grid), 0) + 2 * math.log(float(g[1] - g[0]))
        assert abs(float(m.log_partition_exact() - numeric)) < 1e-6


def test_ais_agrees_with_exact_log_partition() -> None:
    betas = ais_schedule(((0.5, 200), (0.9, 400), (1.0, 400)))
    for visible in ("bernoulli", "gaussian"):
        m = _random_rbm(visible, D=8, H=5, scale=0.5)
        data = torch.bernoulli(torch.full((100, 8), 0.3, dtype=torch.float64))
        torch.manual_seed(1)
        est, width = m.log_partition_ais(data, n_runs=100, betas=betas)
        exact = m.log_partition_exact()
        assert abs(float(est - exact)) < max(0.05, float(width)), (visible, est, exact, width)


def test_cd_surrogate_gradient_is_the_cd_update() -> None:
    """Autograd of the logged loss = -(<v h>_data - <v h>_model) with the chain samples used."""
    m = _random_rbm(D=6, H=4, scale=0.5, k=3, pcd=True, n_chains=10)
    v = torch.bernoulli(torch.full((10, 6), 0.4, dtype=torch.float64))
    out = m.loss(Batch(v))
    vm = m.chains  # the persistent chains after this update's Gibbs steps
    gW, gb, gc = torch.autograd.grad(out["loss"], [m.W, m.b, m.c])
    with torch.no_grad():
        hd, hm = m.p_h(v), m.p_h(vm)
        assert torch.allclose(gW, -(v.T @ hd / 10 - vm.T @ hm / 10), atol=1e-12)
        assert torch.allclose(gb, -(v.mean(0) - vm.mean(0)), atol=1e-12)
        assert torch.allclose(gc, -(hd.mean(0) - hm.mean(0)), atol=1e-12)
        assert torch.allclose(out["loss"], m.reconstruction_error(v).mean())  # the logged value


def test_cd_and_pcd_training_raise_the_exact_log_likelihood() -> None:
    torch.manual_seed(0)
    patterns = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]], dtype=torch.float64)
    x = patterns[torch.randint(0, 3, (600,))]
    x = (x + torch.bernoulli(torch.full_like(x, 0.05))) % 2  # 5% bit flips
    for pcd in (False, True):
        torch.manual_seed(0)
        m = genzoo.build("rbm", DataInfo("t", (6,), kind="points"), n_hidden=4, pcd=pcd, n_chains=50).double()
        with torch.no_grad():
            before = float(m.log_prob(x).mean())
        opt = torch.optim.SGD(m.parameters(), lr=0.3, momentum=0.5)
        for step in range(200):
            opt.zero_grad()
            m.loss(Batch(x[torch.randint(0, 600, (50,))]))["loss"].backward()
            opt.step()
            m.log_z_valid.zero_()
        with torch.no_grad():
            after = float(m.log_prob(x).mean())
        # an untrained RBM is near uniform: 6 log 2 = 4.16 nats; the data has < 3 nats entropy
        assert after > before + 0.8, (pcd, before, after)


def test_sampling_and_codes_have_the_right_shapes() -> None:
    m = _random_rbm(D=6, H=4, scale=0.5).float()
    s = m.sample(5, steps=20)
    assert s.shape == (5, 6) and float(s.min()) >= 0 and float(s.max()) <= 1
    assert m.encode(s).shape == (5, 4) and m.decode(m.encode(s)).shape == (5, 6)
