"""The ``sequence`` data kind and its models: tokens, vocabularies, masks, SMILES files, samples.

RDKit is needed only by the tests marked so (skipped without it); MOSES files only by the
round trip over its test set (skipped without ``$GENZOO_DATA/moses``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.data import load_data
from genzoo.data.base import Batch, Data
from genzoo.data.kinds import DATA_KINDS, PAD, kind_of
from genzoo.data.molecules import MissingExtra, tokenize
from genzoo.data.sequence import BOS, EOS, Vocabulary
from genzoo.errors import GenzooError
from genzoo.models.base import HasTemperature
from genzoo.registry import MODELS
from genzoo.viz.render import renderer_for

from helpers import one_thread, tiny_images, tiny_smiles  # noqa: F401

SEQUENCE_MODELS = [m for m in MODELS.names() if "sequence" in MODELS.meta(m).get("data_kinds", ())]
SMALL = {"char_rnn": {"net": {"hidden": 32, "layers": 2}},
         "smiles_vae": {"latent_dim": 8, "encoder": {"hidden": 16}, "decoder": {"hidden": 32, "layers": 2}},
         "smiles_aae": {"latent_dim": 8, "encoder": {"hidden": 16}, "decoder": {"hidden": 32, "layers": 2}}}
MOSES_DIR = Path(os.environ.get("GENZOO_DATA", "/nonexistent")) / "moses"

try:
    import rdkit  # noqa: F401

    HAVE_RDKIT = True
except ImportError:
    HAVE_RDKIT = False
needs_rdkit = pytest.mark.skipif(not HAVE_RDKIT, reason="needs RDKit (pip install 'genzoo[molecules]')")


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def said(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Token caches and reference statistics go to a throw-away folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path_factory.mktemp("cache")))


# --------------------------------------------------------------------------- tokens and vocabularies


def test_atom_tokens_and_their_errors() -> None:
    assert tokenize("CCl(=O)c1cc[nH]c1Br") == ["C", "Cl", "(", "=", "O", ")", "c", "1", "c", "c", "[nH]", "c", "1", "Br"]
    assert tokenize("C%12CC%12") == ["C", "%12", "C", "C", "%12"]
    assert tokenize("Cl", "char") == ["C", "l"]
    with pytest.raises(GenzooError, match="'!'.*position 3"):
        tokenize("CC!C")


def test_vocabulary_round_trip_and_errors() -> None:
    v = Vocabulary.build([["C", "O"], ["Cl", "C"]])
    assert v.tokens[:3] == ["<pad>", "<bos>", "<eos>"] and v.tokens[3:] == ["C", "Cl", "O"]
    rows = v.encode([["C", "O"], ["Cl"]], length=5)
    assert rows.tolist() == [[BOS, 3, 5, EOS, PAD], [BOS, 4, EOS, PAD, PAD]]
    assert v.decode(rows) == ["CO", "Cl"]
    with pytest.raises(GenzooError, match="line 7 holds the token 'N'.*not in the vocabulary"):
        v.encode([["C"], ["N"]], length=5, lines=[3, 7])
    with pytest.raises(GenzooError, match="more than the 3 that fit"):
        v.encode([["C"] * 4], length=5)
    with pytest.raises(GenzooError, match="outside the vocabulary"):
        v.decode(torch.tensor([[1, 9, 2]]))
    with pytest.raises(GenzooError, match="must start with"):
        Vocabulary(["C", "O"])


@pytest.mark.skipif(not (MOSES_DIR / "test.csv.gz").is_file(), reason="needs the MOSES files in $GENZOO_DATA/moses")
def test_tokenizer_round_trip_on_the_whole_moses_test_set() -> None:
    from genzoo.data.molecules import MOSES_LENGTH, MOSES_SIZES, MOSES_TOKENS, SPECIALS, _moses_tokens, moses_smiles

    smiles = moses_smiles("test")
    assert len(smiles) == MOSES_SIZES["test"] == 176_074
    rows = _moses_tokens("test", None, False)  # every SMILES tokenised and encoded in the fixed vocabulary
    assert rows.shape == (len(smiles), MOSES_LENGTH)
    assert Vocabulary([*SPECIALS, *MOSES_TOKENS]).decode(rows) == smiles  # decode(encode(s)) == s for all 176,074


# --------------------------------------------------------------------------- the kind


def test_sequence_kind_collates_validates_and_adapts() -> None:
    data = tiny_smiles(n_train=16, n_test=8)
    kind = kind_of(data.info)
    assert type(kind) is DATA_KINDS.get("sequence")
    batch = kind.collate(data.x_train[:6], None, data.info)
    lengths = (data.x_train[:6] != PAD).sum(1)
    assert batch.x.dtype == torch.long and batch.x.shape == (6, int(lengths.max()))  # trimmed to the longest row
    assert torch.equal(batch.mask.sum(1), lengths) and batch.mask[:, 0].all()
    with pytest.raises(GenzooError, match="integer tokens"):
        Data(data.x_train.float(), data.x_test, data.info)
    bad = data.x_train.clone()
    bad[0, 1] = len(data.info.extras["vocab"])
    with pytest.raises(GenzooError, match="outside the vocabulary"):
        Data(bad, data.x_test, data.info)
    # another vocabulary: re-encoded when every token is known, else one sentence naming the token
    v = Vocabulary(data.info.extras["vocab"])
    other = Vocabulary([*v.tokens[:3], *sorted(v.tokens[3:], reverse=True)])
    strings = v.decode(data.x_test)
    rows = other.encode([tokenize(s) for s in strings], data.info.shape[0])
    moved = Data(rows, rows, replace(data.info, extras={**data.info.extras, "vocab": other.tokens}))
    back = kind.adapt(moved, data.info)
    assert back.info.extras["vocab"] == v.tokens and v.decode(back.x_test) == strings
    alien = Vocabulary([*other.tokens, "[Se]"])
    rows = alien.encode([["[Se]"], ["C"]], data.info.shape[0])
    with_se = Data(rows, rows, replace(data.info, extras={**data.info.extras, "vocab": alien.tokens}))
    with pytest.raises(GenzooError, match=r"'\[Se\]' outside the vocabulary"):
        kind.adapt(with_se, data.info)


def test_batch_mean_weights_and_masks() -> None:
    v = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(Batch(torch.zeros(3)).mean(v), v.mean())
    assert torch.allclose(Batch(torch.zeros(3), weight=torch.tensor([1.0, 0.0, 1.0])).mean(v), torch.tensor(2.0))
    per_pos = torch.tensor([[1.0, 5.0], [2.0, 9.0]])
    mask = torch.tensor([[True, False], [True, True]])
    assert torch.allclose(Batch(torch.zeros(2, 2), mask=mask).mean(per_pos), torch.tensor(12.0 / 3))


# --------------------------------------------------------------------------- models


def _model(name: str, data: Data) -> torch.nn.Module:
    torch.manual_seed(0)
    return genzoo.build(name, data.info, **SMALL.get(name, {}))


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_padded_positions_do_not_change_any_loss(name: str) -> None:
    data = tiny_smiles(n_train=32)
    model = _model(name, data)
    batch = kind_of(data.info).collate(data.x_train[:16], None, data.info)
    assert not batch.mask.all()  # there is padding to change

    def losses(b: Batch) -> list[torch.Tensor]:
        out = []
        for p in model.players():
            torch.manual_seed(1)  # the same noise (z, dropout) for both batches
            out.append(p.loss(b)["loss"].detach())
        return out

    before = losses(batch)
    g = torch.Generator().manual_seed(3)
    noisy = batch.x.clone()
    junk = torch.randint(0, len(data.info.extras["vocab"]), noisy.shape, generator=g)
    noisy[~batch.mask] = junk[~batch.mask]
    assert not torch.equal(noisy, batch.x)
    after = losses(Batch(noisy, batch.c, mask=batch.mask))
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-6), (a, b)
    real = batch.x.clone()
    real[0, 1] = (real[0, 1] % (len(data.info.extras["vocab"]) - 3)) + 3 if real[0, 1] != 3 else 4  # change a real token
    changed = losses(Batch(real, batch.c, mask=batch.mask))
    assert any(not torch.allclose(a, b) for a, b in zip(before, changed))  # the comparison can fail


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_models_sample_rows_with_temperature(name: str) -> None:
    data = tiny_smiles(n_train=32)
    model = _model(name, data).eval()
    assert isinstance(model, HasTemperature)
    x = model.sample(5)
    assert x.shape == (5, data.info.shape[0]) and x.dtype == torch.long and (x[:, 0] == BOS).all()
    ended = (x == EOS).cumsum(1) > 0  # at or after the first <eos>
    after_eos = torch.zeros_like(ended)
    after_eos[:, 1:] = ended[:, :-1]
    assert (x[after_eos] == PAD).all()  # only padding after <eos>
    if name == "char_rnn":  # greedy decoding (temperature 0) of an unconditional model: the same row every time
        model.sample_temperature = 0.0
        torch.manual_seed(0)
        a = model.sample(3)
        torch.manual_seed(1)
        assert torch.equal(a, model.sample(3)) and torch.equal(a[0], a[1])


def test_char_rnn_log_prob_is_a_normalised_sequence_density() -> None:
    """Σ over every sequence up to length 3 of p(x) approaches 1 (the rest: longer sequences)."""
    from genzoo.data.molecules import smiles_info

    v = Vocabulary.build([["C"], ["O"]])
    info = smiles_info("two", v, 5, "atom")
    torch.manual_seed(0)
    model = genzoo.build("char_rnn", info, net={"hidden": 8, "layers": 1}).eval()
    import itertools

    total = 0.0
    for n in range(0, 4):  # every string of n tokens over {C, O}, then <eos>
        seqs = [list(t) for t in itertools.product(["C", "O"], repeat=n)]
        rows = v.encode(seqs, 5)
        with torch.no_grad():
            total += float(model.log_prob(rows).exp().sum())
    # the mass of strings longer than 3 is Σ_{x of length 4} p(x_1..x_4 prefix) = 1 - total; check via prefixes
    rows4 = v.encode([list(t) for t in itertools.product(["C", "O"], repeat=4)], 6)
    with torch.no_grad():
        logits = model.net(None, rows4)  # (16, 5, V)
        lp = torch.log_softmax(logits, -1)
        prefix = sum(lp[:, i].gather(1, rows4[:, i + 1 : i + 2].long())[:, 0] for i in range(4))  # log p(first 4 tokens)
    assert abs(total + float(prefix.exp().sum()) - 1.0) < 1e-4


# --------------------------------------------------------------------------- runs, vocabulary, CLI


@pytest.fixture(scope="module")
def smiles_file(tmp_path_factory) -> Path:
    from helpers import SMILES_POOL

    f = tmp_path_factory.mktemp("mols") / "mols.smi"
    f.write_text("\n".join(f"{s} mol{i}" for i, s in enumerate(SMILES_POOL * 12)) + "\n")
    return f


@pytest.fixture(scope="module")
def char_run(tmp_path_factory, smiles_file) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    assert run_cli("train", "char_rnn", "--data", f"smiles:{smiles_file}", "-o", out, "--steps", 3,
                   "--set", "model.net.hidden=16", "--set", "model.net.layers=1", "--set", "train.batch_size=16",
                   "--set", "data.canonical=false", "--set", "train.progress=false") == 0
    return out


def test_save_load_keeps_the_vocabulary(char_run: Path, smiles_file: Path) -> None:
    data = load_data(f"smiles:{smiles_file}", canonical=False)
    model = genzoo.load(char_run)
    assert model.info.extras["vocab"] == data.info.extras["vocab"]
    assert (char_run / "samples" / "final.smi").is_file() and (char_run / "samples" / "final.png").is_file()
    # the loaded model decodes with the saved vocabulary: its samples use only those tokens
    strings = renderer_for(model.info).strings(model.sample(20), model.info)
    allowed = set(data.info.extras["vocab"][3:])
    assert all(set(tokenize(s)) <= allowed for s in strings if s)
    # a vocabulary edited in the run's config no longer matches the weights: one sentence, no crash
    import yaml

    cfg = yaml.safe_load((char_run / "config.yaml").read_text())
    cfg["data_info"]["extras"]["vocab"] = cfg["data_info"]["extras"]["vocab"][:-1]
    broken = char_run.parent / "broken"
    broken.mkdir()
    for f in ("model.safetensors",):
        (broken / f).write_bytes((char_run / f).read_bytes())
    (broken / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(GenzooError):
        genzoo.load(broken)


def test_cli_sample_writes_smiles_and_drawings(char_run: Path, tmp_path: Path, capsys) -> None:
    assert run_cli("sample", char_run, "-n", 7, "-o", tmp_path / "mols.smi", "--temperature", 0.7) == 0
    lines = (tmp_path / "mols.smi").read_text().splitlines()
    assert len(lines) == 7
    assert run_cli("sample", char_run, "-n", 4, "-o", tmp_path / "mols.png") == 0
    assert (tmp_path / "mols.png").stat().st_size > 0
    assert run_cli("sample", char_run, "-o", tmp_path / "mols.jpg") == 2
    assert "must end in .smi, .txt, .png, .npz" in said(capsys)
    assert run_cli("sample", char_run, "-o", tmp_path / "m.smi", "--temperature", -1) == 2


def test_cli_temperature_is_refused_for_models_without_one(tmp_path: Path, capsys) -> None:
    data = tiny_images(n_train=64)
    genzoo.train(genzoo.build("vae", data.info, encoder={"type": "mlp", "hidden": (8,)}, latent_dim=2), data, tmp_path / "img", steps=1, progress=False,
                 batch_size=16)
    assert run_cli("sample", tmp_path / "img", "-o", tmp_path / "x.png", "--temperature", 0.5) == 2
    assert "without a softmax temperature" in said(capsys)


def test_image_models_refuse_sequence_data_and_back(smiles_file: Path) -> None:
    data = tiny_smiles(n_train=16)
    with pytest.raises(GenzooError, match="takes points or image data, but tiny-smiles holds sequence data"):
        genzoo.build("vae", data.info)
    with pytest.raises(GenzooError, match="takes sequence data"):
        genzoo.build("char_rnn", tiny_images().info)


def test_eval_on_data_with_tokens_outside_the_vocabulary(char_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.smi"
    other.write_text("CCBr\nCCO\nCCN\n")
    from genzoo.evaluate import evaluate

    with pytest.raises(GenzooError, match="'Br' outside the vocabulary"):
        evaluate(char_run, "moses", data=load_data(f"smiles:{other}", canonical=False))


# --------------------------------------------------------------------------- your own SMILES files


def test_smiles_file_formats_and_bad_input(tmp_path: Path, monkeypatch, capsys) -> None:
    empty = tmp_path / "empty.smi"
    empty.write_text("\n# only a comment\n")
    with pytest.raises(GenzooError, match="holds no SMILES"):
        load_data(f"smiles:{empty}", canonical=False)
    assert run_cli("train", "char_rnn", "--data", f"smiles:{empty}", "--set", "data.canonical=false", "--steps", 1) == 2
    assert "holds no SMILES" in said(capsys)  # the CLI: that one sentence, exit 2
    with pytest.raises(GenzooError, match="does not exist"):
        load_data(f"smiles:{tmp_path / 'nope.smi'}")
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("id,smiles\n1,CCO\n2,c1ccccc1\n3,CC(=O)O\n")
    d = load_data(f"smiles:{csv_file}", canonical=False, test_fraction=0.34)
    assert len(d.x_train) + len(d.x_test) == 3 and d.info.kind == "sequence"
    assert load_data(f"smiles:{csv_file}", canonical=False, tokens="char").info.extras["tokens"] == "char"

    def no_rdkit():
        raise MissingExtra("this needs RDKit, which is not installed; pip install 'genzoo[molecules]'")

    import genzoo.data.molecules as mol

    monkeypatch.setattr(mol, "rdkit", no_rdkit)
    with pytest.raises(GenzooError, match=r"needs RDKit.*genzoo\[molecules\].*canonical=false"):
        load_data(f"smiles:{csv_file}")
    assert run_cli("train", "char_rnn", "--data", f"smiles:{csv_file}", "--steps", 1) == 2  # the CLI: one sentence, exit 2
    bad_char = tmp_path / "bad.smi"  # unchecked lines (no RDKit): a character no SMILES token starts with
    bad_char.write_text("CCO\nCC!\nCCN\n")
    with pytest.raises(GenzooError, match="line 2: 'CC!' holds '!'"):
        load_data(f"smiles:{bad_char}", canonical=False)


@needs_rdkit
def test_invalid_lines_skip_with_a_count_or_fail_with_line_numbers(tmp_path: Path, capsys) -> None:
    f = tmp_path / "m.smi"
    f.write_text("CCO\nC1CC\nOCC\nc1ccccc1\nC(C\n")
    with pytest.raises(GenzooError, match=r"2 line\(s\) are not valid SMILES \(line 2, 5\)"):
        load_data(f"smiles:{f}", invalid="fail")
    assert run_cli("train", "char_rnn", "--data", f"smiles:{f}", "--set", "data.invalid=fail", "--steps", 1) == 2
    assert "line 2, 5" in said(capsys)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        d = load_data(f"smiles:{f}", invalid="skip", test_fraction=0.34)
    assert any("skipped 2 invalid SMILES line(s) (line 2, 5)" in str(x.message) for x in w)
    assert d.info.extras["skipped"] == 2 and len(d.x_train) + len(d.x_test) == 3
    strings = set(Vocabulary(d.info.extras["vocab"]).decode(torch.cat([d.x_train, d.x_test])))
    assert strings == {"CCO", "c1ccccc1"}  # OCC is canonicalised to CCO


def test_bench_on_smiles_trains_every_sequence_model_and_draws_a_gallery(smiles_file: Path, tmp_path: Path) -> None:
    board = genzoo.bench(f"smiles:{smiles_file}", "all", budget=2, out=tmp_path / "b", metrics=["moses"], n=8, progress=False,
                         data_options={"canonical": False}, train_options={"batch_size": 16},
                         model_options={m: SMALL[m] for m in SEQUENCE_MODELS}, options={"moses": {"n_samples": 8, "fcd": False}})
    assert [r["model"] for r in board["rows"]] == SEQUENCE_MODELS and all(r["status"] == "ok" for r in board["rows"])
    for r in board["rows"]:  # scored (or n/a without RDKit), never an error
        assert "error" not in r["metrics"]["moses"], r["metrics"]["moses"]
    from PIL import Image

    im = Image.open(tmp_path / "b" / "gallery.png")  # one panel of molecules (or strings) per model
    assert im.size[0] > 200 and im.size[1] > 100


def test_moses_files_are_found_downloaded_and_checked(tmp_path: Path, monkeypatch) -> None:
    """Looked up in root, $GENZOO_DATA, then the cache; fetched into the cache when absent; sha256 checked."""
    import gzip
    import hashlib

    import genzoo.data.molecules as mol

    content = b"SMILES\nCCO\nc1ccccc1\n"
    gz = gzip.compress(content, mtime=0)
    fake = mol.MosesFile("test.csv.gz", "https://example.invalid/test.csv.gz", hashlib.sha256(gz).hexdigest(),
                         hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(mol.MOSES_FILES, "test", fake)
    monkeypatch.delenv("GENZOO_DATA", raising=False)
    calls = []

    def serve(url, dest, timeout=60.0):
        calls.append(url)
        Path(dest).write_bytes(gz)

    monkeypatch.setattr(mol, "_download", serve)
    path = mol.moses_file("test")
    assert calls == [fake.url] and path.read_bytes() == gz and "genzoo" in str(path)
    assert mol.moses_file("test") == path and len(calls) == 1  # cached: no second download
    assert mol.moses_smiles("test") == ["CCO", "c1ccccc1"]
    root = tmp_path / "root"
    (root / "moses").mkdir(parents=True)
    (root / "moses" / "test.csv.gz").write_bytes(gzip.compress(content, 9))  # re-compressed: the content's sha256 counts
    assert mol.moses_file("test", root) == root / "moses" / "test.csv.gz"
    (root / "moses" / "test.csv.gz").write_bytes(gzip.compress(b"SMILES\nCCN\n"))
    with pytest.raises(GenzooError, match="is corrupt"):
        mol.moses_file("test", root)
    path.unlink()
    monkeypatch.setattr(mol, "_download", lambda url, dest, timeout=60.0: Path(dest).write_bytes(b"junk"))
    with pytest.raises(GenzooError, match="checksum mismatch.*GENZOO_DATA"):
        mol.moses_file("test")
    with pytest.raises(GenzooError, match="downloading is turned off"):
        mol.moses_file("test", download=False)
