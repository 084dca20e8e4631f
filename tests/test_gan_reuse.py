"""One generator forward per round (``reuse_fakes``): same objective, half the generator work.

The critic's update must see exactly the fakes fresh noise gives, and the generator's update
must be the gradient of its own loss, through the updated critic, at the round's noise. Both
are checked against ``reuse_fakes=False`` with the noise fixed by re-seeding.
"""

from __future__ import annotations

import copy

import pytest
import torch

import genzoo
from genzoo.data.base import Batch
from genzoo.models.gan import GAN
from genzoo.train import TrainConfig, Trainer

from helpers import mixture_2d, tiny_images

torch.set_num_threads(1)

# name -> (data, options): MLP nets on 2-D points, DCGAN nets on 8x8 images
MLP = {"type": "mlp", "hidden": (16,)}
CONV = {"type": "conv", "width": 8}
CASES = {
    "gan": ("points", {"generator": MLP, "critic": MLP}),
    "cgan": ("points", {"generator": MLP, "critic": MLP}),
    "wgan_gp": ("points", {"generator": MLP, "critic": MLP, "n_critic": 1}),
    "lsgan": ("points", {"generator": MLP, "critic": MLP}),
    "dcgan": ("images", {"generator": CONV, "critic": CONV, "latent_dim": 8}),
    "ebgan": ("images", {"generator": CONV, "encoder": CONV, "decoder": CONV}),
    "began": ("images", {"generator": CONV, "encoder": CONV, "decoder": CONV}),
    "infogan": ("images", {"generator": CONV, "critic": CONV}),
    "mmd_gan": ("points", {"generator": MLP, "n_critic": 1}),
}


def _pair(name: str) -> tuple[GAN, GAN, Batch]:
    kind, opts = CASES[name]
    data = mixture_2d(64, 8) if kind == "points" else tiny_images(64, 8)
    torch.manual_seed(0)
    reuse = genzoo.build(name, data.info, reuse_fakes=True, **opts)
    fresh = genzoo.build(name, data.info, reuse_fakes=False, **opts)
    fresh.load_state_dict(reuse.state_dict())
    return reuse, fresh, Batch(data.x_train[:16], data.y_train[:16])


def _grads(params: list[torch.nn.Parameter], loss: torch.Tensor) -> list[torch.Tensor]:
    return [g if g is not None else torch.zeros_like(p) for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True))]


def _critic_then_generator(model: GAN, batch: Batch, seed: int, reseed_generator: bool) -> tuple[list, list, list]:
    """Critic gradients, generator gradients after one SGD step of the critic, and the same
    generator gradients through the critic *before* that step."""
    torch.manual_seed(seed)
    crit = model.critic_params()
    out = model.critic_loss(batch)
    g_crit = _grads(crit, out["loss"])
    stale = None
    if reseed_generator:  # a fresh draw of the generator's fakes with the critic's noise
        torch.manual_seed(seed)
        stale = _grads(model.generator_params(), model.generator_loss(batch)["loss"])
    with torch.no_grad():
        for p, g in zip(crit, g_crit):
            p.sub_(0.5 * g)  # a large step, so that a stale critic would show
    model.after_critic_step()
    if reseed_generator:
        torch.manual_seed(seed)
    g_gen = _grads(model.generator_params(), model.generator_loss(batch)["loss"])
    return g_crit, g_gen, stale


@pytest.mark.parametrize("name", list(CASES))
def test_reuse_keeps_both_players_objectives(name: str) -> None:
    reuse, fresh, batch = _pair(name)
    r_crit, r_gen, _ = _critic_then_generator(reuse, batch, seed=3, reseed_generator=False)
    f_crit, f_gen, f_stale = _critic_then_generator(fresh, batch, seed=3, reseed_generator=True)
    # the critic's update: identical (same noise, same fakes, detached either way)
    for a, b in zip(r_crit, f_crit):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    # the generator's update: its loss's gradient through the updated critic at the round's noise
    assert sum(float(g.abs().sum()) for g in r_gen) > 0  # reaches the generator (not detached fakes)
    for a, b in zip(r_gen, f_gen):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    # ... and the critic step mattered: scores kept from before it would give another gradient
    assert any(not torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(f_gen, f_stale))


class _Counter:
    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        module.register_forward_hook(lambda *a: setattr(self, "calls", self.calls + 1))


@pytest.mark.parametrize("reuse,n_critic,per_round", [(True, 1, 1), (False, 1, 2), (True, 3, 3), (False, 3, 4)])
def test_generator_forwards_per_round(reuse: bool, n_critic: int, per_round: int) -> None:
    data = mixture_2d(256, 16)
    torch.manual_seed(0)
    model = genzoo.build("wgan_gp", data.info, generator=MLP, critic=MLP, n_critic=n_critic, reuse_fakes=reuse)
    count = _Counter(model.generator)
    cfg = TrainConfig(steps=7, batch_size=32, progress=False, log_every=7, checkpoint_every=0, device="cpu", logger="none")
    Trainer(model, data, cfg, run=None, callbacks=[]).fit()
    assert count.calls == 7 * per_round
    assert model._kept is None  # nothing (no graph) is held between rounds
    copy.deepcopy(model)  # so a trained model still copies


def test_kept_fakes_are_used_once() -> None:
    reuse, _, batch = _pair("gan")
    torch.manual_seed(0)
    reuse.critic_loss(batch)
    first = reuse.generator_fakes(16, None)[0]
    second = reuse.generator_fakes(16, None)[0]  # no critic update in between: fresh noise
    assert not torch.equal(first, second)
    with torch.no_grad():  # evaluation of the critic loss keeps nothing
        reuse.critic_loss(batch)
    assert reuse._kept is None


def test_a_sweep_of_reusing_gans_trains_seeds_one_by_one(tmp_path) -> None:
    """Kept fakes cannot cross the sweep's per-player vmap calls: the sweep says so and trains sequentially."""
    from genzoo.loops.sweep import sweep

    quiet = {"progress": False, "logger": "none", "checkpoint_every": 0, "batch_size": 32}
    res = sweep("gan", mixture_2d(256, 16), 2, tmp_path / "s", model_options={"reuse_fakes": True, "generator": MLP, "critic": MLP},
                callbacks=list, on_message=lambda m: None, steps=3, **quiet)
    assert res.engine == "sequential" and "reuse_fakes" in res.reason
    assert [t.step for t in res.trainers] == [3, 3]
