"""``size=`` on every image dataset: images resized once at load, ``DataInfo.shape`` following."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import genzoo
from genzoo.cli import main
from genzoo.data import Batch, load_data
from genzoo.data.mnist import binarize_once
from genzoo.data.resize import resize_images, resize_method
from genzoo.errors import GenzooError
from genzoo.metrics.features import cache_key


def test_area_when_shrinking_is_the_exact_block_mean():
    x = torch.rand(5, 2, 28, 28)
    y = resize_images(x, 14)  # levels=0: no re-quantization
    blocks = x.reshape(5, 2, 14, 2, 14, 2).mean((3, 5))
    assert resize_method((28, 28), 14) == "area"
    assert torch.allclose(y, blocks, atol=1e-6)


def test_bilinear_when_enlarging_keeps_constants_and_the_range():
    assert resize_method((28, 28), 32) == "bilinear"
    c = torch.full((3, 1, 28, 28), 0.3)
    assert torch.allclose(resize_images(c, 32), c.new_full((3, 1, 32, 32), 0.3), atol=1e-6)
    x = torch.rand(4, 1, 28, 28) * 0.5 + 0.25  # values in [0.25, 0.75]
    y = resize_images(x, 32)
    assert y.shape == (4, 1, 32, 32) and y.is_contiguous()
    assert float(y.min()) >= 0.25 - 1e-6 and float(y.max()) <= 0.75 + 1e-6
    # torchvision's Resize (bilinear, antialiased) of the same image: the DCGAN protocol's filter.
    ref = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(y, ref)


def test_levels_put_the_result_back_on_the_grid():
    x = torch.randint(0, 256, (6, 1, 28, 28)).float() / 255
    y = resize_images(x, 32, levels=256)
    k = y * 255
    assert torch.allclose(k, k.round(), atol=1e-4)
    assert resize_images(x, 28) is x  # already the size: nothing copied


def test_digits_size_reshapes_data_and_info_and_trains():
    d = load_data("digits", size=16)
    assert d.x_train.shape == (1500, 1, 16, 16) and d.x_test.shape == (297, 1, 16, 16)
    assert d.info.shape == (1, 16, 16) and d.info.levels == 17
    assert d.info.extras == {"size": 16, "resized_from": [8, 8], "resize": "bilinear"}
    k = d.x_train * 16
    assert torch.allclose(k, k.round(), atol=1e-4)  # still on the 17-level grid
    base = load_data("digits")
    assert abs(float(d.x_train.mean()) - float(base.x_train.mean())) < 0.01
    model = genzoo.build("vae", d.info, latent_dim=2, encoder={"type": "mlp", "hidden": (16,)})
    assert model.loss(Batch(d.x_train[:8]))["loss"].isfinite()
    assert cache_key(d.info) == "digits@16" and cache_key(base.info) == "digits"


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, 10**6, "big"])
def test_bad_size_is_one_sentence(bad):
    with pytest.raises(GenzooError, match=r"data.size must be int in \[1, 4096\], got"):
        load_data("digits", size=bad)
    assert load_data("digits", size="4").info.shape == (1, 4, 4)  # coerced like every --set value


def test_npz_images_resize_and_points_refuse(tmp_path: Path):
    imgs = np.random.default_rng(0).integers(0, 256, (20, 12, 12), dtype=np.uint8)
    np.savez(tmp_path / "im.npz", x=imgs)
    d = load_data(f"npz:{tmp_path / 'im.npz'}", size=6, test_fraction=0.25)
    assert d.x_train.shape == (15, 1, 6, 6) and d.info.shape == (1, 6, 6) and d.info.extras["resize"] == "area"
    np.savez(tmp_path / "pts.npz", x=np.zeros((20, 2), dtype=np.float32))
    with pytest.raises(GenzooError, match="size= resizes images"):
        load_data(f"npz:{tmp_path / 'pts.npz'}", size=6)


def test_cli_set_data_size(tmp_path: Path):
    out = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--steps", "3", "--out", str(out), "--set", "data.size=12",
                 "--set", "train.progress=false", "--set", "model.encoder.type=mlp", "--set", "model.encoder.hidden=16", "--set", "train.batch_size=16"]) == 0
    run = genzoo.load(out)
    assert tuple(run.sample(2).shape) == (2, 1, 12, 12)


# --------------------------------------------------------------------------- MNIST family (shared files)


def _shared() -> Path | None:
    for base in (os.environ.get("GENZOO_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if base and (Path(base) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return Path(base)
    return None


SHARED = _shared()
needs_mnist = pytest.mark.skipif(SHARED is None, reason="MNIST files not found (set GENZOO_DATA)")


@needs_mnist
def test_mnist_family_resizes_once_at_load():
    root = str(SHARED)
    m = load_data("mnist", root=root, download=False, size=32)
    assert m.x_train.shape == (60000, 1, 32, 32) and m.x_test.shape == (10000, 1, 32, 32)
    assert m.info.shape == (1, 32, 32) and m.info.name == "mnist" and m.info.extras["size"] == 32
    k = m.x_test * 255
    assert torch.allclose(k, k.round(), atol=1e-3)  # 8-bit grid, as resizing the 8-bit image gives
    assert 0.12 < float(m.x_train.mean()) < 0.14  # bilinear keeps MNIST's mean intensity (0.1307)
    assert cache_key(m.info) == "mnist@32"

    b = load_data("binarized-mnist", root=root, download=False, size=32)
    assert torch.equal(b.x_train, m.x_train)  # training keeps (resized) intensities
    assert torch.equal(b.x_test, binarize_once(m.x_test))  # binarized once, after resizing
    assert b.info.shape == (1, 32, 32) and b.info.binarize == "dynamic"

    s = load_data("stacked-mnist", root=root, download=False, size=14, n_train=50, n_test=20)
    assert s.x_train.shape == (50, 3, 14, 14) and s.info.shape == (3, 14, 14)
    assert s.info.extras["resize"] == "area" and cache_key(s.info) == "mnist@14"
