"""Small shared builders for the tests (not fixtures, so any test module can import them)."""

from __future__ import annotations

import math

import torch

from genzoo.data.base import Data, DataInfo


def mixture_2d(n_train: int = 512, n_test: int = 256, seed: int = 0) -> Data:
    """Four well-separated 2-D Gaussians: a tiny dataset every model can fit in seconds."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 4, (n,), generator=g)
        return centers[y] + 0.1 * torch.randn(n, 2, generator=g), y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    info = DataInfo("mixture4", (2,), kind="points", value_range=(-3.0, 3.0), num_classes=4,
                    extras={"centers": centers.tolist(), "std": 0.1})
    return Data(xtr, xte, info, ytr, yte)


def tiny_images(n_train: int = 256, n_test: int = 64, seed: int = 0, side: int = 8) -> Data:
    """Binary-ish bar images (horizontal or vertical stripes) of shape (1, side, side)."""
    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 2, (n,), generator=g)
        pos = torch.randint(0, side, (n,), generator=g)
        x = torch.zeros(n, 1, side, side)
        for i in range(n):
            if y[i] == 0:
                x[i, 0, pos[i], :] = 1.0
            else:
                x[i, 0, :, pos[i]] = 1.0
        return x, y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return Data(xtr, xte, DataInfo("bars", (1, side, side), num_classes=2, levels=2), ytr, yte)


def tiny_pair(n_train: int = 256, n_test: int = 64, side: int = 16) -> Data:
    """Two-domain bars (``a``: bright bars on black; ``b``: dim bars on grey), 2 classes, streams a and b."""
    from genzoo.data.pairs import pair

    a = tiny_images(n_train, n_test, seed=0, side=side)
    b = tiny_images(n_train, n_test, seed=1, side=side)

    def restyle(x: torch.Tensor) -> torch.Tensor:  # another "scanner": less contrast, grey background
        return 0.3 + 0.4 * x

    b = Data(restyle(b.x_train), restyle(b.x_test), DataInfo("bars_b", (1, side, side), num_classes=2), b.y_train, b.y_test)
    a = Data(a.x_train, a.x_test, DataInfo("bars", (1, side, side), num_classes=2), a.y_train, a.y_test)
    return pair(a, b)


def close(a: float, b: float, tol: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol


@__import__("pytest").fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU (restored afterwards).

    Import it into a test module (``from helpers import one_thread``) to apply it there.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mlp(*hidden: int) -> dict:
    """A network option: an MLP with these hidden widths (``encoder=mlp(16)``)."""
    return {"type": "mlp", "hidden": tuple(hidden)}


#: Hand-made molecules (valid SMILES) from which :func:`tiny_smiles` draws its examples.
SMILES_POOL = ("CCO", "CCN", "CCCO", "CC(=O)O", "c1ccccc1", "c1ccccc1O", "c1ccncc1", "CC(C)C", "CCOC(=O)C", "C1CCCCC1",
               "CCS", "CC#N", "c1ccc(Cl)cc1", "OCC(O)CO", "CN(C)C", "c1ccc2[nH]ccc2c1", "CC(=O)Nc1ccccc1", "FC(F)F")


def tiny_smiles(n_train: int = 256, n_test: int = 64, seed: int = 0) -> Data:
    """Sequence data of SMILES drawn from :data:`SMILES_POOL` (atom tokens), no RDKit needed."""
    from genzoo.data.molecules import smiles_info, tokenize
    from genzoo.data.sequence import Vocabulary

    g = torch.Generator().manual_seed(seed)
    toks = [tokenize(s) for s in SMILES_POOL]
    vocab = Vocabulary.build(toks)
    length = max(map(len, toks)) + 2

    def draw(n: int) -> torch.Tensor:
        idx = torch.randint(0, len(toks), (n,), generator=g).tolist()
        return vocab.encode([toks[i] for i in idx], length)

    return Data(draw(n_train), draw(n_test), smiles_info("tiny-smiles", vocab, length, "atom"))
