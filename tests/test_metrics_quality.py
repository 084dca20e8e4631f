"""Sample-quality metrics: FID/KID/precision-recall maths, the feature network and its cache, stacked MNIST."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from genzoo.data.base import Data, DataInfo
from genzoo.errors import GenzooError
from genzoo.metrics import EvalContext, NotApplicable, run_metric
from genzoo.metrics.features import (
    ChannelwiseFeatureNet,
    FeatureNet,
    embed,
    feature_id,
    feature_info,
    feature_net,
    train_feature_net,
)
from genzoo.metrics.quality import (
    fid_from_features,
    frechet_distance,
    kid,
    precision_recall,
    stacked_mode_stats,
)
from helpers import mixture_2d, one_thread  # noqa: F401

# -- FID ----------------------------------------------------------------------------------------


def test_fid_zero_on_itself_and_monotone_in_noise():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2000, 16, generator=g) @ torch.randn(16, 16, generator=g)  # correlated features
    assert float(fid_from_features(f, f)) < 1e-8 * float(f.var(0).sum())
    noise = torch.randn(f.shape, generator=g)
    fids = [float(fid_from_features(f, f + s * noise)) for s in (0.1, 0.3, 1.0, 3.0)]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids


def _random_cov(d: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_matches_closed_forms():
    g = torch.Generator().manual_seed(1)
    d = 6
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    c1 = _random_cov(d, g)
    # equal covariances: the trace terms cancel, leaving the squared mean distance
    assert math.isclose(float(frechet_distance(mu1, c1, mu2, c1)), float((mu1 - mu2).pow(2).sum()), rel_tol=1e-9)
    # commuting (diagonal) covariances: Σ_i (sqrt(a_i) - sqrt(b_i))²
    a, b = torch.rand(d, generator=g, dtype=torch.float64) + 0.1, torch.rand(d, generator=g, dtype=torch.float64) + 0.1
    want = float((mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum())
    assert math.isclose(float(frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))), want, rel_tol=1e-9)
    # general covariances vs scipy's sqrtm of the product
    scipy_linalg = pytest.importorskip("scipy.linalg")
    c2 = _random_cov(d, g)
    cross = scipy_linalg.sqrtm((c1 @ c2).numpy()).real.trace()
    want = float((mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace()) - 2 * cross
    assert math.isclose(float(frechet_distance(mu1, c1, mu2, c2)), want, rel_tol=1e-7)


def test_fid_of_gaussian_samples_approaches_closed_form():
    g = torch.Generator().manual_seed(2)
    d, n = 4, 20_000
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.tensor([1.0, -0.5, 0.0, 0.2], dtype=torch.float64)
    c1, c2 = _random_cov(d, g), _random_cov(d, g)
    x = mu1 + torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c1).T
    y = mu2 + torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c2).T
    exact = float(frechet_distance(mu1, c1, mu2, c2))
    assert abs(float(fid_from_features(x, y)) - exact) < 0.05 * exact + 0.01


# -- KID ----------------------------------------------------------------------------------------


def test_kid_unbiased_on_equal_distributions_and_positive_under_shift():
    g = torch.Generator().manual_seed(3)
    means = []
    for r in range(20):  # independent repeats: the unbiased estimate averages to 0
        a, b = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)
        means.append(kid(a, b, subsets=5, subset_size=200, generator=torch.Generator().manual_seed(r))[0])
    m = torch.tensor(means)
    se = float(m.std()) / math.sqrt(len(m))
    assert abs(float(m.mean())) < 4 * se, (float(m.mean()), se)
    a, b = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g) + 0.5
    mean, std = kid(a, b, subsets=10, subset_size=200, generator=torch.Generator().manual_seed(0))
    assert mean > 10 * se and mean > 3 * std / math.sqrt(10) and std > 0


# -- precision / recall -------------------------------------------------------------------------


def test_precision_recall_identical_disjoint_and_partial():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(500, 5, generator=g)
    assert precision_recall(x, x.clone(), k=3) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0, k=3) == (0.0, 0.0)
    # fakes covering only half the real mass: high precision, recall well below 1
    half = x[x[:, 0] > 0]
    p, r = precision_recall(x, half + 0.01 * torch.randn(half.shape, generator=g), k=3)
    assert p > 0.95 and 0.3 < r < 0.8


# -- feature network ----------------------------------------------------------------------------


def _tiny_labelled(seed: int = 0, n_train: int = 384, n_test: int = 128) -> Data:
    """Two classes of 12x12 RGB blobs: a bright square top-left vs bottom-right, plus noise."""
    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 2, (n,), generator=g)
        x = 0.3 * torch.rand(n, 3, 12, 12, generator=g)
        for i in range(n):
            o = 1 if y[i] == 0 else 6
            x[i, :, o : o + 5, o : o + 5] += 0.6
        return x.clamp(0, 1), y

    (xtr, ytr), (xte, yte) = draw(n_train), draw(n_test)
    return Data(xtr, xte, DataInfo("tinyblobs", (3, 12, 12), num_classes=2, levels=256), ytr, yte)


def test_feature_net_shapes_any_size():
    for shape in ((1, 28, 28), (3, 12, 12), (1, 5, 7)):
        net = FeatureNet(shape[0], 7, width=8).eval()
        x = torch.rand(4, *shape)
        assert net(x).shape == (4, 7) and net.features(x).shape == (4, 128)
        assert embed(net, x, batch_size=3).shape == (4, 128)
    wrapped = ChannelwiseFeatureNet(FeatureNet(1, 10, width=8)).eval()
    x = torch.rand(5, 3, 28, 28)
    assert wrapped(x).shape == (5, 3, 10) and wrapped.features(x).shape == (5, 384)
    # channel k of the wrapper is the base net on channel k alone
    assert torch.allclose(wrapped(x)[:, 1], wrapped.base(x[:, 1:2]), atol=1e-6)


def test_train_feature_net_beats_chance_and_rejects_unlabelled():
    data = _tiny_labelled()
    net, acc = train_feature_net(data, epochs=10, batch_size=64, seed=0, width=8)
    assert not net.training and acc > 0.9
    unlabelled = Data(data.x_train, data.x_test, DataInfo("u", (3, 12, 12)))
    with pytest.raises(GenzooError, match="labels"):
        train_feature_net(unlabelled)
    with pytest.raises(GenzooError, match="images"):
        train_feature_net(mixture_2d())


def test_feature_cache_round_trip_and_corruption(tmp_path):
    data = _tiny_labelled()
    with pytest.raises(GenzooError, match="genzoo features train --data tinyblobs"):
        feature_net(data, train=False, cache_dir=tmp_path)
    net = feature_net(data, cache_dir=tmp_path, epochs=1, batch_size=64, width=8)
    info = feature_info("tinyblobs", tmp_path)
    assert info is not None and info["image_shape"] == [3, 12, 12] and info["num_classes"] == 2
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["sha256"].startswith(feature_id(net).split(":")[1])
    again = feature_net(data, train=False, cache_dir=tmp_path)
    x = data.x_test[:32]
    assert torch.equal(embed(net, x), embed(again, x)) and feature_id(net) == feature_id(again)
    # mismatched data (other class count) and a corrupt weights file are clear errors
    other = Data(data.x_train, data.x_test, DataInfo("tinyblobs", (3, 12, 12), num_classes=3), data.y_train, data.y_test)
    with pytest.raises(GenzooError, match="--force"):
        feature_net(other, train=False, cache_dir=tmp_path)
    wpath = tmp_path / "features" / "tinyblobs.safetensors"
    wpath.write_bytes(wpath.read_bytes()[:100])
    with pytest.raises(GenzooError, match="genzoo features train --data tinyblobs --force"):
        feature_net(data, train=False, cache_dir=tmp_path)
    (tmp_path / "features" / "tinyblobs.json").write_text("{not json")
    with pytest.raises(GenzooError, match="--force"):
        feature_info("tinyblobs", tmp_path)


# -- registered metrics -------------------------------------------------------------------------


class _Replay(torch.nn.Module):
    """A 'model' whose samples are rows of a fixed tensor (drawn at random)."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.x = x

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.x[torch.randint(0, len(self.x), (n,))]


def test_registered_metrics_share_samples_and_record_protocol():
    data = mixture_2d(n_train=512, n_test=300)
    calls = []

    class Counting(_Replay):
        def sample(self, n, c=None):
            calls.append(n)
            return super().sample(n, c)

    ctx = EvalContext(Counting(data.x_train), data, n=400, batch_size=128)
    out = {m: run_metric(m, ctx) for m in ("fid", "kid", "precision", "recall")}
    assert sum(calls) == 400  # drawn once for all four metrics
    assert out["fid"]["protocol"]["n_real"] == 300 and out["fid"]["protocol"]["n_fake"] == 400
    assert out["fid"]["protocol"]["split"] == "test" and out["recall"]["protocol"]["k"] == 3
    assert out["kid"]["protocol"]["subset_size"] == 300
    assert out["fid"]["value"] < 0.1 and out["precision"]["value"] > 0.8 and out["recall"]["value"] > 0.8
    assert out["fid"]["higher_is_better"] is False and out["precision"]["higher_is_better"] is True
    # a model far from the data is scored clearly worse
    far = EvalContext(_Replay(data.x_train + 3.0), data, n=400, batch_size=128)
    assert run_metric("fid", far)["value"] > 10 * out["fid"]["value"] + 1.0
    assert run_metric("precision", far)["value"] < 0.2
    with pytest.raises(NotApplicable):
        run_metric("stacked_modes", ctx)
    with pytest.raises(NotApplicable):
        run_metric("fid", EvalContext(object(), data, n=10))


def test_image_metric_uses_preset_feature_net():
    data = _tiny_labelled(n_train=64, n_test=64)
    net = FeatureNet(3, 2, width=8).eval()
    ctx = EvalContext(_Replay(data.x_test), data, n=64, batch_size=32, cache={"feature_net": net})
    out = run_metric("fid", ctx)
    assert out["protocol"]["feature_net"] == feature_id(net) and out["value"] >= 0


def test_stacked_mode_stats():
    digits = torch.stack(torch.meshgrid(*[torch.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3)  # all 1000 triples
    s = stacked_mode_stats(digits)
    assert s["modes"] == 1000 and abs(s["kl"]) < 1e-12
    s = stacked_mode_stats(digits[:10])  # 10 modes, uniform among them: KL = log(1000 / 10)
    assert s["modes"] == 10 and math.isclose(s["kl"], math.log(100), rel_tol=1e-12)


class _MeanDigit(FeatureNet):
    """A stand-in 'classifier': the digit is round(10 x mean intensity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = (x.mean((1, 2, 3)) * 10).round().long().clamp(0, 9)
        return torch.nn.functional.one_hot(d, 10).float()


def test_stacked_modes_metric_counts_triples():
    triples = torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:37]
    digits = torch.stack([triples // 100, triples // 10 % 10, triples % 10], 1)  # (37, 3)

    class Cycle(torch.nn.Module):  # cycles through the 37 triples: an exactly uniform histogram
        i = 0

        def sample(self, n, c=None):
            idx = (torch.arange(n) + self.i) % 37
            self.i += n
            return (digits[idx].float() / 10)[:, :, None, None].expand(n, 3, 4, 4).clone()

    info = DataInfo("stacked-mnist", (3, 4, 4), num_classes=1000)
    data = Data(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), info)
    net = ChannelwiseFeatureNet(_MeanDigit(1, 10, width=4)).eval()
    ctx = EvalContext(Cycle(), data, batch_size=100, cache={"feature_net": net})
    out = run_metric("stacked_modes", ctx, n_samples=370)
    assert out["value"] == 37 and math.isclose(out["kl"], math.log(1000 / 37), rel_tol=1e-9)
    assert out["protocol"]["n_samples"] == 370 and out["higher_is_better"] is True


# -- stacked MNIST ------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.environ.get("GENZOO_DATA", "/nonexistent"), "mnist")), reason="needs GENZOO_DATA with MNIST")
def test_stacked_mnist_shapes_and_labels():
    from genzoo.data import load_data
    from genzoo.data.stacked import TEST_SEED, stack_digits

    d = load_data("stacked-mnist", n_train=200, n_test=100)
    assert d.x_train.shape == (200, 3, 28, 28) and d.x_test.shape == (100, 3, 28, 28)
    assert d.info.num_classes == 1000 and d.y_train.max() < 1000 and d.x_train.dtype == torch.float32
    mnist = load_data("mnist")
    # fixed seeds: the same draw as stacking the MNIST test digits with the test seed
    assert torch.equal(stack_digits(mnist.x_test, mnist.y_test, 100, TEST_SEED)[0], d.x_test)
    # every channel is an MNIST test digit whose label is the matching digit of the stacked label
    for i in range(5):
        for k, place in enumerate((100, 10, 1)):
            match = (mnist.x_test[:, 0] == d.x_test[i, k]).flatten(1).all(1).nonzero().flatten()
            assert len(match) >= 1 and int(mnist.y_test[match[0]]) == int(d.y_test[i]) // place % 10
    with pytest.raises(GenzooError):
        load_data("stacked-mnist", n_train=0)
    json.dumps(d.info.to_dict())  # the info round-trips into a run config
