"""Molecules as SMILES strings: the MOSES benchmark (``moses``) and your own file (``smiles:FILE``).

Both are ``sequence`` data: SMILES split into atom-level tokens (a bracket atom such as
``[nH]``, two-letter halogens ``Cl``/``Br``, ring-closure ``%12``, otherwise one character;
the pattern of Schwaller et al. 2019) or single characters, encoded with a
:class:`~genzoo.data.sequence.Vocabulary` kept in ``info.extras["vocab"]``.

RDKit (the optional extra ``genzoo[molecules]``) parses, checks and canonicalises SMILES;
:func:`rdkit` imports it or raises one sentence naming the extra.

References:
    Polykovskiy et al., "Molecular Sets (MOSES): A Benchmarking Platform for Molecular
    Generation Models", Frontiers in Pharmacology 2020 (data: MIT licence,
    https://github.com/molecularsets/moses).
    Schwaller et al., "Molecular Transformer", ACS Central Science 2019 (SMILES tokens).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch

from ..config import Range, Seed
from ..errors import GenzooError
from ..registry import DATASETS
from .base import Data, DataInfo
from .files import split_indices
from .idx import _download, _missing_dirs, _remove_if_empty, cache_dir, search_folders
from .sequence import SPECIALS, Vocabulary

log = logging.getLogger(__name__)

#: Atom-level SMILES tokens (Schwaller et al. 2019): bracket atoms, Br, Cl, ring bonds %NN, else one character.
SMILES_TOKEN = re.compile(r"(\[[^\[\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])")

MOLECULES_EXTRA = "pip install 'genzoo[molecules]'"


class MissingExtra(GenzooError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def rdkit() -> Any:
    """``rdkit.Chem`` with RDKit's own logging silenced, or :class:`MissingExtra` naming the extra."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise MissingExtra(f"this needs RDKit, which is not installed; {MOLECULES_EXTRA}") from None
    RDLogger.DisableLog("rdApp.*")
    return Chem


def canonical_smiles(smiles: str) -> str | None:
    """RDKit's canonical SMILES of ``smiles``, or ``None`` when RDKit cannot parse it (or it is empty)."""
    Chem = rdkit()
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return None if mol is None else Chem.MolToSmiles(mol)


def tokenize(smiles: str, level: str = "atom") -> list[str]:
    """``"CCl(=O)"`` -> ``['C', 'Cl', '(', '=', 'O', ')']`` (``level="char"``: one token per character).

    Raises:
        GenzooError: a character no SMILES token starts with (``level="atom"``).
    """
    if level == "char":
        return list(smiles)
    tokens = SMILES_TOKEN.findall(smiles)
    if sum(map(len, tokens)) != len(smiles):
        pos = 0
        for t in tokens:  # findall skips what it cannot match: find the first skipped character
            at = smiles.index(t, pos)
            if at != pos:
                break
            pos = at + len(t)
        raise GenzooError(f"{smiles!r} holds {smiles[pos]!r} (position {pos + 1}), which is no SMILES token")
    return tokens


def smiles_info(name: str, vocab: Vocabulary, length: int, level: str, **extras: Any) -> DataInfo:
    """The :class:`DataInfo` of SMILES sequence data (``extras["alphabet"] == "smiles"`` marks molecules)."""
    return DataInfo(name=name, shape=(length,), kind="sequence", value_range=(0.0, float(len(vocab) - 1)),
                    extras={"vocab": list(vocab.tokens), "alphabet": "smiles", "tokens": level, **extras})


def is_molecules(info: DataInfo) -> bool:
    """Whether ``info`` describes SMILES strings (molecule metrics and drawings apply)."""
    return info.kind == "sequence" and info.extras.get("alphabet") == "smiles"


# --------------------------------------------------------------------------- MOSES


@dataclass(frozen=True)
class MosesFile:
    """One file of MOSES: its name, canonical URL, sha256 of the file and of its decompressed content."""

    name: str
    url: str
    sha256: str
    content_sha256: str | None = None


_LFS = "https://media.githubusercontent.com/media/molecularsets/moses/master/moses/dataset/data/"
_RAW = "https://raw.githubusercontent.com/molecularsets/moses/master/moses/metrics/"
#: The files of the MOSES repository (their git-LFS object ids are the sha256 of the .gz files).
MOSES_FILES = {
    "train": MosesFile("train.csv.gz", _LFS + "train.csv.gz", "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
                       "cc9d6e8e9534e25a7a36361529ae739ddda8036e9072b2fc5cea6930a0592144"),
    "test": MosesFile("test.csv.gz", _LFS + "test.csv.gz", "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
                      "0248e682a9c29ca7649184dd88a4edc83f48f0e84af6b923990069c3da4501b6"),
    "test_scaffolds": MosesFile("test_scaffolds.csv.gz", _LFS + "test_scaffolds.csv.gz",
                                "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
                                "86c298db856515f4b31a90805de16a580c60a6adcc0ad700ae180d88ba0b9bce"),
    "mcf": MosesFile("mcf.csv", _RAW + "mcf.csv", "f4a2bfacb4cb8877295eb2a4b4e61ec9770a26388f1331e5dc9c193d22dd5f89"),
    "pains": MosesFile("wehi_pains.csv", _RAW + "wehi_pains.csv", "d762e5420ec70f06d7e41d336cae6f67e2feb0eddf05c6171192a332726d296f"),
}
#: MOSES's atom-level tokens (all 1,936,963 SMILES of its three splits use exactly these).
MOSES_TOKENS = ("#", "(", ")", "-", "1", "2", "3", "4", "5", "6", "=", "Br", "C", "Cl", "F", "N", "O", "S", "[H]", "[nH]",
                "c", "n", "o", "s")
#: Row length of MOSES sequences: the longest SMILES has 54 tokens, plus <bos> and <eos>.
MOSES_LENGTH = 56
MOSES_SIZES = {"train": 1_584_663, "test": 176_074, "test_scaffolds": 176_226}


def _verify(path: Path, f: MosesFile) -> bool:
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() == f.sha256:
        return True
    if f.content_sha256 and path.suffix == ".gz":  # a re-compressed copy of the same content
        try:
            return hashlib.sha256(gzip.decompress(raw)).hexdigest() == f.content_sha256
        except (OSError, EOFError):
            return False
    return False


def moses_file(key: str, root: str | os.PathLike[str] | None = None, download: bool = True) -> Path:
    """Path of a verified MOSES file (``train``, ``test``, ``test_scaffolds``, ``mcf``, ``pains``).

    Looked for in ``root/moses``, ``$GENZOO_DATA/moses`` and the cache folder, in that order;
    downloaded from the MOSES repository into the cache when found nowhere. Every file is
    checked against its published sha256 (or the sha256 of its decompressed content).

    Raises:
        GenzooError: found nowhere and not downloadable, or corrupt.
    """
    f = MOSES_FILES[key]
    folders = search_folders("moses", root)
    for folder in folders:
        path = folder / f.name
        if path.is_file():
            if not _verify(path, f):
                raise GenzooError(f"{path} is corrupt (its sha256 is not the published one); delete it so it is downloaded again")
            return path
    cache = folders[-1]
    reason = "downloading is turned off (download=False)"
    if download:
        created = _missing_dirs(cache)  # removed again if the download fails: no empty folder left in the cache
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{f.name}.", suffix=".part")
        os.close(fd)
        try:
            log.info("downloading %s", f.url)
            _download(f.url, Path(tmp), timeout=120.0)
            if not _verify(Path(tmp), f):
                raise OSError("sha256 checksum mismatch")
            os.replace(tmp, cache / f.name)
            return cache / f.name
        except Exception as e:  # network, HTTP and checksum errors alike
            reason = f"downloading {f.url} failed ({e})"
        finally:
            Path(tmp).unlink(missing_ok=True)
        _remove_if_empty(created)
    env = "" if os.environ.get("GENZOO_DATA") else " (GENZOO_DATA is not set)"
    raise GenzooError(
        f"MOSES file {f.name} not found in {', '.join(map(str, folders))}{env}, and {reason}; "
        "put the MOSES files in DIR/moses/ and set GENZOO_DATA=DIR or pass --data-root DIR"
    )


def _read_smiles_csv(path: Path) -> list[str]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
        lines = fh.read().splitlines()
    if not lines or lines[0].split(",")[0].strip().upper() != "SMILES":
        raise GenzooError(f"{path} is not a MOSES split (its first line must be the header SMILES)")
    return [ln.split(",")[0].strip() for ln in lines[1:] if ln.strip()]


@lru_cache(maxsize=4)
def _moses_smiles_cached(path: str, mtime: int) -> tuple[str, ...]:
    return tuple(_read_smiles_csv(Path(path)))


def moses_smiles(split: str, root: str | os.PathLike[str] | None = None, download: bool = True) -> list[str]:
    """The SMILES of a MOSES split (``train``, ``test`` or ``test_scaffolds``), as published."""
    path = moses_file(split, root, download)
    return list(_moses_smiles_cached(str(path), path.stat().st_mtime_ns))


def _moses_tokens(split: str, root: str | None, download: bool) -> torch.Tensor:
    """``(N, MOSES_LENGTH)`` uint8 rows of a split, cached as .npy in the cache folder after the first encoding."""
    path = moses_file(split, root, download)
    key = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cached = cache_dir() / "moses" / f"tokens-{split}-{key}.npy"
    if cached.is_file():
        try:
            a = np.load(cached, allow_pickle=False)
            if a.shape == (MOSES_SIZES[split], MOSES_LENGTH) and a.dtype == np.uint8:
                return torch.from_numpy(a)
        except (OSError, ValueError):
            pass  # unreadable cache: encode again below
    smiles = moses_smiles(split, root, download)
    vocab = Vocabulary([*SPECIALS, *MOSES_TOKENS])
    rows = vocab.encode([tokenize(s) for s in smiles], MOSES_LENGTH, source=f"MOSES {split}", lines=range(2, len(smiles) + 2))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, rows.numpy(), allow_pickle=False)
        from ..config import atomic_write_bytes

        atomic_write_bytes(cached, buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the encoding next time
    return rows


@DATASETS.register("moses", help="MOSES molecules (Polykovskiy et al. 2020): 1.58M train / 176k test SMILES, atom tokens")
def moses(root: str | None = None, download: bool = True, n_train: Annotated[int, Range(1, 10**7)] | None = None, seed: Seed = 0) -> Data:
    """The MOSES benchmark: drug-like molecules from ZINC as RDKit-canonical SMILES.

    Training rows are the ``train`` split (1,584,663 molecules), test rows the ``test`` split
    (176,074); the scaffold test split (176,226 molecules whose Bemis-Murcko scaffolds are
    absent from train) is read by the ``moses`` metric. SMILES are used as published (MOSES
    canonicalised them with RDKit), split into atom-level tokens of the fixed vocabulary
    :data:`MOSES_TOKENS`, rows padded to :data:`MOSES_LENGTH`.

    Args:
        root: folder searched first for ``moses/train.csv.gz`` etc. (then ``$GENZOO_DATA``, then the cache).
        download: fetch missing files from the MOSES repository (checked by sha256).
        n_train: use a random subset of this many training molecules (default: all).
        seed: seed of that subset.
    """
    x_train = _moses_tokens("train", root, download)
    if n_train is not None:
        if not 1 <= n_train <= len(x_train):
            raise GenzooError(f"moses: n_train must be between 1 and {len(x_train)}, got {n_train}")
        idx = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(int(seed)))[:n_train].sort().values
        x_train = x_train[idx]
    x_test = _moses_tokens("test", root, download)
    vocab = Vocabulary([*SPECIALS, *MOSES_TOKENS])
    return Data(x_train, x_test, smiles_info("moses", vocab, MOSES_LENGTH, "atom", reference="moses"))


# --------------------------------------------------------------------------- your own SMILES


def _read_user_smiles(path: Path) -> list[tuple[int, str]]:
    """``(line number, SMILES)`` of a .smi/.txt (first field of each line) or .csv (a SMILES column) file."""
    try:
        with gzip.open(path, "rt") if path.suffix == ".gz" else open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise GenzooError(f"cannot read {path} ({e}); pass a text file with one SMILES per line") from None
    stem = path.name[:-3] if path.suffix == ".gz" else path.name
    lines = text.splitlines()
    if stem.lower().endswith(".csv"):
        rows = list(csv.reader(lines))
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        if "smiles" not in header:
            raise GenzooError(f"{path} has no SMILES column (its header is {', '.join(rows[0])}); name the column SMILES")
        col = header.index("smiles")
        return [(i + 2, r[col].strip()) for i, r in enumerate(rows[1:]) if len(r) > col and r[col].strip()]
    out = []
    for i, line in enumerate(lines, 1):
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            out.append((i, fields[0]))
    return out


@DATASETS.register("smiles", help="smiles:FILE, your molecules: one SMILES per line (.smi/.txt) or a SMILES column (.csv), .gz ok")
def smiles(
    path: str,
    test_fraction: Annotated[float, Range(0, 1, hi_open=True)] = 0.1,
    seed: Seed = 0,
    invalid: Literal["skip", "fail"] = "skip",
    canonical: bool = True,
    tokens: Literal["atom", "char"] = "atom",
) -> Data:
    """Molecules from a SMILES file, as ``sequence`` data with the file's own vocabulary.

    Args:
        path: the file (written ``smiles:FILE``): ``.smi``/``.txt`` take the first field of every
            non-empty line (``#`` starts a comment line); ``.csv`` takes the column named SMILES.
        test_fraction: share of the molecules held out as the test split.
        seed: seed of the split.
        invalid: what to do with lines RDKit cannot parse: ``skip`` them (a warning gives their
            count and first line numbers; ``info.extras["skipped"]`` keeps the count) or
            ``fail`` with their line numbers.
        canonical: rewrite every SMILES in RDKit's canonical form (needs RDKit; with
            ``canonical=false`` and no RDKit the lines are used unchecked).
        tokens: ``atom`` (bracket atoms, Cl, Br, %NN as one token) or ``char``.
    """
    file = Path(path).expanduser()
    name = f"smiles:{path}"
    if not file.is_file():
        raise GenzooError(f"SMILES file {file} does not exist; check the path after 'smiles:'")
    entries = _read_user_smiles(file)
    if not entries:
        raise GenzooError(f"{file} holds no SMILES; put one molecule per line")
    try:
        Chem = rdkit()
    except MissingExtra:
        if canonical:
            raise MissingExtra(f"reading {name} with canonical=true needs RDKit, which is not installed; "
                               f"{MOLECULES_EXTRA} (or pass canonical=false to use the lines unchecked)") from None
        Chem = None
    bad: list[int] = []
    kept: list[tuple[int, str]] = []
    for line, s in entries:
        if Chem is not None:
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                bad.append(line)
                continue
            if canonical:
                s = Chem.MolToSmiles(mol)
        kept.append((line, s))
    shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
    if bad and invalid == "fail":
        raise GenzooError(f"{file}: {len(bad)} line(s) are not valid SMILES (line {shown}); fix them or pass invalid=skip")
    if bad:
        warnings.warn(f"{file}: skipped {len(bad)} invalid SMILES line(s) (line {shown})", stacklevel=2)
    if len(kept) < 2:
        raise GenzooError(f"{file} holds {len(kept)} valid SMILES; genzoo needs at least 2 (one to train on, one to test)")
    try:
        toks = [tokenize(s, tokens) for _, s in kept]
    except GenzooError as e:
        line = next(ln for ln, s in kept if not _tokenizes(s, tokens))
        raise GenzooError(f"{file}, line {line}: {e}; fix that line") from None
    vocab = Vocabulary.build(toks)
    length = max(map(len, toks)) + 2
    rows = vocab.encode(toks, length, source=str(file), lines=[ln for ln, _ in kept])
    train, test = split_indices(len(rows), test_fraction, seed, name)
    info = smiles_info(name, vocab, length, tokens, skipped=len(bad), canonical=bool(canonical and Chem is not None),
                       checked=Chem is not None)
    return Data(rows[train], rows[test], info)


def _tokenizes(s: str, level: str) -> bool:
    try:
        tokenize(s, level)
        return True
    except GenzooError:
        return False


def split_smiles(data: Data, split: str) -> list[str]:
    """The SMILES strings of ``data``'s ``train`` or ``test`` split, decoded with its vocabulary."""
    vocab = Vocabulary(data.info.extras["vocab"])
    return vocab.decode(data.x_train if split == "train" else data.x_test)
