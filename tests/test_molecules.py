"""The MOSES metrics on hand-made molecule sets, each against its definition (needs RDKit).

FCD needs the fcd package (ChemNet weights ship inside it); the filters need the MOSES filter
tables in ``$GENZOO_DATA/moses``. Every test skips cleanly without what it needs.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit", reason="the molecule metrics need RDKit (pip install 'genzoo[molecules]')")

from rdkit import Chem, DataStructs  # noqa: E402
from rdkit.Chem import rdFingerprintGenerator  # noqa: E402

import genzoo  # noqa: E402
import genzoo.metrics.molecules as M  # noqa: E402
from genzoo.data.molecules import MissingExtra  # noqa: E402
from genzoo.evaluate import evaluate  # noqa: E402

from helpers import one_thread, tiny_images, tiny_smiles  # noqa: E402,F401

MOSES_DIR = Path(os.environ.get("GENZOO_DATA", "/nonexistent")) / "moses"
needs_filters = pytest.mark.skipif(not (MOSES_DIR / "mcf.csv").is_file(), reason="needs the MOSES filter tables in $GENZOO_DATA/moses")
try:
    import fcd  # noqa: F401

    HAVE_FCD = True
except ImportError:
    HAVE_FCD = False
needs_fcd = pytest.mark.skipif(not HAVE_FCD, reason="needs the fcd package (pip install 'genzoo[molecules]')")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))


def mols(*smiles: str) -> list:
    return [Chem.MolFromSmiles(s) for s in smiles]


def rdkit_tanimoto(a: str, b: str) -> float:
    g = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fa, fb = (g.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return DataStructs.TanimotoSimilarity(fa, fb)


def reference(*smiles: str, with_fcd: bool = False) -> M.Reference:
    return M.Reference.of("hand", list(smiles), cache=False, with_fcd=with_fcd)


def test_validity_uniqueness_and_novelty() -> None:
    gen = ["CCO", "OCC", "C1CC", "", "c1ccccc1", "CC(=O)O"]  # OCC is CCO written otherwise; C1CC and "" are invalid
    out = M.moses_scores(gen, {"Test": reference("CCO", "CCN")}, train={"CCO", "CCN"}, unique_k=(3, 10))
    assert out["valid"]["value"] == pytest.approx(4 / 6)
    assert out["valid"]["stderr"] == pytest.approx(math.sqrt((4 / 6) * (2 / 6) / 6))
    assert out["unique@3"]["value"] == pytest.approx(2 / 3)  # CCO, CCO, c1ccccc1: the first 3 valid
    assert out["unique@10"]["value"] == pytest.approx(3 / 4) and out["unique@10"]["short"]  # only 4 valid
    assert out["Novelty"]["value"] == pytest.approx(2 / 3)  # of {CCO, c1ccccc1, CC(=O)O} only CCO is in train


def test_tanimoto_aggregates_match_rdkit() -> None:
    a, b, c = "CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1"
    fps = M.fingerprints(mols(a, b, c))
    assert fps.shape == (3, 1024) and fps.dtype == np.uint8
    t_ab, t_ac, t_bc = rdkit_tanimoto(a, b), rdkit_tanimoto(a, c), rdkit_tanimoto(b, c)
    # SNN: each of gen = {a, b} against ref = {c, b}
    snn = M.tanimoto_agg(fps[[2, 1]], fps[[0, 1]], "max")
    assert snn == pytest.approx([max(t_ac, t_ab), 1.0])
    # IntDiv over {a, b, c}, self-pairs included
    T = np.array([[1, t_ab, t_ac], [t_ab, 1, t_bc], [t_ac, t_bc, 1]])
    assert M.tanimoto_agg(fps, fps, "mean", p=1) == pytest.approx(T.mean(1))
    assert M.tanimoto_agg(fps, fps, "mean", p=2) == pytest.approx(np.sqrt((T**2).mean(1)))
    empty = np.zeros((2, 1024), dtype=np.uint8)
    assert M.tanimoto_agg(empty, empty, "max") == pytest.approx([1.0, 1.0])  # MOSES: two empty fingerprints are alike


@pytest.mark.parametrize("density", [0.04, 0.4])  # MOSES-like sparse fingerprints; dense ones (> 255 bits: uint16 counts)
def test_chunked_tanimoto_equals_the_all_pairs_matrix(density: float) -> None:
    rng = np.random.default_rng(0)
    ref = (rng.random((203, 1024)) < density).astype(np.uint8)
    gen = (rng.random((37, 1024)) < density).astype(np.uint8)
    ref[5], gen[3] = 0, 0  # empty fingerprints: similarity 1 to each other, 0 to the rest
    both = gen.astype(np.int64) @ ref.T.astype(np.int64)  # the slow path: every pair, exact integers
    union = gen.sum(1)[:, None] + ref.sum(1)[None, :] - both
    T = np.where(union > 0, both / np.maximum(union, 1), 1.0).astype(np.float32).astype(np.float64)  # (G, R)
    for chunk in (16, 64, 4096):  # several blocks, a ragged last block, one block
        assert np.array_equal(M.tanimoto_agg(ref, gen, "max", chunk=chunk), T.max(1))  # bit for bit
        mean1, mean2 = M.tanimoto_agg(ref, gen, "mean", p=(1, 2), chunk=chunk)
        np.testing.assert_allclose(mean1, T.mean(1), rtol=1e-12)
        np.testing.assert_allclose(mean2, np.sqrt((T**2).mean(1)), rtol=1e-12)


def test_snn_and_internal_diversity_in_the_table() -> None:
    gen = ["CCO", "CCO", "c1ccccc1O"]
    out = M.moses_scores(gen, {"Test": reference("CCO", "CCN")})
    t = rdkit_tanimoto("c1ccccc1O", "CCO")
    t2 = max(t, rdkit_tanimoto("c1ccccc1O", "CCN"))
    assert out["SNN/Test"]["value"] == pytest.approx((1 + 1 + t2) / 3)
    T = np.array([[1, 1, t], [1, 1, t], [t, t, 1]])
    assert out["IntDiv"]["value"] == pytest.approx(1 - T.mean())
    assert out["IntDiv2"]["value"] == pytest.approx(1 - np.sqrt((T**2).mean(1)).mean())
    same = M.moses_scores(["CCO"] * 4, {"Test": reference("CCO")})
    assert same["IntDiv"]["value"] == pytest.approx(0.0) and same["SNN/Test"]["value"] == pytest.approx(1.0)


def test_fragments_scaffolds_and_cosine_similarity() -> None:
    # BRICS cuts acetanilide at both amide N bonds: three pieces, the dummy atoms labelled by bond type
    assert M.fragments(mols("CC(=O)Nc1ccccc1")) == Counter({"[1*]C(C)=O": 1, "[5*]N[5*]": 1, "[16*]c1ccccc1": 1})
    assert M.fragments(mols("CC")) == Counter({"CC": 1})  # nothing to cut
    # scaffolds: benzene (1 ring) is dropped, as MOSES keeps rings >= 2; biphenyl-like with a chain kept as its core
    assert M.scaffolds(mols("Cc1ccccc1")) == Counter()
    sc = M.scaffolds(mols("CCc1ccc(-c2ccccc2)cc1", "Oc1ccc(-c2ccccc2)cc1", "CCO"))
    assert sc == Counter({"c1ccc(-c2ccccc2)cc1": 2})
    a, b = Counter({"x": 1, "y": 2}), Counter({"y": 2, "z": 2})
    assert M.cos_similarity(a, b) == pytest.approx(4 / (math.sqrt(5) * math.sqrt(8)))
    assert M.cos_similarity(a, a) == pytest.approx(1.0) and math.isnan(M.cos_similarity(a, Counter()))
    ref = reference("CCc1ccc(-c2ccccc2)cc1", "CC(=O)Nc1ccccc1")
    out = M.moses_scores(["CCc1ccc(-c2ccccc2)cc1", "CC(=O)Nc1ccccc1"], {"Test": ref})
    assert out["Frag/Test"]["value"] == pytest.approx(1.0) and out["Scaf/Test"]["value"] == pytest.approx(1.0)


@needs_filters
def test_filters() -> None:
    root = str(MOSES_DIR.parent)
    assert M.passes_filters(Chem.MolFromSmiles("CC(=O)Nc1ccccc1"), root)
    assert not M.passes_filters(Chem.MolFromSmiles("C[N+](C)(C)C"), root)  # charged
    assert not M.passes_filters(Chem.MolFromSmiles("CCP(C)C"), root)  # phosphorus is not allowed
    assert not M.passes_filters(Chem.MolFromSmiles("C1CCCCCCC1"), root)  # an 8-membered ring
    assert not M.passes_filters(Chem.MolFromSmiles("C=CC#N"), root)  # MCF1: a non-ring C=C next to a nitrile
    assert not M.passes_filters(None, root)
    assert len(M._filter_patterns(root)) == 22 + 480  # every MCF and PAINS pattern parsed
    # the pattern-fingerprint screen changes the speed, never the answer
    hits = ["O=C1C=CC(=O)C=C1", "Oc1ccccc1O", "c1ccccc1N=Nc1ccccc1", "S=C1SC(=Cc2ccccc2)C(=O)N1", "C=CC(=O)C", "Nc1ccc(N)cc1",
            "N#CC(C#N)=Cc1ccccc1", "CC(=O)Nc1ccccc1", "CCO", "c1ccc2[nH]ccc2c1"]
    for s in hits:
        h = Chem.AddHs(Chem.MolFromSmiles(s))
        assert M.matches_filter(h, root, screen=True) == M.matches_filter(h, root, screen=False), s
    assert sum(M.matches_filter(Chem.AddHs(Chem.MolFromSmiles(s)), root) for s in hits) >= 5  # the comparison sees matches


def test_frechet_of_known_gaussians() -> None:
    mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 1.0])
    # diagonal: ||Δμ||² + Σ (σ1 - σ2)²
    assert M.fcd_from_stats((mu1, s1), (mu2, s2)) == pytest.approx(25 + (1 - 2) ** 2 + (2 - 1) ** 2)
    assert M.fcd_from_stats((mu1, s1), (mu1, s1)) == pytest.approx(0.0, abs=1e-9)


@needs_fcd
def test_fcd_of_a_set_with_itself_is_zero_and_grows_with_difference() -> None:
    alike = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCOC(=O)C", "c1ccncc1", "CC(C)C", "OCC(O)CO"]
    other = ["FC(F)(F)c1ccc(Cl)cc1", "BrCCBr", "ClC(Cl)Cl", "c1ccc2ccccc2c1", "FC(F)F", "CCCCCCCCCC", "O=[N+]([O-])c1ccccc1", "C#CC#C"]
    ref = reference(*alike, with_fcd=True)
    same = M.moses_scores(alike, {"Test": ref})
    diff = M.moses_scores(other, {"Test": ref})
    assert same["FCD/Test"]["value"] == pytest.approx(0.0, abs=1e-4)
    assert diff["FCD/Test"]["value"] > 1.0


def test_reference_statistics_are_cached(tmp_path: Path) -> None:
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)Nc1ccccc1"]
    a = M.Reference.of("cached", smiles, with_fcd=False)
    files = list((tmp_path / "cache" / "moses").glob("reference-cached-*.npz"))
    assert len(files) == 1
    b = M.Reference.of("cached", smiles, with_fcd=False)
    assert np.array_equal(a.fps, b.fps) and a.frag == b.frag and a.scaf == b.scaf and a.n == b.n == 4


def test_moses_metric_on_a_run_that_replays_its_training_set(tmp_path: Path) -> None:
    """A "model" whose samples are training rows: valid 1, novelty 0, and every figure present."""
    data = tiny_smiles(n_train=64)
    torch.manual_seed(0)
    model = genzoo.build("char_rnn", data.info, net={"hidden": 8, "layers": 1})
    genzoo.train(model, data, tmp_path / "run", steps=2, progress=False, batch_size=32)
    replay = genzoo.load(tmp_path / "run")
    replay.sample = lambda n, c=None: data.x_train[torch.arange(n) % len(data.x_train)].long()  # type: ignore[method-assign]
    res = evaluate(replay, "moses", data=data, options={"moses": {"n_samples": 50, "fcd": False}})["metrics"]["moses"]
    parts = res["parts"]
    assert list(parts) == ["valid", "unique@1000", "unique@10000", "SNN/Test", "Frag/Test", "Scaf/Test", "IntDiv", "IntDiv2",
                           "Filters", "Novelty"]
    assert parts["valid"]["value"] == 1.0 and parts["valid"]["n"] == 50 and parts["Novelty"]["value"] == 0.0
    replay.sample = lambda n, c=None: data.x_test[torch.arange(n) % len(data.x_test)].long()  # type: ignore[method-assign]
    res_test = evaluate(replay, "moses", data=data, options={"moses": {"n_samples": 30, "fcd": False}})["metrics"]["moses"]
    assert res_test["parts"]["SNN/Test"]["value"] == pytest.approx(1.0)  # every sample is a test molecule
    assert res_test["parts"]["Frag/Test"]["value"] > 0.9 and res_test["parts"]["valid"]["value"] == 1.0
    assert res["protocol"]["n_samples"] == 50 and "fcd" in res["protocol"] and res["value"] == 1.0  # headline: valid without FCD
    # the run folder through the CLI-facing path: its own sampler, one table
    res = evaluate(tmp_path / "run", "moses", data=data, options={"moses": {"n_samples": 20, "fcd": False}})["metrics"]["moses"]
    assert res["parts"]["valid"]["n"] == 20
    # image data: n/a, not an error
    img = evaluate(genzoo.build("vae", tiny_images().info, encoder={"type": "mlp", "hidden": (8,)}, latent_dim=2), "moses", data=tiny_images())
    assert img["metrics"]["moses"]["value"] is None and "sequence data" in img["metrics"]["moses"]["reason"]


def test_moses_metric_without_rdkit_is_na_naming_the_extra(tmp_path: Path, monkeypatch) -> None:
    data = tiny_smiles(n_train=32)
    model = genzoo.build("char_rnn", data.info, net={"hidden": 8, "layers": 1})

    def no_rdkit():
        raise MissingExtra("this needs RDKit, which is not installed; pip install 'genzoo[molecules]'")

    monkeypatch.setattr(M, "rdkit", no_rdkit)
    res = evaluate(model, "moses", data=data)["metrics"]["moses"]
    assert res["value"] is None and "genzoo[molecules]" in res["reason"]


def test_pooled_moments_are_those_of_the_stacked_sets() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=(n, 5)) + i for i, n in enumerate((7, 12, 30))]
    mu, cov, n = M.pool_moments([(p.mean(0), np.cov(p.T), len(p)) for p in parts])
    stacked = np.concatenate(parts)
    assert n == len(stacked)
    np.testing.assert_allclose(mu, stacked.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(stacked.T), rtol=1e-10, atol=1e-12)


def test_moses_scores_keeps_the_set_statistics_for_pooling() -> None:
    keep: dict = {}
    gen = ["CC(=O)Nc1ccccc1", "c1ccc2ccccc2c1", "C1CC"]
    M.moses_scores(gen, {"Test": reference("CCO", "CCN")}, keep=keep)
    assert keep["frag"] == M.fragments(mols(*gen[:2])) and keep["scaf"] == M.scaffolds(mols(*gen[:2]))
