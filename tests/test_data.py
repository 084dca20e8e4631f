"""Tests of genzoo.data: IDX files and their checks, the MNIST family, toy sets, digits,
user folders and arrays, and the in-memory loader. Offline: downloads are monkeypatched."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.data import DATASETS, InMemoryLoader, load_data, toy_log_density
from genzoo.data import idx as idx_mod
from genzoo.data.mnist import BINARIZED_TEST_SEED, binarize_once
from genzoo.data.idx import STAMP_NAME, IdxDataset, IdxFile, load_idx_dataset, parse_idx, write_idx
from genzoo.errors import GenzooError

REAL_DOWNLOAD = idx_mod._download  # kept before the autouse fixture replaces it

# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test sees the real GENZOO_DATA or cache, and none may touch the network."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("GENZOO_DATA", raising=False)

    def no_network(url, dest, timeout=60.0):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(idx_mod, "_download", no_network)
    return cache


def _tiny_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def _spec(arrays: dict[str, np.ndarray], checks: str = "sha256", mirrors=("https://a/", "https://b/")) -> IdxDataset:
    """A tiny IDX dataset whose checks are ``sha256`` of content, ``md5`` of gzip level 9, or none."""
    files = []
    for name, a in arrays.items():
        content = write_idx(a)
        sha = hashlib.sha256(content).hexdigest() if checks == "sha256" else None
        md5 = hashlib.md5(gzip.compress(content, 9, mtime=0)).hexdigest() if checks == "md5" else None
        files.append(IdxFile(name, a.shape, sha, md5))
    return IdxDataset("tiny", tuple(mirrors), tuple(files))


def _write(folder: Path, arrays: dict[str, np.ndarray], level: int = 9, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        content = write_idx(a)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content, level, mtime=0))
        else:
            (folder / name).write_bytes(content)


def _same(got: list[np.ndarray], arrays: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(g, a) for g, a in zip(got, arrays.values()))


# --------------------------------------------------------------------------- IDX format


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 4], dtype=np.uint8),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
        np.array([[-5, 7]], dtype=np.int32),
    ],
)
def test_idx_round_trip(array):
    back = parse_idx(write_idx(array))
    assert back.shape == array.shape and back.dtype.kind == array.dtype.kind
    np.testing.assert_array_equal(back, array)


def test_idx_header_matches_mnist_layout():
    data = write_idx(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 8, 3])  # 0x00000803, MNIST's image magic number
    assert int.from_bytes(data[4:8], "big") == 2 and len(data) == 16 + 2 * 28 * 28


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x00", "magic"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x00", "magic"),
        (b"\x00\x00\x08\x02" + b"\x00\x00\x00\x01", "truncated"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + b"\x00\x00", "needs"),
    ],
)
def test_idx_rejects_malformed(data, words):
    with pytest.raises(GenzooError, match=words):
        parse_idx(data, "f.idx")


# --------------------------------------------------------------------------- finding and checking files


def test_load_verifies_and_stamps(tmp_path, monkeypatch):
    arrays = _tiny_arrays()
    spec = _spec(arrays)
    _write(tmp_path / "tiny", arrays)
    assert _same(load_idx_dataset(spec, root=tmp_path), arrays)
    stamp = json.loads((tmp_path / "tiny" / STAMP_NAME).read_text())
    assert {e["result"] for e in stamp.values()} == {"sha256"} and len(stamp) == 4

    # A second load trusts the stamp: it must not hash again.
    def no_hash(*a, **k):
        raise AssertionError("hashed although the stamp is valid")

    monkeypatch.setattr(idx_mod.hashlib, "sha256", no_hash)
    assert _same(load_idx_dataset(spec, root=tmp_path), arrays)


def test_corrupt_file_is_rejected_even_with_old_stamp(tmp_path):
    arrays = _tiny_arrays()
    spec = _spec(arrays)
    _write(tmp_path / "tiny", arrays)
    load_idx_dataset(spec, root=tmp_path)  # writes the stamp
    bad = dict(arrays)
    bad["t10k-images-idx3-ubyte"] = arrays["t10k-images-idx3-ubyte"].copy()
    bad["t10k-images-idx3-ubyte"][0, 0, 0] ^= 1  # one pixel changed, header still valid
    path = tmp_path / "tiny" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(write_idx(bad["t10k-images-idx3-ubyte"]), 1))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(GenzooError, match=r"t10k-images-idx3-ubyte\.gz is corrupt"):
        load_idx_dataset(spec, root=tmp_path)


def test_recompressed_and_uncompressed_copies_pass_content_check(tmp_path):
    arrays = _tiny_arrays()
    spec = _spec(arrays)
    _write(tmp_path / "a" / "tiny", arrays, level=1)  # other compression: content sha256 still matches
    _write(tmp_path / "b" / "tiny", arrays, gz=False)
    assert _same(load_idx_dataset(spec, root=tmp_path / "a"), arrays)
    assert _same(load_idx_dataset(spec, root=tmp_path / "b"), arrays)


def test_md5_checked_files(tmp_path):
    arrays = _tiny_arrays()
    spec = _spec(arrays, checks="md5")
    _write(tmp_path / "a" / "tiny", arrays, level=9)  # byte-identical to the "mirror" files
    _write(tmp_path / "b" / "tiny", arrays, level=1)  # re-compressed: only structure can be checked
    load_idx_dataset(spec, root=tmp_path / "a")
    load_idx_dataset(spec, root=tmp_path / "b")
    results = [
        {e["result"] for e in json.loads((tmp_path / d / "tiny" / STAMP_NAME).read_text()).values()} for d in "ab"
    ]
    assert results == [{"md5"}, {"structure"}]

    wrong = dict(arrays, **{"train-images-idx3-ubyte": np.zeros((6, 4, 5), np.uint8)})
    _write(tmp_path / "c" / "tiny", wrong, level=1)
    with pytest.raises(GenzooError, match=r"shape \(6, 4, 5\), expected uint8 \(6, 4, 4\)"):
        load_idx_dataset(spec, root=tmp_path / "c")


def test_broken_gzip_is_named(tmp_path):
    arrays = _tiny_arrays()
    _write(tmp_path / "tiny", arrays)
    (tmp_path / "tiny" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(GenzooError, match="train-labels-idx1-ubyte.gz is not a valid gzip"):
        load_idx_dataset(_spec(arrays), root=tmp_path)


def test_search_order_root_then_env_then_cache(tmp_path, monkeypatch, isolated_env):
    spec = _spec(_tiny_arrays(), checks="none")
    first, second, third = _tiny_arrays(1), _tiny_arrays(2), _tiny_arrays(3)
    _write(tmp_path / "root" / "tiny", first)
    _write(tmp_path / "env" / "tiny", second)
    _write(isolated_env / "genzoo" / "tiny", third)
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "env"))
    assert _same(load_idx_dataset(spec, root=tmp_path / "root"), first)
    assert _same(load_idx_dataset(spec, root=None), second)
    monkeypatch.delenv("GENZOO_DATA")
    assert _same(load_idx_dataset(spec, root=tmp_path / "nowhere"), third)


def test_missing_everywhere_lists_folders(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "env"))
    spec = _spec(_tiny_arrays())
    _write(tmp_path / "root" / "tiny", {"train-images-idx3-ubyte": _tiny_arrays()["train-images-idx3-ubyte"]})
    for download in (True, False):
        with pytest.raises(GenzooError) as err:
            load_idx_dataset(spec, root=tmp_path / "root", download=download)
        msg = str(err.value)
        for folder in (tmp_path / "root" / "tiny", tmp_path / "env" / "tiny", isolated_env / "genzoo" / "tiny"):
            assert str(folder) in msg
        assert "t10k-labels-idx1-ubyte.gz" in msg and "GENZOO_DATA" in msg and "--data-root" in msg
        assert ("network disabled" in msg) == download


def test_download_checks_and_falls_back_to_next_mirror(monkeypatch, isolated_env):
    arrays = _tiny_arrays()
    spec = _spec(arrays, checks="md5")
    good = {f"https://b/{n}.gz": gzip.compress(write_idx(a), 9, mtime=0) for n, a in arrays.items()}
    calls = []

    def fake_download(url, dest, timeout=60.0):
        calls.append(url)
        dest.write_bytes(good.get(url, b"corrupted bytes from mirror a"))

    monkeypatch.setattr(idx_mod, "_download", fake_download)
    assert _same(load_idx_dataset(spec), arrays)
    folder = isolated_env / "genzoo" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(f"{n}.gz" for n in arrays), STAMP_NAME])
    assert calls[:2] == ["https://a/train-images-idx3-ubyte.gz", "https://b/train-images-idx3-ubyte.gz"]

    # Every mirror serving bad bytes: one error naming the checksum problem, no partial files.
    for p in folder.iterdir():
        p.unlink()
    monkeypatch.setattr(idx_mod, "_download", lambda url, dest, timeout=60.0: dest.write_bytes(b"junk"))
    with pytest.raises(GenzooError, match="checksum mismatch"):
        load_idx_dataset(spec)
    assert not any(folder.iterdir())


def test_real_download_code_over_localhost(tmp_path, monkeypatch, isolated_env):
    """The urllib download path end to end, against a local HTTP server (no internet)."""
    import functools
    import http.server
    import threading

    arrays = _tiny_arrays()
    _write(tmp_path / "served", arrays, level=9)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        spec = _spec(arrays, checks="md5", mirrors=(url + "missing/", url))  # first mirror answers 404
        monkeypatch.setattr(idx_mod, "_download", REAL_DOWNLOAD)
        assert _same(load_idx_dataset(spec), arrays)
    finally:
        server.shutdown()
        server.server_close()
    assert (isolated_env / "genzoo" / "tiny" / "t10k-labels-idx1-ubyte.gz").is_file()


# --------------------------------------------------------------------------- real MNIST (when present)


def _shared_data() -> Path | None:
    for base in (os.environ.get("GENZOO_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if base and (Path(base) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return Path(base)
    return None


SHARED = _shared_data()
needs_mnist = pytest.mark.skipif(SHARED is None, reason="MNIST files not found (set GENZOO_DATA)")


@pytest.fixture(scope="module")
def mnist_data():
    return load_data("mnist", root=str(SHARED), download=False)


@needs_mnist
def test_mnist(mnist_data):
    d = mnist_data
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    # Pixels are k/255 for integer k: 256 levels.
    k = d.x_test * 255
    assert torch.equal(k, k.round()) and d.info.levels == 256
    assert d.y_test.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.y_train.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert 0.12 < float(d.x_train.mean()) < 0.14  # MNIST's well-known mean intensity 0.1307


@needs_mnist
def test_binarized_mnist(mnist_data):
    torch.manual_seed(12345)  # the fixed test binarization must not depend on the global RNG
    a = load_data("binarized-mnist", root=str(SHARED), download=False)
    assert a.info.binarize == "dynamic" and a.info.levels == 2
    # Same test set as a second, independent load would give: the documented fixed-seed draw
    # applied to the MNIST test intensities (loaded separately by the fixture).
    torch.manual_seed(54321)
    assert torch.equal(a.x_test, binarize_once(mnist_data.x_test, BINARIZED_TEST_SEED))
    assert bool(((a.x_test == 0) | (a.x_test == 1)).all()) and 0 < float(a.x_test.mean()) < 1
    # The fixed draw is a Bernoulli sample of the intensities, not a threshold.
    assert abs(float(a.x_test.mean()) - float(mnist_data.x_test.mean())) < 0.002
    assert not torch.equal(a.x_test, (mnist_data.x_test > 0.5).float())
    assert torch.equal(a.x_train, mnist_data.x_train)  # training keeps intensities

    # Dynamic binarization: track 64 images through two epochs via their index as label.
    x, ids = a.x_train[:64], torch.arange(64)
    loader = InMemoryLoader(x, ids, batch_size=64, seed=1, binarize=a.info.binarize)
    draws = []
    for _ in range(60):
        batch = next(loader)
        draws.append(batch.x[batch.c.argsort()])
    draws = torch.stack(draws)  # (epochs, 64, 1, 28, 28)
    assert bool(((draws == 0) | (draws == 1)).all())
    assert not torch.equal(draws[0], draws[1])
    # Averaged over epochs the draws approach the intensities (std of the mean <= 0.065).
    assert float((draws.mean(0) - x).abs().mean()) < 0.04


# --------------------------------------------------------------------------- toy sets

TOY = ["8gaussians", "25gaussians", "swissroll", "moons", "circles", "checkerboard", "spirals", "pinwheel"]


@pytest.mark.parametrize("name", TOY)
def test_toy_sets(name):
    d = load_data(name, n_train=2000, n_test=500)
    assert d.x_train.shape == (2000, 2) and d.x_test.shape == (500, 2)
    assert d.x_train.dtype == torch.float32 and d.info.kind == "points" and d.info.shape == (2,)
    both = torch.cat([d.x_train, d.x_test])
    assert torch.isfinite(both).all()
    assert d.info.value_range == (float(both.min()), float(both.max()))
    json.dumps(d.info.to_dict())  # extras are plain, serialisable values
    if d.info.num_classes:
        labels = torch.cat([d.y_train, d.y_test])
        assert labels.min() >= 0 and labels.max() < d.info.num_classes
        assert len(labels.unique()) == d.info.num_classes
    again, other = load_data(name, n_train=2000, n_test=500), load_data(name, n_train=2000, n_test=500, seed=1)
    assert torch.equal(d.x_train, again.x_train) and not torch.equal(d.x_train, other.x_train)


@pytest.mark.parametrize("name, k, std", [("8gaussians", 8, 0.01), ("25gaussians", 25, 0.05)])
def test_mixture_structure(name, k, std):
    d = load_data(name, n_train=2000, n_test=500)
    centers = torch.tensor(d.info.extras["centers"], dtype=torch.float32)
    assert centers.shape == (k, 2) and d.info.extras["std"] == std
    x, y = torch.cat([d.x_train, d.x_test]), torch.cat([d.y_train, d.y_test])
    dist = (x - centers[y]).norm(dim=1) / std
    assert float((dist < 4).float().mean()) > 0.998 and float(dist.max()) < 6
    assert torch.equal(torch.cdist(x, centers).argmin(1), y)  # every point's nearest centre is its label
    if name == "8gaussians":
        assert torch.allclose(centers.norm(dim=1), torch.full((8,), 1.0))
    else:
        assert sorted(set(centers.flatten().tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_log_density_is_exact(name):
    d = load_data(name, n_train=100, n_test=0)
    centers = torch.tensor(d.info.extras["centers"], dtype=torch.float64)
    std = d.info.extras["std"]
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(len(centers), dtype=torch.float64)),
        torch.distributions.Independent(torch.distributions.Normal(centers, std), 1),
    )
    pts = torch.cat([d.x_train.double(), torch.randn(50, 2, dtype=torch.float64) * 3])
    assert torch.allclose(toy_log_density(d.info, pts), mix.log_prob(pts), rtol=1e-9, atol=1e-9)
    assert toy_log_density(d.info, pts.reshape(10, 15, 2)).shape == (10, 15)


def test_checkerboard_density():
    d = load_data("checkerboard", n_train=1000, n_test=0)
    assert torch.isfinite(toy_log_density(d.info, d.x_train)).all()  # every sample is on a square
    step = 0.02  # midpoint rule on [-5, 5]^2: the density integrates to one
    g = torch.arange(-5 + step / 2, 5, step, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1)
    total = toy_log_density(d.info, pts).exp().sum() * step**2
    assert abs(float(total) - 1.0) < 1e-6
    assert toy_log_density(d.info, torch.tensor([[-3.0, -1.0], [4.5, 0.0]])).isinf().all()


@pytest.mark.parametrize("name", ["swissroll", "moons", "circles", "spirals", "pinwheel"])
def test_log_density_unknown(name):
    assert toy_log_density(load_data(name, n_train=10, n_test=0).info, torch.zeros(3, 2)) is None


def test_toy_bad_sizes():
    with pytest.raises(GenzooError, match="n_train"):
        load_data("moons", n_train=0)


# --------------------------------------------------------------------------- digits and load_data


def test_digits():
    d = load_data("digits")
    assert d.x_train.shape == (1500, 1, 8, 8) and d.x_test.shape == (297, 1, 8, 8)
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    assert torch.equal(d.x_train * 16, (d.x_train * 16).round()) and d.info.levels == 17
    assert d.y_test.bincount(minlength=10).min() > 20  # every digit is in the test split
    assert torch.equal(load_data("digits").x_test, d.x_test)


def test_load_data_errors():
    with pytest.raises(GenzooError, match=r"unknown option data.n_trian for dataset 'moons'.*n_train, n_test, seed"):
        load_data("moons", n_trian=5)
    # typed and range-checked before the data code runs, one sentence naming option, value, range
    for opts, msg in [({"n_train": -3}, r"data.n_train must be int in \[1, 10\^7\], got -3"),
                      ({"n_train": 10**12}, r"data.n_train must be int in \[1, 10\^7\], got 1000000000000"),
                      ({"n_train": "many"}, "data.n_train must be int"), ({"noise": {"a": 1}}, "data.noise must be float"),
                      ({"noise": float("nan")}, "data.noise must be float in"), ({"seed": -1}, "data.seed must be int in")]:
        with pytest.raises(GenzooError, match=msg):
            load_data("moons", **opts)
    assert load_data("moons", n_train="64", n_test=8.0).x_train.shape == (64, 2)  # coerced like every --set value
    with pytest.raises(GenzooError, match="unknown dataset"):
        load_data("mnits")
    with pytest.raises(GenzooError, match="names no path"):
        load_data("npz:")
    assert "fashion-mnist" in DATASETS and all(DATASETS.meta(n).get("help") for n in DATASETS)


# --------------------------------------------------------------------------- image folders


def _png(path: Path, size=(8, 8), color=None, value=0) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if color is None:
        Image.fromarray(np.full(size[::-1], value, np.uint8), "L").save(path)
    else:
        Image.fromarray(np.full((*size[::-1], 3), color, np.uint8), "RGB").save(path)


def test_folder_with_classes(tmp_path):
    for i in range(4):
        _png(tmp_path / "zebra" / f"{i}.png", value=200)
        _png(tmp_path / "ant" / f"{i}.png", value=50)
    (tmp_path / "notes.txt").write_text("not an image")
    d = load_data(f"folder:{tmp_path}", test_fraction=0.25)
    assert d.info.extras["classes"] == ["ant", "zebra"] and d.info.num_classes == 2
    assert d.x_train.shape == (6, 1, 8, 8) and d.x_test.shape == (2, 1, 8, 8)
    x, y = torch.cat([d.x_train, d.x_test]), torch.cat([d.y_train, d.y_test])
    assert torch.allclose(x[y == 0], torch.tensor(50 / 255)) and torch.allclose(x[y == 1], torch.tensor(200 / 255))


def test_folder_rgb_resize_and_channels(tmp_path):
    _png(tmp_path / "a.png", size=(12, 6), color=(255, 0, 0))
    _png(tmp_path / "b.png", size=(12, 6), color=(0, 0, 255))
    d = load_data(f"folder:{tmp_path}", test_fraction=0.0)
    assert d.x_train.shape == (2, 3, 6, 12) and d.y_train is None and d.info.num_classes == 0
    assert torch.equal(d.x_train[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    small = load_data(f"folder:{tmp_path}", size=4, channels=1, test_fraction=0.0)
    assert small.x_train.shape == (2, 1, 4, 4)


def test_folder_errors(tmp_path):
    with pytest.raises(GenzooError, match="does not exist"):
        load_data(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenzooError, match="no images"):
        load_data(f"folder:{tmp_path / 'empty'}")
    _png(tmp_path / "mixed" / "a.png", size=(8, 8))
    _png(tmp_path / "mixed" / "b.png", size=(10, 8))
    with pytest.raises(GenzooError, match=r"differ in size.*size=N"):
        load_data(f"folder:{tmp_path / 'mixed'}")
    assert load_data(f"folder:{tmp_path / 'mixed'}", size=5, test_fraction=0).x_train.shape == (2, 1, 5, 5)
    _png(tmp_path / "broken" / "ok.png")
    (tmp_path / "broken" / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(GenzooError, match="cannot read image .*bad.png"):
        load_data(f"folder:{tmp_path / 'broken'}")
    _png(tmp_path / "both" / "loose.png")
    _png(tmp_path / "both" / "cls" / "a.png")
    with pytest.raises(GenzooError, match="both images"):
        load_data(f"folder:{tmp_path / 'both'}")


# --------------------------------------------------------------------------- npz / npy


def test_npz_layouts(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 2))
    np.savez(tmp_path / "pts.npz", x=x, y=np.arange(50) % 3)
    d = load_data(f"npz:{tmp_path / 'pts.npz'}", test_fraction=0.2)
    assert d.info.kind == "points" and d.x_train.shape == (40, 2) and d.x_test.shape == (10, 2)
    assert d.info.num_classes == 3
    assert d.info.value_range == (float(np.float32(x.min())), float(np.float32(x.max())))
    # Rows stay paired with their labels through the split.
    both_x, both_y = torch.cat([d.x_train, d.x_test]), torch.cat([d.y_train, d.y_test])
    for row, label in zip(both_x, both_y):
        i = int(np.argmin(np.abs(x - row.numpy()).sum(1)))
        assert i % 3 == int(label)

    imgs = np.random.default_rng(1).integers(0, 256, (10, 5, 6, 3), dtype=np.uint8)  # channels-last
    np.savez(tmp_path / "img.npz", x_train=imgs[:8], x_test=imgs[8:], y_train=np.zeros(8), y_test=np.ones(2))
    d = load_data(f"npz:{tmp_path / 'img.npz'}")
    assert d.info.kind == "image" and d.x_train.shape == (8, 3, 5, 6) and d.info.levels == 256
    assert torch.equal(d.x_test[1, :, 2, 4], torch.from_numpy(imgs[9, 2, 4] / 255).float())
    assert d.y_test.dtype == torch.int64 and d.info.num_classes == 2

    np.save(tmp_path / "gray.npy", imgs[..., 0])  # (N, H, W) gets a channel axis
    d = load_data(f"npy:{tmp_path / 'gray.npy'}", scale=False)
    assert d.x_train.shape[1:] == (1, 5, 6) and d.info.value_range[1] > 1


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"x": np.array([[0.0, np.nan], [np.inf, 1.0], [np.nan, 2.0], [1.0, 1.0]])}, "contains 3 NaN"),
        ({"x": np.array([["a", "b"], ["c", "d"]])}, "dtype <U1"),
        ({"x": np.zeros(10)}, r"shape \(10,\).*\(N, D\)"),
        ({"x": np.zeros((2, 1, 1, 1, 1))}, "shape"),
        ({"x": np.zeros((5, 2)), "y": np.zeros(4)}, "5 examples but 4 labels"),
        ({"x": np.zeros((5, 2)), "y": np.array([0, 1, 0.5, 1, 0])}, "non-integer values such as 0.5"),
        ({"x": np.zeros((5, 2)), "y": np.array([0, -1, 0, 1, 0])}, "negative"),
        ({"images": np.zeros((5, 2))}, r"'x'.*'x_train'"),
        ({"x_train": np.zeros((5, 2)), "x_test": np.zeros((2, 2)), "y_train": np.zeros(5)}, "one split only"),
        ({"x_train": np.zeros((5, 2)), "x_test": np.zeros((2, 3))}, "same shape"),
    ],
)
def test_npz_validation(tmp_path, arrays, match):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(GenzooError, match=match):
        load_data(f"npz:{tmp_path / 'd.npz'}")


def test_npy_errors(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(GenzooError, match="dtype object"):
        load_data(f"npy:{tmp_path / 'obj.npy'}")
    with pytest.raises(GenzooError, match="does not exist"):
        load_data(f"npy:{tmp_path / 'missing.npy'}")
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(GenzooError, match="cannot read"):
        load_data(f"npy:{tmp_path / 'text.npy'}")


# --------------------------------------------------------------------------- InMemoryLoader


def test_loader_state_round_trip():
    x, y = torch.randn(50, 3), torch.arange(50)
    loader = InMemoryLoader(x, y, batch_size=8, seed=3, binarize=None)
    for _ in range(9):  # into the second epoch (6 batches per epoch)
        next(loader)
    state = loader.state_dict()
    expected = [next(loader) for _ in range(10)]  # crosses another epoch boundary
    resumed = InMemoryLoader(x, y, batch_size=8, seed=99)
    resumed.load_state_dict(state)
    for a, b in zip(expected, (next(resumed) for _ in range(10))):
        assert torch.equal(a.x, b.x) and torch.equal(a.c, b.c)
    assert torch.equal(x[expected[0].c], expected[0].x)  # labels stay paired with examples


def test_loader_state_round_trip_with_binarization():
    x = torch.rand(20, 4)
    loader = InMemoryLoader(x, None, batch_size=5, seed=0, binarize="dynamic")
    next(loader)
    state = loader.state_dict()
    expected = [next(loader).x for _ in range(6)]
    resumed = InMemoryLoader(x, None, batch_size=5, seed=7, binarize="dynamic")
    resumed.load_state_dict(state)
    assert all(torch.equal(a, next(resumed).x) for a in expected)


def test_loader_batch_larger_than_data():
    with pytest.raises(GenzooError, match="larger than the 10 training examples"):
        InMemoryLoader(torch.zeros(10, 2), None, batch_size=11)
