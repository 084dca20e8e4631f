"""Data that does not fit in memory: folder(stream=True), StreamingLoader, and the trainer on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genzoo
from genzoo.data import load_data
from genzoo.data.base import Data, DataInfo, InMemoryLoader, StreamingLoader
from genzoo.errors import GenzooError
from genzoo.train import TrainConfig, Trainer
from genzoo.train.checkpoint import RunDir

from helpers import one_thread  # noqa: F401  (autouse: one torch thread in this module)


def _folder(root: Path, n_per_class: int = 12) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            a = rng.integers(0, 100, (6, 6), dtype=np.uint8) + 150 * label  # class b is brighter
            Image.fromarray(a, "L").save(root / name / f"{i}.png")


def test_streamed_folder_matches_the_in_memory_one(tmp_path):
    _folder(tmp_path)
    mem = load_data(f"folder:{tmp_path}", test_fraction=0.25)
    st = load_data(f"folder:{tmp_path}", test_fraction=0.25, stream=True, reference=5)
    assert st.stream is not None and st.n_train == len(mem.x_train) == 18 and len(st.x_train) == 5
    assert torch.equal(st.x_test, mem.x_test) and torch.equal(st.y_test, mem.y_test) and st.info == mem.info
    # one epoch of streamed batches is the training split, each image once, labels attached
    loader = StreamingLoader(st.stream, 6, seed=1)
    xs, ys = zip(*[(b.x, b.c) for b in (next(loader) for _ in range(loader.batches_per_epoch))])
    x, y = torch.cat(xs), torch.cat(ys)
    key = lambda t: sorted(map(tuple, t.flatten(1).tolist()))  # noqa: E731
    assert key(x) == key(mem.x_train)
    assert torch.equal((x.flatten(1).mean(1) > 150 / 255).long(), y)  # class b is the bright one
    # the reference sample is a subset of the training split
    assert set(map(tuple, st.x_train.flatten(1).tolist())) <= set(map(tuple, mem.x_train.flatten(1).tolist()))


def test_streaming_loader_resumes_exactly(tmp_path):
    _folder(tmp_path)
    st = load_data(f"folder:{tmp_path}", test_fraction=0.0, stream=True)
    a = StreamingLoader(st.stream, 4, seed=3, binarize="dynamic")
    for _ in range(5):  # 24 images: 6 batches of 4 per epoch
        next(a)
    state = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in a.state_dict().items()}
    want = [next(a).x for _ in range(4)]  # crosses into the second epoch
    b = StreamingLoader(st.stream, 4, seed=0, binarize="dynamic")
    b.load_state_dict(state)
    got = [next(b).x for _ in range(4)]
    assert all(torch.equal(u, v) for u, v in zip(want, got))
    assert set(torch.cat(want).unique().tolist()) <= {0.0, 1.0}  # dynamic binarization


def test_trainer_streams_with_workers_and_resumes(tmp_path):
    _folder(tmp_path / "imgs")
    data = load_data(f"folder:{tmp_path / 'imgs'}", test_fraction=0.0, stream=True)
    cfg = dict(batch_size=4, lr=1e-3, progress=False, log_every=2, checkpoint_every=3, seed=0)
    torch.manual_seed(0)
    m1 = genzoo.build("vae", data.info, latent_dim=2, encoder={"type": "mlp", "hidden": (8,)})
    t1 = Trainer(m1, data, TrainConfig(steps=8, num_workers=1, **cfg), callbacks=[])
    assert isinstance(t1.loader, StreamingLoader)
    t1.fit()
    # the same run, stopped at step 3 and resumed from its checkpoint, ends with the same weights
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    torch.manual_seed(0)
    m2 = genzoo.build("vae", data.info, latent_dim=2, encoder={"type": "mlp", "hidden": (8,)})
    Trainer(m2, data, TrainConfig(steps=3, **cfg), run=run, callbacks=[]).fit()
    torch.manual_seed(0)
    m3 = genzoo.build("vae", data.info, latent_dim=2, encoder={"type": "mlp", "hidden": (8,)})
    Trainer(m3, data, TrainConfig(steps=8, **cfg), run=run, callbacks=[]).fit(resume=run.latest_checkpoint())
    for (k, v1), v3 in zip(m1.state_dict().items(), m3.state_dict().values()):
        assert torch.equal(v1, v3), k


def test_in_memory_and_streamed_loaders_share_an_interface():
    x = torch.rand(10, 3)
    ds = torch.utils.data.TensorDataset(x)
    for loader in (InMemoryLoader(x, None, 4), StreamingLoader([x[i] for i in range(10)], 4)):
        assert loader.batches_per_epoch == 2 and next(loader).x.shape == (4, 3)
        assert {"epoch", "pos", "generator", "perm"} <= set(loader.state_dict())
    with pytest.raises(GenzooError, match="larger than"):
        StreamingLoader(ds, 11)


def test_a_stream_of_the_wrong_shape_is_one_clear_error():
    info = DataInfo("mine", (3,), kind="points")
    with pytest.raises(GenzooError, match=r"shape \(3,\)"):
        Data(torch.rand(4, 3), torch.rand(2, 3), info, stream=[torch.rand(5) for _ in range(8)])
