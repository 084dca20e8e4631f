"""Batch: the one weight- and mask-aware reduction every loss uses, checked on its own and on
every registered model."""

from __future__ import annotations

import copy

import pytest
import torch

import genzoo
from genzoo.data.base import Batch, InMemoryLoader
from genzoo.data.kinds import kind_of
from genzoo.errors import GenzooError
from genzoo.registry import MODELS

from helpers import mixture_2d, one_thread, tiny_images, tiny_pair, tiny_smiles  # noqa: F401

BatchType = Batch


def test_weighted_mean_is_the_formula_and_ones_give_the_plain_mean() -> None:
    torch.manual_seed(0)
    v, w = torch.randn(7), torch.rand(7) + 0.1
    x = torch.zeros(7, 3)
    assert torch.allclose(Batch(x, weight=w).mean(v), (w * v).sum() / w.sum())
    assert torch.allclose(Batch(x, weight=torch.ones(7)).mean(v), v.mean())
    assert torch.equal(Batch(x).mean(v), v.mean())
    # scaling every weight changes nothing; doubling one example's weight = counting it twice
    assert torch.allclose(Batch(x, weight=3 * w).mean(v), Batch(x, weight=w).mean(v))
    w2 = torch.ones(7)
    w2[2] = 2.0
    assert torch.allclose(Batch(x, weight=w2).mean(v), torch.cat([v, v[2:3]]).mean())


def test_masked_positions_are_never_read() -> None:
    torch.manual_seed(0)
    B, N = 4, 6
    mask = torch.rand(B, N) > 0.4
    mask[:, 0] = True  # every example has a real position
    w = torch.rand(B) + 0.5
    v = torch.randn(B, N, requires_grad=True)
    b = Batch(torch.zeros(B, N), mask=mask, weight=w)
    out = b.mean(v)
    expect = (w[:, None] * mask * v).sum() / (w[:, None] * mask).sum()
    assert torch.allclose(out, expect)
    # garbage (even NaN / inf) at padded positions leaves the value and the gradient unchanged
    junk = v.detach().clone()
    junk[~mask] = torch.tensor([float("nan"), float("inf")]).repeat(int((~mask).sum()))[: int((~mask).sum())]
    assert torch.allclose(b.mean(junk), out.detach())
    (g,) = torch.autograd.grad(out, v)
    assert torch.all(g[~mask] == 0) and torch.all(g[mask] > 0)
    # without a mask, (B, N) values: weighted mean over every position; a full mask is the same
    assert torch.allclose(Batch(torch.zeros(B, N), weight=w).mean(v), Batch(torch.zeros(B, N), mask=torch.ones(B, N), weight=w).mean(v))
    assert torch.allclose(Batch(torch.zeros(B, N)).mean(v), v.mean())
    # per-example sums over the real positions
    sums = b.sum_positions(junk.unsqueeze(-1).expand(B, N, 2))
    assert torch.allclose(sums, 2 * (v.detach() * mask).sum(1))


def test_batch_validates_shapes() -> None:
    with pytest.raises(GenzooError, match=r"weights must have shape \(3,\)"):
        Batch(torch.zeros(3, 2), weight=torch.ones(4))
    with pytest.raises(GenzooError, match=r"mask must have shape \(3, N\)"):
        Batch(torch.zeros(3, 2), mask=torch.ones(3))
    with pytest.raises(GenzooError, match="per-example"):
        Batch(torch.zeros(3, 2)).mean(torch.zeros(5))
    with pytest.raises(GenzooError, match="do not match the batch mask"):
        Batch(torch.zeros(3, 2), mask=torch.ones(3, 4)).mean(torch.zeros(3, 5))


def test_loader_yields_batches() -> None:
    data = mixture_2d()
    b = next(InMemoryLoader(data.x_train, data.y_train, 8))
    assert isinstance(b, Batch) and b.x.shape == (8, 2) and b.c.shape == (8,) and b.weight is None and b.extra == {}


def _losses(model, batch: Batch | dict[str, Batch], seed: int) -> list[torch.Tensor]:
    """Every player's loss on ``batch`` (two-domain data: ``{stream: Batch}``, each player given its
    streams), with the random draws fixed by ``seed``, on a copy of ``model`` so that stateful
    models (CycleGAN's history of fakes) start every call alike."""
    torch.manual_seed(seed)
    model = copy.deepcopy(model)

    def mine(p):  # noqa: ANN001, ANN202
        if not isinstance(batch, dict):
            return batch
        return batch[p.stream] if isinstance(p.stream, str) else {s: batch[s] for s in p.streams}

    return [p.loss(mine(p))["loss"].detach() for p in model.players()]


def test_autoencoder_loss_is_the_weighted_mean_of_per_example_losses() -> None:
    data = mixture_2d()
    torch.manual_seed(0)
    model = genzoo.build("ae", data.info, encoder={"hidden": (16,)})  # deterministic: no noise
    x, w = data.x_train[:6], torch.tensor([0.5, 1.0, 2.0, 0.0, 1.5, 3.0])
    per = torch.stack([model.loss(Batch(x[i : i + 1]))["loss"] for i in range(6)]).detach()
    assert torch.allclose(model.loss(Batch(x, weight=w))["loss"], (w * per).sum() / w.sum(), atol=1e-5)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_honours_example_weights(name: str) -> None:
    """All-ones weights give the unweighted losses; an example of weight 0 can be anything."""
    kinds = MODELS.meta(name).get("data_kinds", ("points", "image"))
    data = mixture_2d() if "points" in kinds else tiny_images() if "image" in kinds else tiny_smiles()
    data = tiny_pair() if MODELS.meta(name).get("streams") else data  # two-domain models: weights in every stream
    torch.manual_seed(0)
    model = genzoo.build(name, data.info)
    model.on_fit_start(data)  # as the trainer does (semi-supervised models pick their labelled examples)
    model.eval()  # batch norm (conv nets) would otherwise read every example's statistics
    x, c = data.x_train[:16], None if data.y_train is None else data.y_train[:16]
    kind = kind_of(data.info)

    def one(x, c, weight, d):  # noqa: ANN001, ANN202 — the data kind's batch (token masks), with weights
        b = kind.collate(x, c, d.info)
        return BatchType(b.x, b.c, mask=b.mask, weight=weight)

    def Batch(x, c, weight=None):  # noqa: N802
        if not data.streams:
            return one(x, c, weight, data)
        # stream a gets x (and its edits below); stream b its own examples, edited alike
        xb, cb = data.streams["b"].x_train[:16].clone(), data.streams["b"].y_train[:16]
        if not torch.equal(x, data.x_train[:16]):
            xb[3] = 1.0 - xb[3]
        return {"a": one(x, c, weight, data.streams["a"]), "b": one(xb, cb, weight, data.streams["b"])}

    plain = _losses(model, Batch(x, c), 1)
    ones = _losses(model, Batch(x, c, weight=torch.ones(16)), 1)
    for a, b in zip(plain, ones):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), (a, b)
    w = torch.rand(16, generator=torch.Generator().manual_seed(2)) + 0.5
    w[3] = 0.0
    other = x.clone()
    other[3] = x[3] * -2.0 + 0.37  # another valid example (images stay in [0, 1] for bars: 0/1 -> 0.37/-1.63 is fine for losses)
    if data.info.kind == "image":
        other[3] = 1.0 - x[3]
    if data.info.kind == "sequence":  # another molecule's tokens
        other[3] = next(r for r in x if not torch.equal(r, x[3]))
    a_ = _losses(model, Batch(x, c, weight=w), 1)
    b_ = _losses(model, Batch(other, c, weight=w), 1)
    for a, b in zip(a_, b_):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), (name, a, b)
    # and the weights matter: all weight on one example gives different losses for different examples
    alone = [_losses(model, Batch(x, c, weight=torch.eye(16)[i]), 1) for i in range(6)]
    assert any(not torch.allclose(a, b, rtol=1e-4) for one in alone[1:] for a, b in zip(alone[0], one)), name
